/**
 * Drives many hostile connections (hostile.ts) against a running psrtd at a steady rate with
 * bounded concurrency, plus UDP garbage when a UDP port is given. Each connection gets its own
 * PRNG derived from the run's seed, so one connection's choices do not depend on timing.
 */
import { createSocket } from 'node:dgram';
import { encodeUdpPlain } from '../../../src/protocol/udp.js';
import { applyMutation } from '../fuzz/mutate.js';
import { runBehaviour, type Behaviour, type HostileContext, type Outcome } from './hostile.js';
import { Rng } from './rng.js';

export interface NetFuzzOptions {
  readonly port: number;
  readonly udpPort: number | null;
  readonly connections: number;
  /** Connections are started evenly over this time (or later if the concurrency cap bites). */
  readonly durationMs: number;
  readonly maxConcurrent: number;
  readonly seed: number;
  readonly context: Omit<HostileContext, 'port' | 'rng'>;
  readonly weights?: Partial<Record<Behaviour, number>>;
}

export interface NetFuzzReport {
  readonly seed: number;
  readonly elapsedMs: number;
  readonly outcomes: Record<string, Partial<Record<Outcome, number>>>;
  /** `behaviour#index` of every connection with outcome lingered/unexpected-reply/connect-failed. */
  readonly bad: string[];
  readonly udpDatagrams: number;
}

export const DEFAULT_WEIGHTS: Readonly<Record<Behaviour, number>> = {
  badGreeting: 8,
  garbage: 8,
  hugeLength: 8,
  garbageAfterValid: 10,
  mutated: 25,
  truncated: 8,
  reset: 8,
  slowloris: 3,
  noRead: 3,
  dataNoToken: 4,
  dataBadToken: 6,
  stuckSubscriber: 2,
  wrongPassword: 5,
};

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function runNetFuzz(o: NetFuzzOptions): Promise<NetFuzzReport> {
  const weights = { ...DEFAULT_WEIGHTS, ...o.weights };
  const master = new Rng(o.seed);
  const outcomes: Record<string, Partial<Record<Outcome, number>>> = {};
  const bad: string[] = [];
  const running = new Set<Promise<void>>();
  const udp = o.udpPort === null ? null : udpSprayer(o.udpPort);
  const t0 = performance.now();
  for (let i = 0; i < o.connections; i++) {
    const due = t0 + (i * o.durationMs) / o.connections;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    while (running.size >= o.maxConcurrent) await Promise.race(running);
    const rng = new Rng(master.int(0, 0x7fffffff));
    const behaviour = rng.weighted(weights);
    if (udp !== null && rng.chance(0.2)) udp.spray(rng);
    const task = runBehaviour(behaviour, { ...o.context, port: o.port, rng }).then((outcome) => {
      const tally = (outcomes[behaviour] ??= {});
      tally[outcome] = (tally[outcome] ?? 0) + 1;
      if (outcome !== 'server-closed' && outcome !== 'client-closed') bad.push(`${behaviour}#${i}:${outcome}`);
    });
    running.add(task);
    void task.finally(() => running.delete(task));
  }
  await Promise.all(running);
  const udpDatagrams = udp?.close() ?? 0;
  return { seed: o.seed, elapsedMs: performance.now() - t0, outcomes, bad, udpDatagrams };
}

/** Random and mutated datagrams (anonymous, topic fz/udp): decoded, dropped or acked, never fatal. */
function udpSprayer(port: number): { spray(rng: Rng): void; close(): number } {
  const socket = createSocket('udp4');
  socket.on('error', () => {
    /* ICMP unreachable etc.: irrelevant here */
  });
  socket.on('message', () => {
    /* acks are not checked here (test/e2e covers them) */
  });
  let sent = 0;
  return {
    spray: (rng) => {
      for (let n = rng.int(1, 10); n > 0; n--) {
        let d = encodeUdpPlain(rng.pick([0x01, 0x21]), 0x7f, '', '', `fz/udp/${rng.int(0, 9)}`, rng.bytes(rng.int(0, 200)));
        if (rng.chance(0.3)) d = rng.bytes(rng.int(0, 600));
        else if (rng.chance(0.7)) d = applyMutation(d, { op: 'set', at: rng.int(0, d.length), value: rng.int(0, 255) });
        socket.send(d, port, '127.0.0.1');
        sent++;
      }
    },
    close: () => {
      socket.close();
      return sent;
    },
  };
}
