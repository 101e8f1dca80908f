/** Connection and process plumbing shared by the CLI modes. */
import { readFileSync } from 'node:fs';
import { PsrtClient } from '../client/client.js';
import type { TlsOptions } from '../client/options.js';
import type { CliOptions } from './args.js';
import { connectError, explainUntrusted, usage } from './errors.js';
import type { CliLog } from './log.js';

export interface CliIo {
  readonly stdout: NodeJS.WriteStream;
  readonly stderr: NodeJS.WriteStream;
  readonly stdin: NodeJS.ReadStream;
  readonly log: CliLog;
}

/** Client queue sizes of the reference CLI (CLI.md §3). */
export const QUEUE_SIZE = 4096;
export const BENCHMARK_QUEUE_SIZE = 256_000;

export async function connectCli(
  o: CliOptions,
  settings: { dataStream: boolean; queueSize: number; address?: string; reconnect?: boolean },
): Promise<PsrtClient> {
  const address = settings.address ?? o.address;
  const tls = tlsOptions(o);
  try {
    return await PsrtClient.connect({
      path: address,
      user: o.user,
      password: o.password,
      timeout: o.timeout,
      socketWaitTimeout: o.timeout,
      queueSize: settings.queueSize,
      dataStream: settings.dataStream,
      tls,
      ...(settings.reconnect === true ? { reconnect: RECONNECT } : {}),
    });
  } catch (err) {
    throw explainUntrusted(connectError(err, address), err, o.tlsCa);
  }
}

/**
 * Back-off of the CLI's reconnect (like mosquitto_sub, which reconnects until stopped): first
 * retry after 0.5 s, doubling to at most 10 s, without end.
 */
const RECONNECT = { initialDelay: 0.5, maxDelay: 10, factor: 2 } as const;

const caCache = new Map<string, Buffer>();

/** The reference reads --tls-ca once at start; an unreadable file is a bad argument. */
function tlsOptions(o: CliOptions): TlsOptions | false {
  if (!o.tls) return false;
  if (o.tlsCa === undefined) return {};
  let ca = caCache.get(o.tlsCa);
  if (ca === undefined) {
    try {
      ca = readFileSync(o.tlsCa);
    } catch (err) {
      throw usage(`cannot read --tls-ca file: ${(err as Error).message}`);
    }
    caCache.set(o.tlsCa, ca);
  }
  return { ca };
}

/** Resolves on the first SIGINT/SIGTERM (Ctrl-C); `dispose` removes the handlers. */
export function interrupted(): { promise: Promise<void>; dispose: () => void } {
  let done: () => void = () => undefined;
  const promise = new Promise<void>((resolve) => {
    done = resolve;
  });
  const handler = (): void => {
    done();
  };
  process.once('SIGINT', handler);
  process.once('SIGTERM', handler);
  return {
    promise,
    dispose: () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}

/** Promise that settles when the client closes: resolves on a clean close, rejects on loss. */
export function closed(client: PsrtClient): Promise<void> {
  return new Promise((resolve, reject) => {
    client.once('close', (err) => {
      if (err === null) resolve();
      else reject(err);
    });
  });
}

/**
 * Collects output written during one event-loop turn into a single write: a stream of small
 * messages then costs one syscall per turn instead of one per message.
 */
export class OutputBatcher {
  private parts: (string | Buffer)[] = [];
  private scheduled = false;

  constructor(
    private readonly stream: NodeJS.WritableStream,
    /** The stream's buffer is full (its reader is slow or stopped): stop producing until 'drain'. */
    private readonly onFull: () => void = () => undefined,
  ) {}

  write(part: string | Buffer): void {
    this.parts.push(part);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.flush);
  }

  readonly flush = (): void => {
    this.scheduled = false;
    if (this.parts.length === 0) return;
    const parts = this.parts;
    this.parts = [];
    const buffers = parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p));
    const ok = this.stream.write(buffers.length === 1 ? (buffers[0] ?? Buffer.alloc(0)) : Buffer.concat(buffers));
    if (!ok) this.onFull();
  };
}
