/**
 * The scenarios of issue 6 as load jobs, and running one scenario against one broker: a fresh
 * broker, its memory sampled for the whole run, the load (and for (e) the extra subscriptions)
 * from workers on the load core, then a record with rates, correctness and peak RSS.
 */
import type { LoadJob, LoadResult, Latency, Proto, PubSpec, SubSpec } from '../load/job.js';
import { startMosquitto, startPsrtd, startReflector, type Broker, type BrokerName } from './brokers.js';
import { profilesIn, selfTimes, type SelfTime } from './profile.js';
import { sampleProc, type ProcUsage } from './procs.js';
import { populate, runLoad, type Population } from './workers.js';

export interface Timing {
  readonly warmupMs: number;
  readonly durationMs: number;
  /** Measurement window of the fixed-rate latency scenario (c). */
  readonly latencyMs: number;
  readonly drainMs: number;
}

export interface RunRecord {
  readonly round: number;
  readonly scenario: string;
  readonly broker: BrokerName;
  readonly proto: Proto;
  /** Deliveries per second counted at the subscribers (all of them). */
  readonly delivered: number;
  /** Publishes per second accepted (PSRT: acknowledged; MQTT: written). */
  readonly published: number;
  readonly loss: number;
  readonly duplicates: number;
  readonly outOfOrder: number;
  readonly corrupt: number;
  readonly latency: Latency | null;
  readonly lateSends: number;
  readonly genCpuPct: number;
  /** Broker's peak resident set (VmHWM), MB. */
  readonly rssMb: number;
  /** Broker's CPU use during the measurement window, % of one core. */
  readonly serverCpuPct: number;
  /** Scenario (e): the same load on the same server just before the subscriptions existed. */
  readonly emptyDelivered: number;
  /** Scenario (e): the broker's CPU µs per delivered message in that empty window. */
  readonly emptyServerUsPerMsg: number;
  /** Scenario (e): subscriptions created and how long that took. */
  readonly extraSubscriptions: number;
  readonly subscribeMs: number;
  readonly connectMs: number;
  readonly errors: readonly string[];
  /** With --profile: psrtd's top self-time functions in this run. */
  profile: readonly SelfTime[] | null;
}

export interface Scenario {
  readonly id: string;
  /** Selection letter (`--scenario a,c`); `ceiling` for the generator's ceiling runs. */
  readonly group: string;
  readonly title: string;
  readonly brokers: readonly BrokerName[];
  /** Scenario (e): non-matching subscriptions to create first. */
  readonly extraSubscriptions: number;
  /** False for the (f) variant that runs plain `node bin/psrtd.js` (V8 and glibc defaults). */
  readonly asShipped: boolean;
  /** Protocols to drive the brokers with; default: each broker's own (see protosOf). */
  readonly protos?: readonly Proto[];
  /** `otherPort`: the broker's port for the other protocol (cross-protocol scenarios). */
  job(proto: Proto, port: number, t: Timing, otherPort: number): LoadJob;
}

const SMALL = 64;
const LARGE = 1_000_000;
/** Sessions the extra subscriptions of (e) are spread over. */
export const EXTRA_SESSIONS = 10_000;

function pub(id: number, topic: string, payload: number, window: number, rate = 0, qos: 0 | 1 = 0): PubSpec {
  return { id, topic, payload, window, rate, qos };
}

function sub(topic: string, expectFrom: number[], payload: number, qos: 0 | 1 = 0): SubSpec {
  return { topics: [topic], expectFrom, payload, qos };
}

/** MQTT QoS 1 1→1: the publisher keeps 1,024 PUBLISHes awaiting PUBACK, the subscriber acks. */
const qos1 = (proto: Proto, port: number, t: Timing): LoadJob =>
  load(proto, port, t, [pub(1, 'bench/q', SMALL, 1024, 0, 1)], [sub('bench/q', [1], SMALL, 1)]);

