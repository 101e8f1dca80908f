/**
 * TLS handshake benchmark (`npm run bench -- --tls-handshakes [options]`, or
 * `node dist/bench/tls-handshakes.js [options]`): server CPU time per TLS handshake and
 * handshakes/s, for psrtd (PSRT STARTTLS on the control socket, and the MQTT TLS listener) and
 * Mosquitto (MQTT TLS), with a fresh self-signed certificate (RSA-2048, or ECDSA P-256 with `--key ec`).
 *
 *   full     every connection a full handshake (no session reuse)
 *   resumed  every connection presents the session ticket of a first connection
 *
 * The server runs pinned to core 0; the client runs on core 1 with many connections in flight:
 * by default the native client (bench/load/tlsclient.c, C and OpenSSL, compiled at bench time),
 * which needs about half the server's CPU per full handshake (more per resumed one), so that the
 * server is saturated on full handshakes and the figure is its own cost per handshake rather
 * than that plus a wake-up per connection; `--client node` (or no C compiler / OpenSSL headers)
 * runs Node client processes (bench/load/tls-client.ts) instead, which cost about as much as
 * the server and leave it partly idle. Rows where the server was less than 97 % busy are
 * marked, and the clients' own CPU is reported. Server CPU per handshake = the server's utime + stime (/proc/<pid>/stat) over the
 * measured window divided by the handshakes the clients completed in it. Bounded: each client
 * stops after --seconds + 30 s or 1,000,000 handshakes at the latest.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, SHIPPED_RUNTIME, hasMosquitto, startMosquitto, startPsrtd, usePsrtdBin, type Broker, type TlsFiles } from './lib/brokers.js';
import { LOAD_CORE, SERVER_CORE, TICKS_PER_S, canPin, pinSelf, readTicks, startPinned, type Proc } from './lib/procs.js';
import { compileC, type NativeBinary } from './lib/native-build.js';
import { formatSelfTimes, profilesIn, selfTimes } from './lib/profile.js';
import type { TlsClientCounts, TlsClientJob } from './load/tls-client.js';

const CLIENT = join(REPO_ROOT, 'dist/bench/load/tls-client.js');
const FLOOR = join(REPO_ROOT, 'dist/bench/load/tls-floor.js');
/** Below this server CPU % a row is marked: the server was not the bottleneck. */
const BUSY_PCT = 97;

type Proto = 'psrt' | 'mqtt';
type Mode = 'full' | 'resumed';

interface Options {
  client: 'native' | 'node';
  key: 'rsa' | 'ec';
  servers: string[];
  protos: Proto[];
  modes: Mode[];
  workers: number;
  concurrency: number;
  seconds: number;
  warmup: number;
  rounds: number;
  tls12: boolean;
  profile: boolean;
  psrtd: string | null;
  out: string | null;
}

const USAGE = `Usage: npm run bench -- --tls-handshakes [options]

  --servers LIST      psrtd,mosquitto,node-floor (default: psrtd,mosquitto; Mosquitto only when
                      installed); node-floor is bench/load/tls-floor.ts, the least a Node server
                      does for these handshakes, on psrtd's node options
  --floor             add node-floor to the servers
  --protos LIST       psrt,mqtt (default: both; Mosquitto serves mqtt only)
  --modes LIST        full,resumed (default: both)
  --client KIND       native (C + OpenSSL, compiled now; the default) or node
  --workers N         client processes on core 1 (default: 1 native, 3 node)
  --concurrency N     connections in flight per client process (default: 48 native, 16 node)
  --seconds S         measured window per run (default 5)
  --warmup S          unmeasured seconds before it (default 1)
  --rounds N          runs per case, 1-9; figures are medians (default 3)
  --tls12             clients limited to TLS 1.2 (default: TLS 1.3)
  --key KIND          the server certificate's key: rsa (RSA-2048, the default) or ec (ECDSA P-256)
  --profile           record a CPU profile of psrtd (--cpu-prof) and print its top functions
  --psrtd BIN         benchmark another psrtd entry script
  --quick             1 round of 2 s (a smoke run, not for figures)
  --out FILE          JSON results (default bench/results/tls-<time>.json)`;

