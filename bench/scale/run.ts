/**
 * Scale benchmark (`npm run bench -- --scale [options]`): how many idle sessions a server holds
 * and at what cost, for psrtd as shipped and Mosquitto in the same run. See docs/performance.md,
 * "Scale benchmark". The server runs pinned to core 0; the load clients (raw sockets, in
 * child processes: the native epoll client, or the Node one) and this orchestrator on core 1.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, hasMosquitto, usePsrtdNodeArgs } from '../lib/brokers.js';
import { canPin, pinSelf } from '../lib/procs.js';
import { extrapolateMb, kbPerSession, marginalKbPerSession, table } from './report.js';
import { buildNativeClient } from './native.js';
import { osLimits, type ServerName } from './servers.js';
import { measuresDelivery, runTarget, type TargetOptions, type TargetResult } from './target.js';
import type { Proto } from './wire.js';

const USAGE = `Usage: npm run bench -- --scale [options]

N idle sessions (PSRT: control + data socket; MQTT 3.1.1: one connection) held by raw-socket
load clients, against psrtd as shipped and Mosquitto: connect rate, server RSS per session,
idle CPU, publish→delivery latency to one of the N, a delivery check, and a reconnect storm.

Options:
  --n N                sessions per target (default 9900; at most ~9,990 PSRT sessions fit
                       the 20,000 open files of one server process)
  --proto P            psrt | mqtt | both (default both; mqtt = psrtd's MQTT and Mosquitto)
  --no-mosquitto       skip Mosquitto
  --floor              also measure the Node.js floor (bench/load/reflector.ts with data pings,
                       on psrtd's node options): a Node server that does no more per session
                       than the protocol requires; connect, RSS and idle CPU only
  --only-floor         measure only the Node.js floor
  --keepalive K        client keepalive interval, s (default 20)
  --idle-seconds S     idle window for the CPU figure (default 60)
  --settle-seconds S   wait before each RSS reading (default 5)
  --window W           handshakes in flight over all clients (default 200)
  --per-client N       sessions per client process (default 4950; at least 2 processes)
  --probes N           latency probes (default 2000) at --rate R msg/s (default 1000)
  --warmup-probes N    probes sent first and reported apart, as the first messages after the
                       idle window (default 500; 0 = none): the broker's publish and delivery
                       path runs for the first time then (JIT compilation in psrtd)
  --storm [MODE]       after the measurements: restart (default: kill the server by PID and
                       start it on the same ports) or drop (clients drop all sockets at once)
  --storms K           K storms in a row, each with its check and a settle (default 1): the
                       report lists RSS after each (memory that comes back or ratchets)
  --jitter-ms MS       random delay before each reconnect in a storm (default 500)
  --timeout S          give up waiting for all sessions after S s (default 300)
  --client C           native (default: a C epoll client compiled now with cc -O2; the Node
                       client when that fails) or node (raw node:net sockets)
  --quick              N=1000, 10 s idle window, 1 s settles, 500 probes (a smoke run)
  --node-arg ARG       extra node option for psrtd (and the floor), after the launcher's
                       (repeatable; e.g. --cpu-prof --cpu-prof-dir=DIR to profile it)
  --out FILE           JSON results (default bench/results/scale-<time>.json)
  -h, --help           this help`;

interface Options extends Omit<TargetOptions, 'nativeClient'> {
  readonly client: 'native' | 'node';
  readonly protos: readonly Proto[];
  readonly mosquitto: boolean;
  /** 'also': the Node.js floor after the other targets; 'only': just the floor. */
  readonly floor: 'no' | 'also' | 'only';
  readonly out: string | null;
}

const ADDRS = Array.from({ length: 8 }, (_, i) => `127.0.0.${i + 2}`);

function num(v: string | undefined, name: string): number {
  const x = Number(v);
  if (v === undefined || !Number.isFinite(x) || x < 0) throw new Error(`${name}: a number is needed`);
  return x;
}

function parse(argv: readonly string[]): Options {
  const quick = argv.includes('--quick');
  const o = {
    n: quick ? 1000 : 9900, keepaliveS: 20, idleS: quick ? 10 : 60, settleS: quick ? 1 : 5, window: 200,
    perClient: 4950, addrs: ADDRS, probes: quick ? 500 : 2000, warmupProbes: quick ? 100 : 500, probeRate: 1000,
    storm: null as 'restart' | 'drop' | null, storms: 1, jitterMs: 500, timeoutS: 300,
    client: 'native' as 'native' | 'node', protos: ['psrt', 'mqtt'] as Proto[], mosquitto: hasMosquitto, floor: 'no' as 'no' | 'also' | 'only', out: null as string | null,
  };
  const nodeArgs: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = (): string | undefined => argv[++i];
    if (a === '--help' || a === '-h') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else if (a === '--quick') continue;
    else if (a === '--n') o.n = Math.max(1, Math.round(num(next(), a)));
    else if (a === '--proto') {
      const p = next();
      if (p !== 'psrt' && p !== 'mqtt' && p !== 'both') throw new Error('--proto: psrt, mqtt or both');
      o.protos = p === 'both' ? ['psrt', 'mqtt'] : [p];
    } else if (a === '--client') {
      const c = next();
      if (c !== 'native' && c !== 'node') throw new Error('--client: native or node');
      o.client = c;
    } else if (a === '--no-mosquitto') o.mosquitto = false;
    else if (a === '--floor') o.floor = 'also';
    else if (a === '--only-floor') o.floor = 'only';
    else if (a === '--keepalive') o.keepaliveS = Math.max(1, Math.min(127, num(next(), a)));
    else if (a === '--idle-seconds') o.idleS = num(next(), a);
    else if (a === '--settle-seconds') o.settleS = num(next(), a);
    else if (a === '--window') o.window = Math.max(1, num(next(), a));
    else if (a === '--per-client') o.perClient = Math.max(1, num(next(), a));
    else if (a === '--probes') o.probes = num(next(), a);
    else if (a === '--warmup-probes') o.warmupProbes = Math.round(num(next(), a));
    else if (a === '--rate') o.probeRate = Math.max(1, num(next(), a));
    else if (a === '--jitter-ms') o.jitterMs = num(next(), a);
    else if (a === '--timeout') o.timeoutS = Math.max(1, num(next(), a));
    else if (a === '--out') o.out = next() ?? null;
    else if (a === '--node-arg') nodeArgs.push(next() ?? '');
    else if (a === '--storms') o.storms = Math.max(1, Math.round(num(next(), a)));
    else if (a === '--storm') {
      const m = argv[i + 1];
      o.storm = m === 'drop' || m === 'restart' ? m : 'restart';
      if (m === 'drop' || m === 'restart') i++;
    } else throw new Error(`--scale: unknown option ${a} (see --scale --help)`);
  }
  usePsrtdNodeArgs(nodeArgs);
  return o;
}

