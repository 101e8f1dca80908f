/**
 * A load-generator process (started by bench/run.ts, pinned to the load core). It receives one
 * Job over IPC, runs it and answers with its result:
 *
 *  - `load`: subscribers first, then publishers (flat out within their window, or paced); a
 *    warm-up, a measurement window, then a bounded drain, after which every subscriber's
 *    received set is checked against what the publishers had sent (loss, duplicates, order).
 *  - `populate`: opens many sessions with bulk SUBSCRIBE frames and keeps them open until the
 *    parent says `close` (scenario e).
 *
 * The whole process exits on its own after a hard deadline, so it can never outlive the bench.
 */
import type { Socket } from 'node:net';
import type { Job, Latency, LoadJob, LoadResult, PopulateJob, PopulateResult } from './job.js';
import { masksFor } from './masks.js';
import { MqttPublisher, MqttSubscriber } from './mqtt-client.js';
import { mapLimit } from './net.js';
import { monoNs } from './payload.js';
import { PsrtPublisher, PsrtSubscriber, openControl, subscribe } from './psrt-client.js';
import type { Publisher } from './publisher.js';
import { Receiver, type Window } from './receiver.js';

const HARD_DEADLINE_MS = 10 * 60 * 1000;
const STALL_MS = 1000;
const MAX_ERRORS = 10;
const errors: string[] = [];

