/**
 * Issue 3: does a wrong-password UDP flood hurt TCP publish→deliver latency?
 *
 *   npm run build && node dist/bench/udp-flood.js [--cost 5] [--flood-rate 10000] [--rounds 3]
 *
 * Starts psrtd (bin/psrtd.js, temp config, loopback only, pinned to core 0 when taskset exists)
 * and measures the latency of 1,000 TCP publishes/s (raw sockets, one subscriber) in three
 * phases per round, 3 s each (median over 3 rounds):
 *   quiet    no flood;
 *   flood    a worker thread sends `--flood-rate` plain datagrams/s, each with a different wrong
 *            password for a user that exists (every one would need bcrypt), op 01 (acked);
 *   control  the same flood sent to a closed port: what generating it costs the load side alone.
 * Printed: p50/p99 per phase (medians over rounds), flood/quiet ratios, psrtd CPU, the acks the
 * flooder got back and psrtd's UDP counters (/metrics). Bounded: finishes in about 40 s.
 */
import { hashSync } from '@node-rs/bcrypt';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { encodeUdpPlain } from '../src/protocol/udp.js';
import { canPin, pinSelf, startPinned, SERVER_CORE, type Proc } from './lib/procs.js';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const PHASE_MS = 3000;
const FLOOD_WARMUP_MS = 500;
const PUBLISH_RATE = 1000;
const PASSWORD = 'secret';

interface FloodCommand {
  readonly port: number;
  readonly rate: number;
}

interface FloodReport {
  readonly sent: number;
  readonly replies: number;
}

// ---- flood worker ----------------------------------------------------------------------------

/** Sends `rate` datagrams/s until told to stop; each has a fresh wrong password. */
async function floodWorker(cmd: FloodCommand): Promise<void> {
  const socket = createSocket('udp4');
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  let replies = 0;
  socket.on('message', () => replies++);
  let sent = 0;
  const started = performance.now();
  const timer = setInterval(() => {
    const due = Math.floor(((performance.now() - started) / 1000) * cmd.rate);
    for (; sent < due; sent++) {
      socket.send(encodeUdpPlain(0x01, 0x7f, 'user1', `wrong-${sent}`, 'flood', Buffer.from('x')), cmd.port, '127.0.0.1');
    }
  }, 1);
  parentPort?.once('message', () => {
    clearInterval(timer);
    setTimeout(() => {
      const report: FloodReport = { sent, replies };
      parentPort?.postMessage(report);
      socket.close();
    }, 200); // late acks
  });
}

class Flood {
  private constructor(private readonly worker: Worker) {}

  static start(port: number, rate: number): Flood {
    const cmd: FloodCommand = { port, rate };
    return new Flood(new Worker(fileURLToPath(import.meta.url), { workerData: cmd }));
  }

  async stop(): Promise<FloodReport> {
    this.worker.postMessage('stop');
    const [report] = (await once(this.worker, 'message')) as [FloodReport];
    await this.worker.terminate();
    return report;
  }
}

// ---- psrtd -----------------------------------------------------------------------------------

interface Server {
  readonly proc: Proc;
  readonly tcp: number;
  readonly udp: number;
  readonly stats: number;
  readonly dir: string;
}

async function startServer(cost: number): Promise<Server> {
  const dir = mkdtempSync(join(tmpdir(), 'psrt-udp-flood-'));
  writeFileSync(join(dir, 'passwd'), `user1:${hashSync(PASSWORD, cost)}\n`);
  writeFileSync(join(dir, 'acl.yml'), '_:\n  sub: ["#"]\n  pub: ["#"]\n  admin: true\nuser1:\n  pub: ["#"]\n');
  const config = [
    'server:', '  data_queue: 1024', '  latency_warn: 500000', '  max_topic_depth: 16',
    '  max_pub_size: 100000', '  max_topic_length: 1000', '  bind_stats: 127.0.0.1:0',
    'proto:', '  bind: 127.0.0.1:0', '  bind_udp: 127.0.0.1:0', '  allow_no_tls: true', '  timeout: 30',
    'auth:', '  allow_anonymous: true', '  password_file: passwd', '  acl: acl.yml', '',
  ].join('\n');
  writeFileSync(join(dir, 'config.yml'), config);
  const proc = startPinned(SERVER_CORE, process.execPath, [join(REPO_ROOT, 'bin/psrtd.js'), '-C', join(dir, 'config.yml')], ['ignore', 'pipe', 'pipe']);
  const tcp = Number((await proc.waitFor(/listening on TCP 127\.0\.0\.1:(\d+)/, 10_000))[1]);
  const udp = Number((await proc.waitFor(/listening on UDP 127\.0\.0\.1:(\d+)/, 10_000))[1]);
  const stats = Number((await proc.waitFor(/listening on HTTP 127\.0\.0\.1:(\d+)/, 10_000))[1]);
  await proc.waitFor(/starting server/, 10_000);
  return { proc, tcp, udp, stats, dir };
}