function one<T extends string>(v: string | undefined, allowed: readonly T[]): T {
  const found = allowed.find((a) => a === v);
  if (found === undefined) throw new Error(`${String(v)}: expected one of ${allowed.join(', ')}`);
  return found;
}

function list<T extends string>(v: string | undefined, allowed: readonly T[]): T[] {
  const items = (v ?? '').split(',').map((s) => s.trim());
  for (const i of items) if (!(allowed as readonly string[]).includes(i)) throw new Error(`unknown value ${i} (one of ${allowed.join(',')})`);
  return items as T[];
}

function num(v: string | undefined, min: number, max: number): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || n > max) throw new Error(`${String(v)}: expected ${min}-${max}`);
  return n;
}

function parseArgs(argv: readonly string[]): Options {
  const o: Options = { client: 'native', key: 'rsa', servers: hasMosquitto ? ['psrtd', 'mosquitto'] : ['psrtd'], protos: ['psrt', 'mqtt'], modes: ['full', 'resumed'], workers: 0, concurrency: 0, seconds: 5, warmup: 1, rounds: 3, tls12: false, profile: false, psrtd: null, out: null };
  let floor = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = (): string | undefined => argv[++i];
    if (a === '--help' || a === '-h') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else if (a === '--client') o.client = one(v(), ['native', 'node'] as const);
    else if (a === '--servers') o.servers = list(v(), ['psrtd', 'mosquitto', 'node-floor']);
    else if (a === '--floor') floor = true;
    else if (a === '--protos') o.protos = list(v(), ['psrt', 'mqtt'] as const);
    else if (a === '--modes') o.modes = list(v(), ['full', 'resumed'] as const);
    else if (a === '--workers') o.workers = num(v(), 1, 16);
    else if (a === '--concurrency') o.concurrency = num(v(), 1, 256);
    else if (a === '--seconds') o.seconds = num(v(), 1, 120);
    else if (a === '--warmup') o.warmup = num(v(), 0, 30);
    else if (a === '--rounds') o.rounds = num(v(), 1, 9);
    else if (a === '--tls12') o.tls12 = true;
    else if (a === '--key') o.key = one(v(), ['rsa', 'ec'] as const);
    else if (a === '--profile') o.profile = true;
    else if (a === '--psrtd') o.psrtd = v() ?? null;
    else if (a === '--quick') Object.assign(o, { rounds: 1, seconds: 2, warmup: 0.5 });
    else if (a === '--out') o.out = v() ?? null;
    else throw new Error(`unknown option ${String(a)} (see --help)`);
  }
  if (floor && !o.servers.includes('node-floor')) o.servers.push('node-floor');
  // Mosquitto serves MQTT only: without MQTT cases it is not started at all.
  if (!o.protos.includes('mqtt')) o.servers = o.servers.filter((s) => s !== 'mosquitto');
  return o;
}