function noteError(e: unknown): void {
  if (errors.length < MAX_ERRORS) errors.push(e instanceof Error ? e.message : String(e));
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function watch(socket: Socket): void {
  socket.on('error', noteError);
}

interface Rig {
  readonly pubs: Publisher[];
  readonly receivers: Receiver[];
  /** Messages of publisher `id` that every subscriber must eventually have. */
  readonly sentBy: (id: number) => number;
  /** Requests still awaiting a reply (PSRT) — 0 for MQTT. */
  readonly unanswered: () => number;
  /** Protocol-level faults seen: replies other than `01`, undecodable data streams. */
  readonly faults: () => string[];
  readonly sockets: Socket[];
}

function faultList(notOk: number, decodeErrors: number): string[] {
  const out: string[] = [];
  if (notOk > 0) out.push(`${notOk} replies other than 01`);
  if (decodeErrors > 0) out.push(`${decodeErrors} data streams failed to decode`);
  return out;
}

/** Subscribers of one protocol: their sockets and how many data streams failed to decode. */
interface SubSide {
  readonly sockets: Socket[];
  readonly decodeErrors: () => number;
}

async function psrtSubs(port: number, receivers: Receiver[]): Promise<SubSide> {
  const subs = await Promise.all(receivers.map((r) => PsrtSubscriber.open(port, r)));
  return { sockets: subs.flatMap((s) => [s.control.socket, s.data]), decodeErrors: () => subs.reduce((n, sb) => n + sb.decodeErrors, 0) };
}

async function mqttSubs(port: number, receivers: Receiver[]): Promise<SubSide> {
  const subs = await Promise.all(receivers.map((r) => MqttSubscriber.open(port, r)));
  return { sockets: subs.map((s) => s.socket), decodeErrors: () => subs.reduce((n, sb) => n + sb.decodeErrors, 0) };
}

async function psrtRig(job: LoadJob, receivers: Receiver[], side: SubSide): Promise<Rig> {
  const pubs = await Promise.all(job.pubs.map((spec) => PsrtPublisher.open(job.port, spec)));
  const byId = new Map(pubs.map((p) => [p.pub.spec.id, p]));
  return {
    pubs: pubs.map((p) => p.pub),
    receivers,
    sentBy: (id) => byId.get(id)?.acked ?? 0,
    unanswered: () => pubs.reduce((n, p) => n + p.pub.sent - p.acked, 0),
    faults: () => faultList(pubs.reduce((n, p) => n + p.notOk, 0), side.decodeErrors()),
    sockets: [...side.sockets, ...pubs.map((p) => p.session.socket)],
  };
}

async function mqttRig(job: LoadJob, receivers: Receiver[], side: SubSide): Promise<Rig> {
  const pubs: MqttPublisher[] = [];
  for (const spec of job.pubs) {
    const hearers = receivers.filter((r) => r.spec.expectFrom.includes(spec.id));
    const m: MqttPublisher = await MqttPublisher.open(job.port, spec, () => {
      let heardByAll = m.pub.sent;
      for (const r of hearers) heardByAll = Math.min(heardByAll, r.tracker.uniqueFrom(spec.id));
      return m.pub.sent - heardByAll;
    });
    pubs.push(m);
  }
  for (const r of receivers) {
    r.onProgress = () => {
      for (const p of pubs) p.pub.fill();
    };
  }
  const byId = new Map(pubs.map((p) => [p.pub.spec.id, p]));
  // QoS 1: a message counts as accepted once acknowledged (as a PSRT publish on its reply).
  const sentBy = (id: number): number => {
    const p = byId.get(id);
    return p === undefined ? 0 : p.pub.spec.qos === 1 ? p.acked : p.pub.sent;
  };
  return {
    pubs: pubs.map((p) => p.pub),
    receivers,
    sentBy,
    unanswered: () => pubs.reduce((n, p) => n + (p.pub.spec.qos === 1 ? p.pub.sent - p.acked : 0), 0),
    faults: () => faultList(0, side.decodeErrors()),
    sockets: [...side.sockets, ...pubs.map((p) => p.pub.socket)],
  };
}

/** Subscribers first (of `subProto` when set), then the publishers. */
async function rigFor(job: LoadJob, receivers: Receiver[]): Promise<Rig> {
  const subProto = job.subProto ?? job.proto;
  const subPort = job.subPort ?? job.port;
  const side = subProto === 'psrt' ? await psrtSubs(subPort, receivers) : await mqttSubs(subPort, receivers);
  return job.proto === 'psrt' ? psrtRig(job, receivers, side) : mqttRig(job, receivers, side);
}

/** Paced publishing: each publisher sends message k at start + k/rate, spinning on setImmediate. */
function pace(pubs: readonly Publisher[], window: Window, late: { n: number }): void {
  const start = monoNs();
  const tick = (): void => {
    const now = monoNs();
    let active = false;
    for (const p of pubs) {
      if (p.stopped) continue;
      active = true;
      const intervalNs = 1e9 / p.spec.rate;
      const due = Math.floor((now - start) / intervalNs) + 1;
      while (p.sent < due) {
        if (window.open && now - (start + p.sent * intervalNs) > 1e6) late.n++;
        p.send(1);
      }
    }
    // Spinning keeps sends within a few µs of schedule; timers have 1 ms granularity.
    if (active) setImmediate(tick);
  };
  tick();
}

/** Waits until nothing is missing, progress stalls for STALL_MS, or the drain budget ends. */
async function drain(rig: Rig, budgetMs: number): Promise<void> {
  const deadline = performance.now() + budgetMs;
  let last = -1;
  let lastChange = performance.now();
  while (performance.now() < deadline) {
    // Clamped per receiver: a subscriber may already hold messages whose replies are still on
    // their way, which must not offset what another subscriber is missing.
    const missing = rig.receivers.reduce((n, r) => n + Math.max(0, r.missing(rig.sentBy)), 0) + rig.unanswered();
    if (missing === 0) return;
    const progress =
      rig.receivers.reduce((n, r) => n + r.tracker.received, 0) + rig.pubs.reduce((n, p) => n + rig.sentBy(p.spec.id), 0);
    if (progress !== last) {
      last = progress;
      lastChange = performance.now();
    } else if (performance.now() - lastChange > STALL_MS) {
      return;
    }
    await sleep(10);
  }
}

function percentiles(samples: number[]): Latency | null {
  if (samples.length === 0) return null;
  const s = Float64Array.from(samples).sort();
  const at = (q: number): number => s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] ?? 0;
  return { count: s.length, p50: at(0.5), p99: at(0.99), p999: at(0.999), max: s[s.length - 1] ?? 0 };
}