function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

async function udpCounters(port: number): Promise<string> {
  if (port === 0) return '(stats server not found)';
  try {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const lines = text.split('\n').filter((l) => l.startsWith('psrt_udp_') && !l.startsWith('#'));
    return lines.map((l) => l.replace(/^psrt_udp_/, '')).join(', ');
  } catch (e) {
    return `(metrics unavailable: ${String(e)})`;
  }
}

// ---- latency probe ---------------------------------------------------------------------------

function tcpConnect(port: number): Promise<Socket> {
  return new Promise((res, rej) => {
    const s = connect(port, '127.0.0.1');
    s.setNoDelay(true);
    s.once('connect', () => {
      s.off('error', rej);
      res(s);
    });
    s.once('error', rej);
  });
}

/** Reads exactly n bytes (handshakes only; the hot paths parse incrementally). */
function readExactly(s: Socket, n: number): Promise<Buffer> {
  return new Promise((res, rej) => {
    let buf = Buffer.alloc(0);
    const onData = (d: Buffer): void => {
      buf = Buffer.concat([buf, d]);
      if (buf.length < n) return;
      s.off('data', onData);
      s.off('error', rej);
      if (buf.length > n) s.unshift(buf.subarray(n));
      res(buf.subarray(0, n));
    };
    s.on('data', onData);
    s.once('error', rej);
  });
}

interface Probe {
  readonly pub: Socket;
  readonly sub: Socket;
  readonly data: Socket;
  close(): void;
}

async function openProbe(port: number): Promise<Probe> {
  const anonymous = Buffer.from('eeaa00', 'hex'); // control greeting, plain
  const login = Buffer.from([1, 0, 0, 0, 0]);
  const sub = await tcpConnect(port);
  sub.write(Buffer.concat([anonymous, login]));
  const token = (await readExactly(sub, 36)).subarray(4);
  const data = await tcpConnect(port);
  data.write(Buffer.concat([Buffer.from('eeab00', 'hex'), token, Buffer.from([255])]));
  await readExactly(data, 5);
  const topic = Buffer.from('lat');
  const head = Buffer.from([0x02, 0, 0, 0, 0]);
  head.writeUInt32LE(topic.length, 1);
  sub.write(Buffer.concat([head, topic]));
  await readExactly(sub, 1);
  const pub = await tcpConnect(port);
  pub.write(Buffer.concat([anonymous, login]));
  await readExactly(pub, 36);
  pub.on('data', () => undefined); // acks: one byte per publish, not needed
  // The subscriber's control socket must show life within T or psrtd ends its session.
  sub.on('data', () => undefined);
  const keepAlive = setInterval(() => sub.write(Buffer.from([0x00])), 5000);
  const close = (): void => {
    clearInterval(keepAlive);
    for (const s of [pub, sub, data]) s.destroy();
  };
  return { pub, sub, data, close };
}

function publishFrame(seq: number): Buffer {
  const f = Buffer.alloc(6 + 4 + 8);
  f[0] = 0x01;
  f[1] = 0x7f;
  f.writeUInt32LE(12, 2);
  f.write('lat\0', 6, 'latin1');
  f.writeDoubleLE(seq, 10);
  return f;
}

/** Publishes at PUBLISH_RATE for `ms`; returns latencies in µs (deliveries seen by `data`). */
async function measure(probe: Probe, ms: number): Promise<number[]> {
  const sentAt: number[] = [];
  const latencies: number[] = [];
  let pending: Buffer = Buffer.alloc(0);
  const onData = (chunk: Buffer): void => {
    const now = performance.now();
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    let off = 0;
    while (off < pending.length) {
      if (pending[off] === 0x00) { off++; continue; } // ping
      if (pending.length - off < 6) break;
      const len = pending.readUInt32LE(off + 2);
      if (pending.length - off < 6 + len) break;
      const seq = pending.readDoubleLE(off + 6 + 4);
      latencies.push((now - (sentAt[seq] ?? now)) * 1000);
      off += 6 + len;
    }
    pending = pending.subarray(off);
  };
  probe.data.on('data', onData);
  const started = performance.now();
  await new Promise<void>((res) => {
    const timer = setInterval(() => {
      const elapsed = performance.now() - started;
      const due = Math.min(Math.floor((elapsed / 1000) * PUBLISH_RATE), Math.floor((ms / 1000) * PUBLISH_RATE));
      while (sentAt.length < due) {
        sentAt.push(performance.now());
        probe.pub.write(publishFrame(sentAt.length - 1));
      }
      if (elapsed >= ms) {
        clearInterval(timer);
        res();
      }
    }, 1);
  });
  // Stragglers: a loaded machine may stall the pipeline for a while; wait, but boundedly.
  for (let waited = 0; latencies.length < sentAt.length && waited < 5000; waited += 50) {
    await new Promise((r) => setTimeout(r, 50));
  }
  probe.data.off('data', onData);
  if (latencies.length < sentAt.length) throw new Error(`lost ${sentAt.length - latencies.length} messages`);
  return latencies;
}

