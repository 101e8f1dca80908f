/**
 * Bridge benchmark (`npm run bench -- --bridges`, or `node dist/bench/bridges.js`): two psrtd
 * nodes, a PSRT publisher on node A and a PSRT subscriber on node B, 64-byte payloads, joined
 *
 *   nats      through a 3-node nats-server cluster (A exports to one node, B imports from another)
 *   cluster   through psrtd's own cluster replication (A → B)
 *   mosquitto through Mosquitto (A's MQTT bridge exports, B's imports; QoS 0, MQTT 5)
 *
 * For each path: the throughput of a saturating run (pipelined publishes, a bounded window of
 * unanswered ones) with loss, duplicates and order checked; if anything was lost, paced runs at
 * 90, 80, 70 % of the rate that arrived until a run is loss-free; then p50/p99 latency
 * publisher → subscriber at 10,000 msgs/s. Everything runs on this machine's cores at once (2 psrtd, the engines, this process).
 *
 *   node dist/bench/bridges.js [--paths nats,cluster,mosquitto] [--messages N] [--rate N] [--quick]
 *
 * `--rate N` paces the first run at N msgs/s instead of saturating.
 *
 * Bounded: every wait gives up after 60 s; a run is at most a few hundred thousand messages.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { Mosquitto, NatsCluster, until } from '../test/helpers/engines.js';
import { freePort } from '../test/helpers/ports.js';
import { startPsrtd, type Psrtd, type PsrtdOptions } from '../test/helpers/psrtd.js';
import { attachData, login, publishFrame, topicsFrame } from '../test/helpers/raw.js';
import { PASSWORD, makePasswd } from '../test/helpers/users.js';

const PAYLOAD = 64;
const TOPIC = 'bench/bridge/t';
const WINDOW = 20_000;
const BATCH = 500;
const REPL_ACL = '_:\n  sub: ["#"]\n  pub: ["#"]\n  admin: true\nrepl:\n  replicator: true\n';

type PathName = 'nats' | 'cluster' | 'mosquitto';

interface Pair {
  readonly a: Psrtd;
  readonly b: Psrtd;
  stop(): Promise<void>;
}

/** CPU seconds (user + system) a process has used so far, from /proc; 0 when unavailable. */
function cpuSeconds(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${String(pid)}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

interface RunResult {
  /** CPU use of node A and node B during the run, in % of one core. */
  readonly cpuA: number;
  readonly cpuB: number;
  readonly offered: number | null;
  readonly sent: number;
  readonly received: number;
  readonly duplicates: number;
  readonly outOfOrder: number;
  readonly malformed: number;
  readonly rate: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const SERVER = { data_queue: 200_000, data_queue_bytes: 256 * 1024 * 1024, bind_stats: '127.0.0.1:0' };
/** The subscriber's control connection stays idle for the whole path: a long T keeps it. */
const PROTO = { timeout: 120 };

function bridgeYaml(nodeId: string, type: 'nats' | 'mqtt', servers: string[], dir: 'out' | 'in'): string {
  return `bridges:\n  node_id: ${nodeId}\n  list:\n    - name: up\n      type: ${type}\n      servers: ${JSON.stringify(servers)}\n` +
    `      ${dir}: ["bench/#"]\n      buffer_messages: 500000\n      buffer_bytes: 268435456\n`;
}

async function natsPair(): Promise<Pair> {
  const cluster = await NatsCluster.start(3);
  const [u1 = '', u2 = ''] = cluster.urls;
  const a = await startPsrtd({ server: SERVER, proto: PROTO, extra: bridgeYaml('bench-a', 'nats', [u1], 'out') });
  const b = await startPsrtd({ server: SERVER, proto: PROTO, extra: bridgeYaml('bench-b', 'nats', [u2], 'in') });
  return { a, b, stop: async () => { await Promise.all([a.stop(), b.stop()]); await cluster.stop(); } };
}

async function clusterPair(): Promise<Pair> {
  const bPort = await freePort();
  const opts = (port: number): PsrtdOptions => ({ acl: REPL_ACL, passwd: makePasswd(), server: SERVER, proto: { ...PROTO, bind: [`127.0.0.1:${port}`] } });
  const b = await startPsrtd(opts(bPort));
  const a = await startPsrtd({ ...opts(await freePort()), cluster: `- path: 127.0.0.1:${bPort}\n  user: repl\n  password: ${PASSWORD}\n` });
  return { a, b, stop: async () => { await Promise.all([a.stop(), b.stop()]); } };
}

async function mosquittoPair(): Promise<Pair> {
  const broker = await Mosquitto.start();
  const a = await startPsrtd({ server: SERVER, proto: PROTO, extra: bridgeYaml('bench-a', 'mqtt', [broker.url], 'out') });
  const b = await startPsrtd({ server: SERVER, proto: PROTO, extra: bridgeYaml('bench-b', 'mqtt', [broker.url], 'in') });
  return { a, b, stop: async () => { await Promise.all([a.stop(), b.stop()]); await broker.stop(); } };
}

/** Subscriber on B: sequence numbers seen (loss, duplicates, order) and, when timing, latencies. */
class Sink {
  /** Every message, warm-up ones included. */
  arrived = 0;
  received = 0;
  duplicates = 0;
  outOfOrder = 0;
  /** Messages whose payload is not the PAYLOAD bytes sent. */
  malformed = 0;
  latenciesUs: number[] = [];
  private timing = false;
  private seen = new Uint8Array(0);
  private last = -1;

  reset(total: number, timing = false): void {
    this.received = 0;
    this.duplicates = 0;
    this.outOfOrder = 0;
    this.malformed = 0;
    this.latenciesUs = [];
    this.timing = timing;
    this.seen = new Uint8Array(total);
    this.last = -1;
  }

  /** The payload at b[at, at + len). */
  take(b: Buffer, at: number, len: number): void {
    this.arrived++;
    if (len !== PAYLOAD) {
      this.malformed++;
      return;
    }
    const seq = b.readUInt32LE(at);
    if (seq >= this.seen.length) return; // warm-up messages
    if (this.seen[seq] === 1) {
      this.duplicates++;
      return;
    }
    this.seen[seq] = 1;
    this.received++;
    if (seq < this.last) this.outOfOrder++;
    this.last = seq;
    // The clock is read only when latency is reported: it is a fair part of this process's CPU,
    // which the nodes and nats-server share the cores with.
    if (this.timing) this.latenciesUs.push((performance.now() - b.readDoubleLE(at + 4)) * 1000);
  }
}

/**
 * The subscriber's data channel read in place: `00` pings and `01 prio LEN topic 00 payload`
 * frames (the format src/protocol/data-decoder.ts decodes), without an event object and a
 * payload view per message; a frame cut by a read is joined with the next read.
 */
export class DataFrames {
  private rest: Buffer | null = null;

  constructor(private readonly onPayload: (b: Buffer, at: number, len: number) => void) {}

  push(chunk: Buffer): void {
    const b = this.rest === null ? chunk : Buffer.concat([this.rest, chunk]);
    this.rest = null;
    let i = 0;
    while (i < b.length) {
      const marker = b[i];
      if (marker === 0) {
        i++;
        continue;
      }
      if (marker !== 1) throw new Error(`invalid data frame marker ${String(marker)}`);
      if (b.length - i < 6 || b.length - i - 6 < b.readUInt32LE(i + 2)) break;
      const end = i + 6 + b.readUInt32LE(i + 2);
      let sep = i + 6;
      while (sep < end && b[sep] !== 0) sep++;
      if (sep === end) throw new Error('data frame without a topic end');
      this.onPayload(b, sep + 1, end - sep - 1);
      i = end;
    }
    if (i < b.length) this.rest = b.subarray(i);
  }
}

async function openSink(b: Psrtd, sink: Sink): Promise<() => void> {
  const { ctl, token } = await login(b.port);
  const data = await attachData(b.port, token, 255);
  ctl.send(topicsFrame(2, ['bench/#']));
  await ctl.read(1);
  const frames = new DataFrames((buf, at, len) => { sink.take(buf, at, len); });
  data.socket.removeAllListeners('data');
  data.socket.on('data', (chunk: Buffer) => { frames.push(chunk); });
  return () => { ctl.destroy(); data.destroy(); };
}

/**
 * A publisher on A: `total` messages numbered from `first`, paced at `rate`/s or as fast as the
 * window allows. Every message of a batch leaves in the same socket write: they carry the same
 * send time.
 */
async function publish(a: Psrtd, total: number, rate: number | null, first = 0): Promise<void> {
  const { ctl } = await login(a.port);
  const socket = ctl.socket;
  socket.removeAllListeners('data');
  let acked = 0;
  socket.on('data', (d: Buffer) => { acked += d.length; });
  // Paced: a few messages per millisecond, so that batching does not add to the latency.
  const batchSize = rate === null ? BATCH : Math.max(1, Math.ceil(rate / 1000));
  const template = publishFrame(TOPIC, Buffer.alloc(PAYLOAD));
  const size = template.length;
  const at = size - PAYLOAD;
  const block = Buffer.concat(Array.from({ length: batchSize }, () => template));
  const start = performance.now();
  for (let sent = 0; sent < total;) {
    const n = Math.min(batchSize, total - sent);
    if (rate !== null) {
      const due = start + ((sent + n) / rate) * 1000;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
    }
    while (sent - acked > WINDOW) await sleep(1);
    const batch = Buffer.allocUnsafe(size * n);
    block.copy(batch, 0, 0, size * n);
    const now = performance.now();
    for (let i = 0, o = at; i < n; i++, o += size) {
      batch.writeUInt32LE(first + sent + i, o);
      batch.writeDoubleLE(now, o + 4);
    }
    socket.write(batch);
    sent += n;
  }
  await until(() => acked >= total, 60_000, 'publish replies');
  ctl.destroy();
}

async function warmUp(pair: Pair, sink: Sink): Promise<void> {
  sink.reset(0); // warm-up sequence numbers are beyond the (empty) range: only `arrived` counts
  const t0 = performance.now();
  while (sink.arrived === 0 && performance.now() - t0 < 30_000) {
    await publish(pair.a, 1, null);
    await sleep(100);
  }
  if (sink.arrived === 0) throw new Error('nothing arrives on B');
}

async function run(pair: Pair, sink: Sink, total: number, rate: number | null, timing = false): Promise<RunResult> {
  sink.reset(total, timing);
  const start = performance.now();
  const cpu0 = [cpuSeconds(pair.a.proc.pid), cpuSeconds(pair.b.proc.pid)];
  await publish(pair.a, total, rate);
  // Wait until everything arrived or nothing more arrives for a second.
  let lastCount = -1;
  let lastChange = performance.now();
  while (sink.received < total && performance.now() - lastChange < 1000 && performance.now() - start < 60_000) {
    if (sink.received !== lastCount) {
      lastCount = sink.received;
      lastChange = performance.now();
    }
    await sleep(5);
  }
  const seconds = (performance.now() - start - (sink.received < total ? performance.now() - lastChange : 0)) / 1000;
  const wall = (performance.now() - start) / 1000;
  const cpuA = ((cpuSeconds(pair.a.proc.pid) - (cpu0[0] ?? 0)) / wall) * 100;
  const cpuB = ((cpuSeconds(pair.b.proc.pid) - (cpu0[1] ?? 0)) / wall) * 100;
  return { cpuA, cpuB, offered: rate, sent: total, received: sink.received, duplicates: sink.duplicates, outOfOrder: sink.outOfOrder, malformed: sink.malformed, rate: sink.received / seconds };
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

function load(): string {
  try {
    return execFileSync('uptime', { encoding: 'utf8' }).trim();
  } catch {
    return `load average: ${loadavg().map((x) => x.toFixed(2)).join(', ')}`;
  }
}

async function measure(name: PathName, messages: number, latencySeconds: number, rate: number | null): Promise<string> {
  const pair = await (name === 'nats' ? natsPair() : name === 'cluster' ? clusterPair() : mosquittoPair());
  const sink = new Sink();
  const close = await openSink(pair.b, sink);
  try {
    await warmUp(pair, sink);
    let r = await run(pair, sink, messages, rate);
    const runs = [r];
    // Lost some: pace below what arrived until a run is loss-free (at most 3 more runs), in
    // steps of a tenth: a receiver that cannot keep up (nats-server cuts off a slow consumer)
    // loses messages unpaced even when it can take nearly the rate offered.
    for (let i = 1; i <= 3 && r.received < r.sent; i++) {
      r = await run(pair, sink, messages, Math.round((runs[0]?.rate ?? 0) * (1 - i / 10)));
      runs.push(r);
    }
    const lat = await run(pair, sink, 10_000 * latencySeconds, 10_000, true);
    const sorted = [...sink.latenciesUs].sort((x, y) => x - y);
    const fmt = (x: RunResult): string =>
      `${x.offered === null ? 'unpaced' : `paced ${x.offered}/s`}: ${Math.round(x.rate).toLocaleString('en-US')} msgs/s, ` +
      `${x.received}/${x.sent} received, dup ${x.duplicates}, out of order ${x.outOfOrder}${x.malformed > 0 ? `, malformed ${x.malformed}` : ''}; ` +
      `CPU node A ${x.cpuA.toFixed(0)}%, node B ${x.cpuB.toFixed(0)}%`;
    return [
      `${name}:`,
      ...runs.map((x) => `  ${fmt(x)}`),
      `  latency at 10,000 msgs/s (${lat.received}/${lat.sent} received): p50 ${percentile(sorted, 50).toFixed(0)} µs, p99 ${percentile(sorted, 99).toFixed(0)} µs`,
    ].join('\n');
  } catch (e) {
    const tail = (n: Psrtd): string => n.output.slice(-15).join('\n    ');
    return `${name}: failed: ${e instanceof Error ? e.message : String(e)}\n  node A:\n    ${tail(pair.a)}\n  node B:\n    ${tail(pair.b)}`;
  } finally {
    close();
    await pair.stop();
  }
}

export async function runBridgeBench(argv: readonly string[]): Promise<void> {
  const quick = argv.includes('--quick');
  const at = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    return i < 0 ? undefined : argv[i + 1];
  };
  const paths = (at('--paths') ?? 'nats,cluster,mosquitto').split(',').filter((p): p is PathName => p === 'nats' || p === 'cluster' || p === 'mosquitto');
  const messages = Math.min(1_000_000, Number(at('--messages') ?? (quick ? 50_000 : 200_000)));
  const rate = at('--rate') === undefined ? null : Number(at('--rate'));
  process.stdout.write(`bridge benchmark: ${messages} × ${PAYLOAD} B, A → B\nload before: ${load()}\n`);
  for (const p of paths) process.stdout.write(`${await measure(p, messages, quick ? 1 : 2, rate)}\n`);
  process.stdout.write(`load after:  ${load()}\n`);
}

if (process.argv[1]?.endsWith('bridges.js') === true) await runBridgeBench(process.argv.slice(2));