/** 1→1 across protocols: published with `proto`, received with the other one. */
const crossed = (proto: Proto, port: number, t: Timing, otherPort: number): LoadJob => ({
  ...load(proto, port, t, [pub(1, 'bench/x', SMALL, 4096)], [sub('bench/x', [1], SMALL)]),
  subProto: proto === 'psrt' ? 'mqtt' : 'psrt',
  subPort: otherPort,
});

function load(proto: Proto, port: number, t: Timing, pubs: PubSpec[], subs: SubSpec[], latency = false): LoadJob {
  const durationMs = latency ? t.latencyMs : t.durationMs;
  return { kind: 'load', proto, port, pubs, subs, warmupMs: t.warmupMs, durationMs, drainMs: t.drainMs, latency };
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

/** (a): one publisher, one subscriber, 64 B, pipelined. */
const oneToOne = (proto: Proto, port: number, t: Timing): LoadJob =>
  load(proto, port, t, [pub(1, 'bench/a', SMALL, 4096)], [sub('bench/a', [1], SMALL)]);

/** n publishers and n subscribers on one topic: every message delivered n times. */
const fanInOut = (n: number, payload: number, window: number) =>
  (proto: Proto, port: number, t: Timing): LoadJob =>
    load(proto, port, t, range(n).map((i) => pub(i, 'bench/b', payload, window)), range(n).map(() => sub('bench/b', range(n), payload)));

/** (c): one publisher paced at 10,000 msg/s, one subscriber in the same process. */
const paced = (proto: Proto, port: number, t: Timing): LoadJob =>
  load(proto, port, t, [pub(1, 'bench/c', SMALL, 4096, 10_000)], [sub('bench/c', [1], SMALL)], true);

/**
 * (l): the latency tail at moderate load: one publisher paced at `rate`, `subs` subscribers on
 * the same topic (every delivery's latency is recorded).
 */
const pacedFanOut = (rate: number, subs: number) =>
  (proto: Proto, port: number, t: Timing): LoadJob =>
    load(proto, port, t, [pub(1, 'bench/l', SMALL, 4096, rate)], range(subs).map(() => sub('bench/l', [1], SMALL)), true);

/** (d): one publisher of 1 MB payloads (16 in flight), n subscribers. */
const oneMb = (n: number) =>
  (proto: Proto, port: number, t: Timing): LoadJob =>
    load(proto, port, t, [pub(1, 'bench/d', LARGE, 16)], range(n).map(() => sub('bench/d', [1], LARGE)));

export function scenarios(withMosquitto: boolean): Scenario[] {
  const both: BrokerName[] = withMosquitto ? ['psrtd', 'mosquitto'] : ['psrtd'];
  const s = (id: string, group: string, title: string, job: Scenario['job'], brokers = both, extra = 0, asShipped = true): Scenario =>
    ({ id, group, title, brokers, extraSubscriptions: extra, asShipped, job });
  /** MQTT on both brokers (psrtd's MQTT listener against Mosquitto). */
  const m = (id: string, title: string, job: Scenario['job']): Scenario => ({ ...s(id, 'm', title, job), protos: ['mqtt'] });
  return [
    s('ceiling-a', 'ceiling', 'generator vs trivial sink, 1→1 64 B', oneToOne, ['reflector']),
    s('ceiling-b', 'ceiling', 'generator vs trivial sink, 4→4 one topic', fanInOut(4, SMALL, 1024), ['reflector']),
    s('ceiling-c', 'ceiling', 'latency vs trivial sink, 10,000 msg/s', paced, ['reflector']),
    s('ceiling-l-1k', 'ceiling', 'latency vs trivial sink, 1,000 msg/s', pacedFanOut(1000, 1), ['reflector']),
    s('ceiling-d', 'ceiling', 'generator vs trivial sink, 1 MB 1→1', oneMb(1), ['reflector']),
    s('a', 'a', '1→1, 64 B, pipelined', oneToOne),
    s('b-4x4', 'b', '4→4 one topic (each msg ×4)', fanInOut(4, SMALL, 1024)),
    s('b-pairs', 'b', '4 independent pairs', (proto, port, t) =>
      load(proto, port, t, range(4).map((i) => pub(i, `bench/p${i}`, SMALL, 1024)), range(4).map((i) => sub(`bench/p${i}`, [i], SMALL)))),
    s('c', 'c', 'latency at 10,000 msg/s, 64 B', paced),
    s('l-1k-1', 'l', 'latency at 1,000 msg/s, 64 B, 1→1', pacedFanOut(1000, 1)),
    s('l-10k-1', 'l', 'latency at 10,000 msg/s, 64 B, 1→1', pacedFanOut(10_000, 1)),
    s('l-1k-100', 'l', 'latency at 1,000 msg/s, 64 B, 1→100', pacedFanOut(1000, 100)),
    s('l-10k-100', 'l', 'latency at 10,000 msg/s, 64 B, 1→100', pacedFanOut(10_000, 100)),
    s('d-1x1', 'd', '1 MB payloads 1→1', oneMb(1)),
    s('d-1x4', 'd', '1 MB payloads 1→4', oneMb(4)),
    s('e-100k', 'e', '(a) + 100,000 non-matching subs', oneToOne, ['psrtd'], 100_000),
    s('e-1m', 'e', '(a) + 1,000,000 non-matching subs', oneToOne, ['psrtd'], 1_000_000),
    s('f-defaults', 'f', '(a), plain node bin/psrtd.js (defaults)', oneToOne, ['psrtd'], 0, false),
    m('m-a', 'MQTT QoS 0 1→1, 64 B', oneToOne),
    m('m-q1', 'MQTT QoS 1 1→1, 64 B, window 1,024', qos1),
    m('m-b', 'MQTT QoS 0 4→4 one topic (each msg ×4)', fanInOut(4, SMALL, 1024)),
    m('m-c', 'MQTT latency at 10,000 msg/s, 64 B', paced),
    m('m-d', 'MQTT 1 MB payloads 1→1', oneMb(1)),
    { ...s('x-pm', 'x', 'PSRT publisher → MQTT subscriber, 64 B', crossed, ['psrtd']), protos: ['psrt'] },
    { ...s('x-mp', 'x', 'MQTT publisher → PSRT subscriber, 64 B', crossed, ['psrtd']), protos: ['mqtt'] },
  ];
}

async function startBroker(name: BrokerName, profileDir: string | null, asShipped: boolean): Promise<Broker> {
  const profile = profileDir === null ? [] : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`];
  if (name === 'psrtd') return startPsrtd(profile, {}, asShipped);
  if (name === 'mosquitto') return startMosquitto();
  return startReflector();
}

/** The protocols a broker is driven with (the reflector: both, as separate ceiling rows). */
export function protosOf(name: BrokerName, withMosquitto: boolean, sc?: Scenario): readonly Proto[] {
  if (sc?.protos !== undefined && name !== 'reflector') return sc.protos;
  if (name === 'psrtd') return ['psrt'];
  if (name === 'mosquitto') return ['mqtt'];
  return withMosquitto ? ['psrt', 'mqtt'] : ['psrt'];
}

/** `profileDir`: profile psrtd with --cpu-prof into this (fresh) directory. */
export async function runScenario(
  sc: Scenario,
  name: BrokerName,
  proto: Proto,
  t: Timing,
  round: number,
  profileDir: string | null,
): Promise<RunRecord> {
  const rec = await measure(sc, name, proto, t, round, profileDir);
  const file = name === 'psrtd' && profileDir !== null ? profilesIn(profileDir)[0] : undefined;
  if (file !== undefined) rec.profile = selfTimes(file);
  return rec;
}

async function measure(sc: Scenario, name: BrokerName, proto: Proto, t: Timing, round: number, profileDir: string | null): Promise<RunRecord> {
  const broker = await startBroker(name, profileDir, sc.asShipped);
  const usage = sampleProc(broker.proc.pid);
  let population: Population | null = null;
  try {
    const port = proto === 'mqtt' ? broker.mqttPort : broker.port;
    const otherPort = proto === 'mqtt' ? broker.port : broker.mqttPort;
    if (sc.extraSubscriptions === 0) {
      return record(sc, name, proto, round, await runLoad(sc.job(proto, port, t, otherPort)), usage.stop(), null);
    }
    // Paired measurement: the empty-server figure comes from the same process moments before,
    // so background load on a shared machine affects both alike. Single windows swing by ±30 %
    // here, so each side is the median of PAIRED_WINDOWS windows.
    const empty = await loadWindows(sc, proto, port, t, otherPort);
    const job = { kind: 'populate', port, sessions: EXTRA_SESSIONS, subscriptions: sc.extraSubscriptions, seed: 42 } as const;
    population = await populate(job, 180_000);
    const full = await loadWindows(sc, proto, port, t, otherPort);
    const u = usage.stop();
    const rec = record(sc, name, proto, round, withChecksOf(full, empty), u, population);
    const emptyServerUsPerMsg = (u.cpuPct(empty.windowStartMs, empty.windowEndMs) * 1e4) / rate(empty);
    return { ...rec, emptyDelivered: rate(empty), emptyServerUsPerMsg };
  } finally {
    usage.stop();
    await population?.close();
    await broker.stop();
  }
}

/** Windows per side of the paired (e) measurement. */
const PAIRED_WINDOWS = 3;

const rate = (r: LoadResult): number => (r.deliveredInWindow / r.windowMs) * 1000;

/** PAIRED_WINDOWS load windows; the one with the median rate, with every window's checks. */
async function loadWindows(sc: Scenario, proto: Proto, port: number, t: Timing, otherPort: number): Promise<LoadResult> {
  const runs: LoadResult[] = [];
  for (let i = 0; i < PAIRED_WINDOWS; i++) runs.push(await runLoad(sc.job(proto, port, t, otherPort)));
  const sorted = [...runs].sort((x, y) => rate(x) - rate(y));
  const median = sorted[Math.floor(sorted.length / 2)] as LoadResult;
  return withChecksOf(median, ...runs.filter((r) => r !== median));
}

/** `r` with the loss, duplicate, order, corruption counts and errors of `others` added. */
function withChecksOf(r: LoadResult, ...others: LoadResult[]): LoadResult {
  const all = [r, ...others];
  const sum = (f: (x: LoadResult) => number): number => all.reduce((n, x) => n + f(x), 0);
  return {
    ...r,
    loss: sum((x) => x.loss),
    duplicates: sum((x) => x.duplicates),
    outOfOrder: sum((x) => x.outOfOrder),
    corrupt: sum((x) => x.corrupt),
    errors: all.flatMap((x) => x.errors),
  };
}

function record(sc: Scenario, broker: BrokerName, proto: Proto, round: number, r: LoadResult, u: ProcUsage, p: Population | null): RunRecord {
  const perSec = (n: number): number => (n / r.windowMs) * 1000;
  return {
    round,
    scenario: sc.id,
    broker,
    proto,
    delivered: perSec(r.deliveredInWindow),
    published: perSec(r.publishedInWindow),
    loss: r.loss,
    duplicates: r.duplicates,
    outOfOrder: r.outOfOrder,
    corrupt: r.corrupt,
    latency: r.latencyUs,
    lateSends: r.lateSends,
    genCpuPct: r.cpuPct,
    rssMb: u.hwmMb,
    emptyDelivered: 0,
    emptyServerUsPerMsg: NaN,
    serverCpuPct: u.cpuPct(r.windowStartMs, r.windowEndMs),
    extraSubscriptions: p?.result.subscriptions ?? 0,
    subscribeMs: p?.result.subscribeMs ?? 0,
    connectMs: p?.result.connectMs ?? 0,
    errors: [...r.errors, ...(p?.result.errors ?? [])],
    profile: null,
  };
}