// ---- report ----------------------------------------------------------------------------------

function pct(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}

function median(xs: readonly number[]): number {
  return pct(xs, 50);
}

interface PhaseResult {
  readonly p50: number;
  readonly p99: number;
  readonly cpuPct: number;
  readonly flood: FloodReport | null;
}

async function runPhase(server: Server, probe: Probe, kind: 'quiet' | 'flood' | 'control', rate: number): Promise<PhaseResult> {
  let flood: Flood | null = null;
  if (kind !== 'quiet') {
    const closedPort = await freeClosedUdpPort();
    flood = Flood.start(kind === 'flood' ? server.udp : closedPort, rate);
    await new Promise((r) => setTimeout(r, FLOOD_WARMUP_MS));
  }
  const t0 = cpuTicks(server.proc.pid);
  const w0 = performance.now();
  const lat = await measure(probe, PHASE_MS);
  const cpuPct = ((cpuTicks(server.proc.pid) - t0) / 100 / ((performance.now() - w0) / 1000)) * 100;
  const report = flood === null ? null : await flood.stop();
  return { p50: pct(lat, 50), p99: pct(lat, 99), cpuPct, flood: report };
}

async function freeClosedUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  s.bind(0, '127.0.0.1');
  await once(s, 'listening');
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => { r(); }));
  return port;
}

function parseArgs(argv: readonly string[]): { cost: number; rate: number; rounds: number } {
  const o = { cost: 5, rate: 10_000, rounds: 3 };
  for (let i = 0; i < argv.length; i++) {
    const v = Number(argv[i + 1]);
    if (argv[i] === '--cost') o.cost = Math.min(12, Math.max(4, v || 5));
    else if (argv[i] === '--flood-rate') o.rate = Math.min(20_000, Math.max(100, v || 10_000));
    else if (argv[i] === '--rounds') o.rounds = Math.min(3, Math.max(1, v || 3));
    else throw new Error(`unknown option ${String(argv[i])} (see bench/udp-flood.ts)`);
    i++;
  }
  return o;
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  pinSelf();
  const server = await startServer(opts.cost);
  const results: Record<'quiet' | 'flood' | 'control', PhaseResult[]> = { quiet: [], flood: [], control: [] };
  try {
    const probe = await openProbe(server.tcp);
    await measure(probe, 1000); // warm-up: JIT, socket buffers
    for (let round = 0; round < opts.rounds; round++) {
      for (const kind of ['quiet', 'flood', 'control'] as const) {
        const r = await runPhase(server, probe, kind, opts.rate);
        results[kind].push(r);
        const f = r.flood === null ? '' : `, flood sent ${r.flood.sent}, acks back ${r.flood.replies}`;
        console.log(`round ${round + 1} ${kind.padEnd(7)} p50 ${r.p50.toFixed(0)} µs  p99 ${r.p99.toFixed(0)} µs  psrtd CPU ${r.cpuPct.toFixed(0)}%${f}`);
      }
    }
    probe.close();
    console.log(`psrtd UDP counters: ${await udpCounters(server.stats)}`);
  } finally {
    await server.proc.stop();
    rmSync(server.dir, { recursive: true, force: true });
  }
  const m = (k: keyof typeof results, f: 'p50' | 'p99'): number => median(results[k].map((r) => r[f]));
  console.log(`\nUDP flood benchmark: ${opts.rate} wrong-password datagrams/s (bcrypt cost ${opts.cost}), TCP ${PUBLISH_RATE} msg/s, ${opts.rounds} round(s), pinned: ${canPin}`);
  console.log('phase     p50 µs   p99 µs');
  for (const k of ['quiet', 'flood', 'control'] as const) {
    console.log(`${k.padEnd(8)} ${m(k, 'p50').toFixed(0).padStart(7)} ${m(k, 'p99').toFixed(0).padStart(8)}`);
  }
  const r50 = m('flood', 'p50') / m('quiet', 'p50');
  const r99 = m('flood', 'p99') / m('quiet', 'p99');
  console.log(`flood/quiet ratio: p50 ${r50.toFixed(2)}, p99 ${r99.toFixed(2)} (goal: p50 ≤ 1.20)`);
  console.log(`flood/control ratio: p50 ${(m('flood', 'p50') / m('control', 'p50')).toFixed(2)}, p99 ${(m('flood', 'p99') / m('control', 'p99')).toFixed(2)}`);
  if (r50 > 1.2) process.exitCode = 1;
}

if (isMainThread) {
  main().catch((e: unknown) => {
    console.error(e);
    process.exit(2);
  });
} else {
  void floodWorker(workerData as FloodCommand);
}