function targets(o: Options): [ServerName, Proto][] {
  const out: [ServerName, Proto][] = [];
  const full = o.floor !== 'only';
  if (o.protos.includes('psrt')) {
    if (full) out.push(['psrtd', 'psrt']);
    if (o.floor !== 'no') out.push(['node-floor', 'psrt']);
  }
  if (o.protos.includes('mqtt')) {
    if (full) out.push(['psrtd', 'mqtt']);
    if (o.floor !== 'no') out.push(['node-floor', 'mqtt']);
    if (full && o.mosquitto) out.push(['mosquitto', 'mqtt']);
  }
  return out;
}

function uptime(): string {
  try {
    return execFileSync('uptime', { encoding: 'utf8' }).trim();
  } catch {
    return `load average: ${loadavg().map((x) => x.toFixed(2)).join(', ')}`;
  }
}

function summary(r: TargetResult): Record<string, number | null> {
  return {
    kbPerSession: kbPerSession(r),
    marginalKbPerSession: marginalKbPerSession(r),
    serverCpuUsPerSession: (r.serverCpuConnectS / r.n) * 1e6,
    clientCpuUsPerSession: (r.clientCpuConnectS / r.n) * 1e6,
    mbAt100k: extrapolateMb(r, 100_000),
    mbAt1M: extrapolateMb(r, 1_000_000),
    sessionsPerS: r.connectS === null ? null : r.n / r.connectS,
  };
}

export async function runScaleBench(argv: readonly string[]): Promise<void> {
  const o = parse(argv);
  pinSelf();
  const native = o.client === 'native' ? buildNativeClient((s) => process.stderr.write(`${s}\n`)) : null;
  const to: TargetOptions = { ...o, nativeClient: native?.bin ?? null };
  const clientKind = native === null ? 'node (bench/scale/client.ts)' : 'native (bench/scale/loadclient.c, cc -O2)';
  const limits = osLimits();
  const before = uptime();
  const machine = { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.version, pinned: canPin ? 'server: core 0; clients, orchestrator: core 1' : 'not pinned', loadClient: clientKind };
  process.stderr.write(`${before}\n${JSON.stringify(machine)}\n`);
  const results: TargetResult[] = [];
  const started = performance.now();
  for (const [server, proto] of targets(o)) {
    process.stderr.write(`${server}/${proto}: ${o.n} sessions\n`);
    try {
      results.push(await runTarget(server, proto, to, (s) => process.stderr.write(`${s}\n`)));
    } catch (e) {
      process.stderr.write(`  ${server}/${proto} FAILED: ${e instanceof Error ? e.message : String(e)}\n`);
    }
  }
  native?.dispose();
  const after = uptime();
  console.log(`\nscale benchmark — ${machine.cpu}, ${machine.cores} cores, Node ${process.version}`);
  console.log(`load client: ${clientKind}\nload before: ${before}\nload after:  ${after}`);
  console.log(Object.entries(limits).map(([k, v]) => `${k}: ${v}`).join('\n'), '\n');
  console.log(table(results));
  for (const r of results) for (const e of r.errors) console.log(`${r.server}/${r.proto}: ${e}`);
  const file = o.out ?? join(REPO_ROOT, 'bench/results', `scale-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  mkdirSync(join(file, '..'), { recursive: true });
  const doc = { machine, limits, uptimeBefore: before, uptimeAfter: after, options: o, wallSeconds: (performance.now() - started) / 1000, results: results.map((r) => ({ ...r, summary: summary(r) })) };
  writeFileSync(file, `${JSON.stringify(doc, null, 2)}\n`);
  console.log(`\nJSON: ${file} (${((performance.now() - started) / 1000).toFixed(0)} s)`);
  const bad = results.length < targets(o).length || results.some((r) => r.connectS === null || (measuresDelivery(r.server) && r.check?.ok !== true) || (r.storm !== null && r.storm.check?.ok !== true));
  process.exitCode = bad ? 1 : 0;
}
