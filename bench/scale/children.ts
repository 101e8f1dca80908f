/**
 * The load-client processes seen from the orchestrator: started pinned to the load core, asked
 * for status and latency samples, and measured from /proc (their CPU seconds and RSS are part
 * of the report: the client's own cost). A client is either the native one (commands as lines
 * on its stdin, JSON lines back on fd 3; bench/scale/native.ts) or the Node one (IPC channel).
 */
import type { Readable } from 'node:stream';
import { join } from 'node:path';
import { REPO_ROOT, SHIPPED_RUNTIME } from '../lib/brokers.js';
import { LOAD_CORE, startPinned, type Proc } from '../lib/procs.js';
import { nativeCommand } from './native.js';
import { cpuSeconds, rssKb } from './servers.js';
import type { ClientStatus, FromClient, StartMsg, ToClient } from './wire.js';

const CLIENT_JS = join(REPO_ROOT, 'dist/bench/scale/client.js');
const ASK_MS = 30_000;

/** Calls `on` with each JSON line of `stream`. */
function jsonLines(stream: Readable, on: (m: FromClient) => void): void {
  let rest = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    const lines = (rest + chunk).split('\n');
    rest = lines.pop() ?? '';
    for (const l of lines) if (l !== '') on(JSON.parse(l) as FromClient);
  });
}

export class Child {
  /** Monotonic ms of its last 'all-up' report (all of its sessions established). */
  lastAllUp = -1;
  private readonly waiting = new Map<string, (m: FromClient) => void>();
  /** Resolves when the process is up and listening for commands (its startup is not connect time). */
  readonly ready: Promise<void>;

  private constructor(readonly proc: Proc, private readonly native: boolean) {
    this.ready = new Promise((res, rej) => {
      const t = setTimeout(() => { rej(new Error(`client ${proc.pid} did not start`)); }, ASK_MS);
      this.waiting.set('ready', () => { clearTimeout(t); res(); });
    });
    const on = (m: FromClient): void => {
      if (m.type === 'all-up') this.lastAllUp = m.atMs;
      const w = this.waiting.get(m.type);
      if (w !== undefined) {
        this.waiting.delete(m.type);
        w(m);
      }
    };
    // A client that died is seen by its status requests timing out, not by an EPIPE crash here.
    proc.child.stdin?.on('error', () => undefined);
    const fd3 = proc.child.stdio[3];
    if (native && fd3 !== null && fd3 !== undefined) jsonLines(fd3 as Readable, on);
    else proc.child.on('message', on);
  }

  /** A client process: the native executable `nativeBin`, or the Node client when null. */
  static spawn(nativeBin: string | null): Child {
    if (nativeBin !== null) return new Child(startPinned(LOAD_CORE, nativeBin, [], ['pipe', 'pipe', 'pipe', 'pipe']), true);
    // The launcher's runtime settings, like the main bench's load generator.
    const proc = startPinned(LOAD_CORE, process.execPath, [...SHIPPED_RUNTIME.nodeArgs, CLIENT_JS], ['ignore', 'pipe', 'pipe', 'ipc'], SHIPPED_RUNTIME.env);
    return new Child(proc, false);
  }

  private get reachable(): boolean {
    return this.native ? this.proc.child.exitCode === null && this.proc.child.stdin?.writable === true : this.proc.child.connected;
  }

  send(m: ToClient): void {
    if (!this.reachable) return;
    if (this.native) this.proc.child.stdin?.write(nativeCommand(m));
    else this.proc.child.send(m);
  }

  start(m: StartMsg): void {
    this.send(m);
  }

  private ask<T extends FromClient['type']>(type: T): Promise<Extract<FromClient, { type: T }>> {
    return new Promise((res, rej) => {
      const t = setTimeout(() => { this.waiting.delete(type); rej(new Error(`client ${this.proc.pid}: no ${type} in ${ASK_MS} ms`)); }, ASK_MS);
      this.waiting.set(type, (m) => {
        clearTimeout(t);
        res(m as Extract<FromClient, { type: T }>);
      });
      this.send({ type } as ToClient);
    });
  }

  status(): Promise<ClientStatus> {
    return this.ask('status');
  }

  async latency(): Promise<readonly number[]> {
    return (await this.ask('latency')).us;
  }

  cpuS(): number {
    return cpuSeconds(this.proc.pid);
  }

  rssKb(): number {
    return rssKb(this.proc.pid);
  }

  async stop(): Promise<void> {
    this.send({ type: 'exit' });
    const exited = new Promise<void>((r) => {
      if (this.proc.child.exitCode !== null) r();
      else this.proc.child.once('exit', () => { r(); });
    });
    const timer = setTimeout(() => { void this.proc.stop(); }, 5000);
    await exited;
    clearTimeout(timer);
  }
}

/** Waits until every child has reported all of its sessions up after `afterMs`; the last report's time. */
export async function allUp(children: readonly Child[], afterMs: number, timeoutMs: number): Promise<number | null> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (children.every((c) => c.lastAllUp > afterMs)) return Math.max(...children.map((c) => c.lastAllUp));
    await new Promise((r) => setTimeout(r, 20));
  }
  return null;
}

/** Status summed over the children. */
export async function totalStatus(children: readonly Child[]): Promise<ClientStatus> {
  const all = await Promise.all(children.map((c) => c.status()));
  const errors: Record<string, number> = {};
  for (const s of all) for (const [k, v] of Object.entries(s.errors)) errors[k] = (errors[k] ?? 0) + v;
  const sum = (f: (s: ClientStatus) => number): number => all.reduce((a, s) => a + f(s), 0);
  return {
    up: sum((s) => s.up),
    drops: sum((s) => s.drops),
    failures: sum((s) => s.failures),
    errors,
    got0: sum((s) => s.got0),
    got1: sum((s) => s.got1),
    gotMore: sum((s) => s.gotMore),
    other: sum((s) => s.other),
  };
}
