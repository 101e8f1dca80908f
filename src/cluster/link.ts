/**
 * One control connection to a neighbour node, logged in as its replicator user. Requests are
 * written as they come (corked per tick) and their one-byte replies are matched in FIFO order,
 * so ops that have exactly one reply can be pipelined. Idle links send NOP every T/2 so the
 * neighbour's request deadline never fires; a link whose replies stall for T is dropped.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { ByteQueue } from '../protocol/byte-queue.js';
import { CONTROL_GREETING_REPLY, TOKEN_LENGTH } from '../protocol/constants.js';
import { encodeGreeting, encodeLogin, encodeNop } from '../protocol/encode.js';
import { ErrorCode, PsrtError, isPsrtError } from '../protocol/errors.js';
import type { NeighbourConfig } from './cluster-config.js';

export type ReplyHandler = (code: number) => void;

const NOP = encodeNop();
/** The close reason of a link whose peer left a request unanswered for T (not a peer close). */
export const REPLIES_TIMED_OUT = 'replies timed out';

function isUnixPath(path: string): boolean {
  return path.endsWith('.sock') || path.endsWith('.socket');
}

function splitHostPort(path: string): { host: string; port: number } {
  const colon = path.lastIndexOf(':');
  let host = path.slice(0, colon);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  return { host, port: Number(path.slice(colon + 1)) };
}

/** Reads exactly n bytes or fails (peer closed, error, deadline). */
function readExact(socket: Socket, n: number, timeoutMs: number, what: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const queue = new ByteQueue();
    const finish = (err: Error | null): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      if (err === null) {
        const out = Buffer.from(queue.take(n));
        const rest = queue.drain();
        if (rest.length > 0) socket.unshift(rest);
        socket.pause();
        resolve(out);
      } else {
        reject(err);
      }
    };
    const onData = (chunk: Buffer): void => {
      queue.push(chunk);
      if (queue.length >= n) finish(null);
    };
    const onClose = (): void => {
      finish(new PsrtError(ErrorCode.Eof, `connection closed while waiting for ${what}`));
    };
    const timer = setTimeout(() => {
      finish(new PsrtError(ErrorCode.Timeout, `timed out waiting for ${what}`));
    }, timeoutMs);
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.resume();
  });
}

function openSocket(cfg: NeighbourConfig, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const target = isUnixPath(cfg.path) ? { path: cfg.path } : splitHostPort(cfg.path);
    const socket = netConnect(target);
    const timer = setTimeout(() => {
      socket.destroy(new PsrtError(ErrorCode.Timeout, `connect to ${cfg.path} timed out`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.setNoDelay(true);
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

function startTls(raw: Socket, cfg: NeighbourConfig, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const servername = isUnixPath(cfg.path) ? undefined : splitHostPort(cfg.path).host;
    const secure = tlsConnect({ socket: raw, servername, ...(cfg.tlsCa === undefined ? {} : { ca: cfg.tlsCa }) });
    const timer = setTimeout(() => {
      secure.destroy(new PsrtError(ErrorCode.Timeout, 'TLS handshake timed out'));
    }, timeoutMs);
    secure.once('secureConnect', () => {
      clearTimeout(timer);
      secure.off('error', reject);
      resolve(secure);
    });
    secure.once('error', (e: Error) => {
      clearTimeout(timer);
      raw.destroy();
      reject(e);
    });
  });
}

/** Connects, greets and logs in. Login failure is ErrorCode.LoginFailed (the peer just closes). */
export async function openLink(cfg: NeighbourConfig, timeoutMs: number): Promise<ReplicationLink> {
  const raw = await openSocket(cfg, timeoutMs);
  try {
    raw.write(encodeGreeting('control', cfg.tls));
    const socket = cfg.tls ? await startTls(raw, cfg, timeoutMs) : raw;
    const greeting = await readExact(socket, 4, timeoutMs, 'greeting reply');
    if (!greeting.equals(CONTROL_GREETING_REPLY)) {
      throw new PsrtError(ErrorCode.ProtocolViolation, `unexpected greeting reply ${greeting.toString('hex')}`);
    }
    socket.write(encodeLogin(cfg.user, cfg.password));
    await readExact(socket, TOKEN_LENGTH, timeoutMs, 'login token').catch((e: unknown) => {
      // A neighbour that never answers is unreachable (offline), not one that refuses us.
      if (isPsrtError(e) && e.code === ErrorCode.Timeout) throw e;
      throw new PsrtError(ErrorCode.LoginFailed, `login as "${cfg.user}" refused`, { cause: e });
    });
    return new ReplicationLink(socket, timeoutMs);
  } catch (e) {
    raw.destroy();
    throw e;
  }
}

export class ReplicationLink {
  onClose: ((reason: string) => void) | null = null;
  private handlers: ReplyHandler[] = [];
  private head = 0;
  private corked = false;
  private closed = false;
  private lastActivity = performance.now();
  /** Keep-alive NOPs sent and not answered: in `inFlight`, but not messages a broken link loses. */
  private nopsInFlight = 0;
  private readonly nopAnswered: ReplyHandler = () => {
    this.nopsInFlight--;
  };
  private readonly ticker: NodeJS.Timeout;

  constructor(
    private readonly socket: Socket,
    private readonly timeoutMs: number,
  ) {
    socket.on('data', (chunk: Buffer) => {
      this.onReplies(chunk);
    });
    socket.on('error', () => {
      /* 'close' follows */
    });
    socket.once('close', () => {
      this.shutdown('connection closed');
    });
    socket.resume();
    this.ticker = setInterval(() => {
      this.tick();
    }, Math.max(50, timeoutMs / 4));
  }

  get inFlight(): number {
    return this.handlers.length - this.head;
  }

  /** The requests of messages left unanswered (keep-alives excluded). */
  get messagesInFlight(): number {
    return this.inFlight - this.nopsInFlight;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Writes one request whose single reply byte goes to `onReply`. */
  send(frame: Buffer, onReply: ReplyHandler): void {
    if (this.closed) return;
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    if (this.inFlight === 0) this.lastActivity = performance.now();
    this.handlers.push(onReply);
    this.socket.write(frame);
  }

  close(): void {
    this.socket.destroy();
    this.shutdown('closed');
  }

  private onReplies(chunk: Buffer): void {
    this.lastActivity = performance.now();
    for (const code of chunk) {
      const handler = this.handlers[this.head];
      if (handler === undefined) {
        this.socket.destroy();
        this.shutdown(`unexpected reply byte ${code}`);
        return;
      }
      this.head++;
      handler(code);
    }
    if (this.head > 1024 && this.head * 2 > this.handlers.length) {
      this.handlers = this.handlers.slice(this.head);
      this.head = 0;
    }
  }

  private tick(): void {
    const idle = performance.now() - this.lastActivity;
    if (this.inFlight > 0 && idle > this.timeoutMs) {
      this.socket.destroy();
      this.shutdown(REPLIES_TIMED_OUT);
    } else if (this.inFlight === 0 && idle > this.timeoutMs / 2) {
      this.nopsInFlight++;
      this.send(NOP, this.nopAnswered);
    }
  }

  private shutdown(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.ticker);
    // Before the handlers are cleared, so onClose can count the requests left unanswered.
    this.onClose?.(reason);
    this.handlers = [];
    this.head = 0;
  }
}