/** Fills in the client-dependent defaults once the kind of client is known. */
function clientDefaults(o: Options): void {
  if (o.workers === 0) o.workers = o.client === 'native' ? 1 : 3;
  if (o.concurrency === 0) o.concurrency = o.client === 'native' ? 48 : 16;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * A client process and its replies, in order: over IPC (Node client) or as JSON lines on its
 * stdout (native client, which reads `mark`/`stop` lines on stdin).
 */
class Client {
  private readonly inbox: unknown[] = [];
  private waiter: (() => void) | null = null;
  private partial = '';

  constructor(readonly proc: Proc, private readonly native: boolean) {
    if (!native) {
      proc.child.on('message', (m) => { this.received(m); });
      return;
    }
    // A client that died before its exit was seen must not turn a write into an uncaught EPIPE.
    proc.child.stdin?.on('error', () => undefined);
    proc.child.stdout?.on('data', (b: Buffer) => {
      const lines = (this.partial + b.toString('utf8')).split('\n');
      this.partial = lines.pop() ?? '';
      for (const l of lines) if (l.startsWith('{')) this.received(JSON.parse(l));
    });
  }

  private received(m: unknown): void {
    this.inbox.push(m);
    this.waiter?.();
  }

  async next(ms = 20_000): Promise<unknown> {
    const deadline = performance.now() + ms;
    while (this.inbox.length === 0) {
      if (performance.now() > deadline || this.proc.child.exitCode !== null) {
        throw new Error(`client ${this.proc.pid} did not answer:\n${this.proc.output.join('\n')}`);
      }
      await new Promise<void>((r) => {
        this.waiter = r;
        setTimeout(r, 100);
      });
    }
    return this.inbox.shift();
  }

  async ask(msg: { mark?: boolean; stop?: boolean }): Promise<TlsClientCounts> {
    if (this.native) {
      if (this.proc.child.exitCode === null) this.proc.child.stdin?.write(msg.stop === true ? 'stop\n' : 'mark\n');
    }
    else this.proc.child.send(msg);
    return (await this.next()) as TlsClientCounts;
  }
}

export interface CaseResult {
  readonly server: string;
  readonly proto: Proto;
  readonly mode: Mode;
  readonly round: number;
  readonly handshakes: number;
  readonly perSecond: number;
  /** Server CPU ms per handshake. */
  readonly cpuMs: number;
  readonly serverCpuPct: number;
  /** The client processes' CPU over the same window, % of one core. */
  readonly clientCpuPct: number;
  readonly reusedPct: number;
  readonly errors: number;
  readonly firstError: string | null;
}

function sum(cs: readonly TlsClientCounts[], k: 'done' | 'reused' | 'errors'): number {
  return cs.reduce((a, c) => a + c[k], 0);
}

function startClient(job: TlsClientJob, native: NativeBinary | null): Client {
  if (native === null) {
    return new Client(startPinned(LOAD_CORE, process.execPath, [CLIENT, JSON.stringify(job)], ['ignore', 'pipe', 'pipe', 'ipc'], SHIPPED_RUNTIME.env), false);
  }
  const args = [job.port, job.proto, job.mode, job.concurrency, job.maxHandshakes, job.maxMs, job.maxVersion === 'TLSv1.2' ? 1 : 0].map(String);
  return new Client(startPinned(LOAD_CORE, native.bin, args, ['pipe', 'pipe', 'pipe']), true);
}

async function runCase(o: Options, native: NativeBinary | null, broker: Broker, proto: Proto, mode: Mode, round: number): Promise<CaseResult> {
  const port = proto === 'psrt' ? broker.port : broker.mqttTlsPort;
  const job: TlsClientJob = { port, proto, mode, concurrency: o.concurrency, maxHandshakes: 1_000_000, maxMs: (o.warmup + o.seconds + 30) * 1000, maxVersion: o.tls12 ? 'TLSv1.2' : 'TLSv1.3' };
  const clients = Array.from({ length: o.workers }, () => startClient(job, native));
  try {
    for (const c of clients) await c.next();
    await sleep(o.warmup * 1000);
    const t0 = performance.now();
    const k0 = readTicks(broker.proc.pid);
    const l0 = clients.reduce((a, c) => a + readTicks(c.proc.pid), 0);
    const c0 = await Promise.all(clients.map((c) => c.ask({ mark: true })));
    await sleep(o.seconds * 1000);
    const t1 = performance.now();
    const k1 = readTicks(broker.proc.pid);
    const l1 = clients.reduce((a, c) => a + readTicks(c.proc.pid), 0);
    const c1 = await Promise.all(clients.map((c) => c.ask({ stop: true })));
    const handshakes = sum(c1, 'done') - sum(c0, 'done');
    const cpuS = (k1 - k0) / TICKS_PER_S;
    const wallS = (t1 - t0) / 1000;
    return {
      server: broker.name, proto, mode, round, handshakes,
      perSecond: handshakes / wallS,
      cpuMs: handshakes === 0 ? NaN : (cpuS * 1000) / handshakes,
      serverCpuPct: (cpuS / wallS) * 100,
      clientCpuPct: ((l1 - l0) / TICKS_PER_S / wallS) * 100,
      reusedPct: handshakes === 0 ? 0 : ((sum(c1, 'reused') - sum(c0, 'reused')) / handshakes) * 100,
      errors: sum(c1, 'errors') - sum(c0, 'errors'),
      firstError: c1.find((c) => c.firstError !== null)?.firstError ?? null,
    };
  } finally {
    await Promise.all(clients.map((c) => c.proc.stop()));
  }
}

function makeCert(dir: string, kind: Options['key']): TlsFiles {
  const files = { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') };
  const key = kind === 'rsa' ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'];
  execFileSync('openssl', ['req', '-x509', ...key, '-nodes', '-keyout', files.key, '-out', files.cert,
    '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: 'ignore' });
  // Mosquitto started as root reads them as its `mosquitto` user: a throwaway key may be readable.
  chmodSync(dir, 0o755);
  chmodSync(files.key, 0o644);
  return files;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[m] ?? NaN) : ((s[m - 1] ?? NaN) + (s[m] ?? NaN)) / 2;
}

function table(results: readonly CaseResult[]): string {
  const keys = [...new Set(results.map((r) => `${r.server}|${r.proto}|${r.mode}`))];
  const rows = keys.map((k) => {
    const rs = results.filter((r) => `${r.server}|${r.proto}|${r.mode}` === k);
    const [server = '', proto = '', mode = ''] = k.split('|');
    const cpu = rs.map((r) => r.cpuMs);
    const busy = median(rs.map((r) => r.serverCpuPct));
    return `${server.padEnd(11)}${(proto === 'psrt' ? 'PSRT STARTTLS' : 'MQTT TLS').padEnd(15)}${mode.padEnd(9)}` +
      `${median(cpu).toFixed(3).padStart(9)} ms  (${Math.min(...cpu).toFixed(3)}–${Math.max(...cpu).toFixed(3)})` +
      `${Math.round(median(rs.map((r) => r.perSecond))).toString().padStart(8)}/s` +
      `${busy.toFixed(0).padStart(6)}%${busy < BUSY_PCT ? '*' : ' '}` +
      `${median(rs.map((r) => r.clientCpuPct)).toFixed(0).padStart(7)}%` +
      `${median(rs.map((r) => r.reusedPct)).toFixed(0).padStart(8)}%` +
      rs.reduce((a, r) => a + r.errors, 0).toString().padStart(7);
  });
  return `server     protocol       mode     srv CPU/handshake (min–max)  rate    srv CPU  client  reused  errors\n${rows.join('\n')}\n` +
    `* server busy below ${BUSY_PCT} %: the client set the rate, and each handshake also paid wake-ups of an idle loop`;
}

/** The Node.js floor (bench/load/tls-floor.ts) on psrtd's node options and environment. */
async function startFloor(tls: TlsFiles): Promise<Broker> {
  const proc = startPinned(SERVER_CORE, process.execPath, [...SHIPPED_RUNTIME.nodeArgs, FLOOR, tls.key, tls.cert], 'pipe', SHIPPED_RUNTIME.env);
  try {
    const m = await proc.waitFor(/tls-floor psrt=(\d+) mqtt=(\d+)/, 10_000);
    return { name: 'node-floor', proc, port: Number(m[1]), mqttPort: 0, mqttTlsPort: Number(m[2]), stop: () => proc.stop() };
  } catch (e) {
    await proc.stop();
    throw e;
  }
}

async function startServer(name: string, tls: TlsFiles, profileDir: string | null): Promise<Broker> {
  if (name === 'mosquitto') return startMosquitto(tls);
  if (name === 'node-floor') return startFloor(tls);
  const nodeArgs = profileDir === null ? [] : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`];
  return startPsrtd(nodeArgs, {}, true, tls);
}

/**
 * All servers run side by side and every round measures each case of each server in turn, so
 * that a slow minute of a shared machine hits all of them, not the one whose turn it was.
 */
async function runAll(o: Options, native: NativeBinary | null, tls: TlsFiles, profileDir: string | null): Promise<CaseResult[]> {
  const brokers: Broker[] = [];
  const results: CaseResult[] = [];
  try {
    for (const name of o.servers) brokers.push(await startServer(name, tls, name === 'psrtd' ? profileDir : null));
    for (let round = 1; round <= o.rounds; round++) {
      for (const broker of brokers) {
        // Mosquitto serves MQTT only.
        const protos = broker.name === 'mosquitto' ? o.protos.filter((p) => p === 'mqtt') : o.protos;
        for (const proto of protos) {
          for (const mode of o.modes) {
            const r = await runCase(o, native, broker, proto, mode, round);
            results.push(r);
            process.stderr.write(`round ${round} ${broker.name} ${proto} ${mode}: ${r.cpuMs.toFixed(3)} ms/handshake, ${Math.round(r.perSecond)}/s,` +
              ` srv ${r.serverCpuPct.toFixed(0)}%, client ${r.clientCpuPct.toFixed(0)}%, reused ${r.reusedPct.toFixed(0)}%, errors ${r.errors}${r.firstError === null ? '' : ` (${r.firstError})`}\n`);
          }
        }
      }
    }
  } finally {
    await Promise.all(brokers.map((b) => b.stop()));
  }
  return results;
}

export async function runTlsHandshakeBench(argv: readonly string[]): Promise<void> {
  const o = parseArgs(argv);
  pinSelf();
  const native = o.client === 'native' ? compileC('tlsclient', ['bench/load/tlsclient.c'], ['-lssl', '-lcrypto'], (m) => { process.stderr.write(`${m}: using the Node client\n`); }) : null;
  if (native === null) o.client = 'node';
  clientDefaults(o);
  if (o.psrtd !== null) usePsrtdBin(o.psrtd);
  const dir = mkdtempSync(join(tmpdir(), 'psrt-tls-bench-'));
  const started = performance.now();
  const before = loadavg().map((x) => x.toFixed(2)).join(' ');
  try {
    const tls = makeCert(dir, o.key);
    const profileDir = o.profile ? join(dir, 'profile') : null;
    const results = await runAll(o, native, tls, profileDir);
    console.log(`\nTLS handshakes (${o.key === 'rsa' ? 'RSA-2048' : 'ECDSA P-256'}, ${o.tls12 ? 'TLS 1.2' : 'TLS 1.3'}), medians of ${o.rounds} round(s) of ${o.seconds} s;` +
      ` ${o.workers} ${o.client} client process(es) x ${o.concurrency} connections${canPin ? ' on core 1, server on core 0' : ' (not pinned)'}`);
    console.log(`load average before: ${before}, after: ${loadavg().map((x) => x.toFixed(2)).join(' ')}\n`);
    console.log(table(results));
    if (profileDir !== null) {
      for (const f of profilesIn(profileDir)) console.log(`\npsrtd profile (self time):\n${formatSelfTimes(selfTimes(f, 25))}`);
    }
    const file = o.out ?? join(REPO_ROOT, 'bench/results', `tls-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    mkdirSync(join(file, '..'), { recursive: true });
    writeFileSync(file, `${JSON.stringify({ options: o, loadBefore: before, wallSeconds: (performance.now() - started) / 1000, results }, null, 2)}\n`);
    console.log(`\nJSON: ${file}`);
  } finally {
    native?.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1]?.endsWith('tls-handshakes.js') === true) await runTlsHandshakeBench(process.argv.slice(2));