async function runLoad(job: LoadJob): Promise<LoadResult> {
  const window: Window = { open: false, latencies: job.latency ? [] : null };
  const receivers = job.subs.map((s) => new Receiver(s, window));
  const rig = await rigFor(job, receivers);
  rig.sockets.forEach(watch);
  const accepted = (): number => rig.pubs.reduce((n, p) => n + rig.sentBy(p.spec.id), 0);
  const late = { n: 0 };
  const paced = rig.pubs.filter((p) => p.spec.rate > 0);
  pace(paced, window, late);
  for (const p of rig.pubs) if (p.spec.rate === 0) p.fill();

  await sleep(job.warmupMs);
  const cpu0 = process.cpuUsage();
  const pub0 = accepted();
  const t0 = performance.now();
  const windowStartMs = Date.now();
  window.open = true;
  await sleep(job.durationMs);
  window.open = false;
  const windowMs = performance.now() - t0;
  const windowEndMs = Date.now();
  const cpu = process.cpuUsage(cpu0);
  const pub1 = accepted();
  for (const p of rig.pubs) p.stopped = true;
  await drain(rig, job.drainMs);

  const verdicts = receivers.map((r) => r.tracker.verdict());
  const expected = receivers.reduce((n, r) => n + r.spec.expectFrom.reduce((m, id) => m + rig.sentBy(id), 0), 0);
  const unique = verdicts.reduce((n, v) => n + v.unique, 0);
  if (rig.unanswered() > 0) noteError(`${rig.unanswered()} publishes never answered`);
  rig.faults().forEach(noteError);
  rig.sockets.forEach((s) => s.destroy());
  return {
    kind: 'load',
    windowMs,
    windowStartMs,
    windowEndMs,
    publishedInWindow: pub1 - pub0,
    deliveredInWindow: receivers.reduce((n, r) => n + r.inWindow, 0),
    publishedTotal: accepted(),
    expected,
    unique,
    loss: Math.max(0, expected - unique),
    duplicates: verdicts.reduce((n, v) => n + v.duplicates, 0),
    outOfOrder: verdicts.reduce((n, v) => n + v.outOfOrder, 0),
    corrupt: verdicts.reduce((n, v) => n + v.corrupt, 0),
    cpuPct: ((cpu.user + cpu.system) / 1000 / windowMs) * 100,
    lateSends: late.n,
    latencyUs: window.latencies === null ? null : percentiles(window.latencies),
    errors,
  };
}

async function runPopulate(job: PopulateJob): Promise<PopulateResult> {
  const perSession = Math.ceil(job.subscriptions / job.sessions);
  const masks = masksFor(job.sessions, perSession, job.seed);
  const t0 = performance.now();
  // Bounded bursts: the listen backlog would otherwise drop SYNs of 10,000 parallel connects.
  const sessions = await mapLimit(masks, 200, () => openControl(job.port));
  sessions.forEach((s) => {
    watch(s.socket);
  });
  const t1 = performance.now();
  await mapLimit(sessions, 1000, (s, i) => subscribe(s.socket, masks[i] ?? []));
  const t2 = performance.now();
  // The only message after the job is the parent's `close`.
  process.once('message', () => {
    sessions.forEach((s) => s.socket.destroy());
    process.exit(0);
  });
  return {
    kind: 'populate',
    connectMs: t1 - t0,
    subscribeMs: t2 - t1,
    subscriptions: masks.reduce((n, m) => n + m.length, 0),
    errors,
  };
}

process.once('message', (job: Job) => {
  const run = job.kind === 'load' ? runLoad(job) : runPopulate(job);
  run.then(
    (result) => {
      process.send?.(result, () => {
        if (job.kind === 'load') process.exit(0);
      });
    },
    (e: unknown) => {
      noteError(e);
      process.send?.({ kind: 'error', errors }, () => process.exit(1));
    },
  );
});
setTimeout(() => process.exit(2), HARD_DEADLINE_MS).unref();
