/**
 * A load-client process of the scale benchmark (started by bench/scale/run.ts, pinned to the
 * load core, driven over the IPC channel). It holds `count` idle sessions: opens them with at
 * most `window` handshakes in flight, sends each session's keepalive every K seconds (the
 * sessions spread evenly over the interval by a timer wheel: one timer for all of them), and
 * reopens any session that drops after a small random jitter, so a server restart becomes a
 * reconnect storm. Reports when all of its sessions are up ('all-up').
 */
import { newSession, probeLatencyUs, type Pool, type Session } from './session.js';
import type { ClientStatus, FromClient, StartMsg, ToClient } from './wire.js';
import { monoMs } from './wire.js';

const TICK_MS = 100;
const RETRY_MS = 200;
const MAX_SAMPLES = 100_000;

function send(m: FromClient): void {
  process.send?.(m);
}

class ClientPool implements Pool {
  readonly port: number;
  readonly keepaliveS: number;
  private readonly sessions: Session[] = [];
  private readonly queue: Session[] = [];
  private inFlight = 0;
  private upCount = 0;
  private drops = 0;
  private failures = 0;
  private other = 0;
  private readonly errors: Record<string, number> = {};
  private readonly latencies: number[] = [];
  /** Timer wheel: slot → sessions whose keepalive falls in that 100 ms slot. */
  private readonly wheel: Set<Session>[];
  private readonly slotOf = new Map<Session, number>();
  private tick = 0;
  private closing = false;
  private readonly ticker: NodeJS.Timeout;

  constructor(private readonly cfg: StartMsg) {
    this.port = cfg.port;
    this.keepaliveS = cfg.keepaliveS;
    const slots = Math.max(1, Math.round((cfg.keepaliveS * 1000) / TICK_MS));
    this.wheel = Array.from({ length: slots }, () => new Set<Session>());
    this.ticker = setInterval(() => { this.turn(); }, TICK_MS);
    for (let i = 0; i < cfg.count; i++) {
      const g = cfg.first + i;
      this.sessions.push(newSession(cfg.proto, g, cfg.addrs[g % cfg.addrs.length] ?? '127.0.0.1', this, cfg.prefix));
    }
    this.queue.push(...this.sessions);
    this.pump();
  }

  private turn(): void {
    const slot = this.wheel[this.tick++ % this.wheel.length];
    if (slot !== undefined) for (const s of slot) s.keepalive();
  }

  private pump(): void {
    while (this.inFlight < this.cfg.window && this.queue.length > 0) {
      const s = this.queue.shift();
      if (s === undefined) break;
      this.inFlight++;
      s.start();
    }
  }

  up(s: Session): void {
    this.inFlight--;
    this.upCount++;
    // A random slot staggers the keepalives over the interval (no synchronized bursts).
    const slot = Math.floor(Math.random() * this.wheel.length);
    this.wheel[slot]?.add(s);
    this.slotOf.set(s, slot);
    if (this.upCount === this.sessions.length) send({ type: 'all-up', atMs: monoMs() });
    this.pump();
  }

  down(s: Session, wasUp: boolean, why: string): void {
    if (this.closing) return;
    this.errors[why] = (this.errors[why] ?? 0) + 1;
    if (wasUp) {
      this.upCount--;
      this.drops++;
      const slot = this.slotOf.get(s);
      if (slot !== undefined) this.wheel[slot]?.delete(s);
      this.slotOf.delete(s);
      // Reconnect at once, with a small jitter, through the same bounded window.
      setTimeout(() => { this.enqueue(s); }, Math.random() * this.cfg.jitterMs);
      return;
    }
    this.inFlight--;
    this.failures++;
    setTimeout(() => { this.enqueue(s); }, RETRY_MS * (0.5 + Math.random()));
    this.pump();
  }

  private enqueue(s: Session): void {
    this.queue.push(s);
    this.pump();
  }

  message(_s: Session, payload: Buffer): void {
    const us = probeLatencyUs(payload);
    if (us === null) this.other++;
    else if (this.latencies.length < MAX_SAMPLES) this.latencies.push(us);
  }

  /** Drops every established session at once (the client-side reconnect storm). */
  dropAll(): void {
    for (const s of this.sessions) if (s.isUp) s.fail('dropped by client');
  }

  resetCounts(): void {
    for (const s of this.sessions) s.verifyCount = 0;
    this.latencies.length = 0;
  }

  status(): ClientStatus {
    let got0 = 0;
    let got1 = 0;
    let gotMore = 0;
    for (const s of this.sessions) {
      if (s.verifyCount === 0) got0++;
      else if (s.verifyCount === 1) got1++;
      else gotMore++;
    }
    return { up: this.upCount, drops: this.drops, failures: this.failures, errors: { ...this.errors }, got0, got1, gotMore, other: this.other };
  }

  latencySamples(): number[] {
    return [...this.latencies];
  }

  close(): void {
    this.closing = true;
    clearInterval(this.ticker);
    for (const s of this.sessions) if (s.isUp) s.fail('exit');
  }
}

let pool: ClientPool | null = null;

process.on('message', (m: ToClient) => {
  if (m.type === 'start') pool = new ClientPool(m);
  else if (m.type === 'drop') pool?.dropAll();
  else if (m.type === 'reset-counts') pool?.resetCounts();
  else if (m.type === 'status') {
    const s = pool?.status();
    if (s !== undefined) send({ type: 'status', ...s });
  } else if (m.type === 'latency') send({ type: 'latency', us: pool?.latencySamples() ?? [] });
  else {
    pool?.close();
    process.disconnect();
    // Sockets close asynchronously; a bounded wait, then exit regardless.
    setTimeout(() => process.exit(0), 2000).unref();
  }
});
send({ type: 'ready' });
// The orchestrator died: do not linger with thousands of sockets open.
process.on('disconnect', () => { setTimeout(() => process.exit(0), 2000).unref(); });
