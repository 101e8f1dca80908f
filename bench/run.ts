/**
 * `npm run bench` — the benchmark suite of issue 6 (see docs/performance.md).
 *
 *   node dist/bench/run.js [--quick] [--scenario a,b,c,d,e,ceiling] [--rounds N]
 *                          [--no-mosquitto] [--profile] [--psrtd BIN] [--node-arg ARG]...
 *                          [--psrtd-env KEY=VALUE]...
 *                          [--micro] [--out FILE]
 *
 * Each round runs every selected scenario against a fresh psrtd (pinned to core 0) and, when
 * installed, a fresh Mosquitto, with the load generator pinned to core 1; the printed figures
 * are medians over the rounds. Results also go to bench/results/<time>.json.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, hasMosquitto, usePsrtdBin, usePsrtdEnv, usePsrtdNodeArgs } from './lib/brokers.js';
import { canPin, pinSelf } from './lib/procs.js';
import { formatSelfTimes } from './lib/profile.js';
import {
  extraSubsTable,
  latencyTable,
  summarize,
  targetTable,
  targets,
  throughputTable,
} from './lib/report.js';
import { protosOf, runScenario, scenarios, type RunRecord, type Timing } from './lib/scenarios.js';
import { runBridgeBench } from './bridges.js';
import { runTlsHandshakeBench } from './tls-handshakes.js';
import { runAuthFilesBench } from './auth-files.js';
import { runMicro } from './micro.js';
import { runScaleBench } from './scale/run.js';

interface Options {
  quick: boolean;
  rounds: number;
  /** Unmeasured load before each window; null = the default of the timing. */
  warmupMs: number | null;
  groups: Set<string> | null;
  mosquitto: boolean;
  micro: boolean;
  profile: boolean;
  psrtd: string | null;
  nodeArgs: string[];
  env: Record<string, string>;
  out: string | null;
}

const USAGE = `Usage: npm run bench -- [options]   (or: node dist/bench/run.js [options])

Runs the benchmark suite (docs/performance.md) against a psrtd it starts itself, pinned to
core 0, with the load generator on core 1; Mosquitto runs the same scenarios when installed.

Options:
  --quick                 short windows, 1 round (a smoke run, not for figures)
  --scenario LIST         comma-separated groups or scenario ids (e.g. l-1k-1): ceiling,a,b,c,d,e,f,l,m,x (default: all;
                          l = latency tail at 1k/10k msg/s 1→1 and 1→100, m = MQTT on psrtd
                          vs Mosquitto, x = PSRT<->MQTT across protocols)
  --rounds N              rounds, 1-9 (default 3); figures are medians
  --warmup-ms MS          load before each measured window, unmeasured (default 750; every
                          round starts a fresh server, so with the default the window includes
                          the first seconds of a new psrtd process: JIT compilation shows in
                          the latency tail, see docs/performance.md, "Latency tail")
  --no-mosquitto          skip Mosquitto even if installed
  --profile               record a CPU profile of psrtd per scenario (--cpu-prof)
  --psrtd BIN             benchmark another psrtd entry script (A/B comparisons)
  --node-arg ARG          extra node option for psrtd (repeatable)
  --psrtd-env KEY=VALUE   extra environment for psrtd (repeatable)
  --micro                 run only the micro-benchmarks
  --bridges [OPTS]        run only the bridge benchmark (bench/bridges.ts: two psrtd joined
                          through a 3-node NATS cluster, cluster replication and Mosquitto);
                          the options after it (--paths, --messages, --rate, --quick) are its own
  --scale [OPTS]          run only the scale benchmark (bench/scale/: N idle sessions, RSS per
                          session, idle CPU, latency to one of N, reconnect storm); the options
                          after it are its own (--scale --help)
  --auth-files [OPTS]     run only the auth file benchmark (bench/auth-files.ts: parse time and
                          memory of acl.yml, the password file and keys.yml of 100k/1M users,
                          psrtd's start and a SIGHUP reload on them); --auth-files --help
  --tls-handshakes [OPTS] run only the TLS handshake benchmark (bench/tls-handshakes.ts: server
                          CPU per full and resumed handshake, psrtd vs Mosquitto); the options
                          after it are its own (--tls-handshakes --help)
  --out FILE              JSON results file (default bench/results/bench-<time>.json)
  -h, --help              print this help`;

function parseArgs(argv: readonly string[]): Options {
  const o: Options = { quick: false, rounds: 3, warmupMs: null, groups: null, mosquitto: hasMosquitto, micro: false, profile: false, psrtd: null, nodeArgs: [], env: {}, out: null };
  let roundsGiven = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--help' || a === '-h') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else if (a === '--quick') o.quick = true;
    else if (a === '--micro') o.micro = true;
    else if (a === '--profile') o.profile = true;
    else if (a === '--psrtd') o.psrtd = argv[++i] ?? null;
    else if (a === '--node-arg') o.nodeArgs.push(argv[++i] ?? '');
    else if (a === '--psrtd-env') {
      const [k = '', ...v] = (argv[++i] ?? '').split('=');
      o.env[k] = v.join('=');
    }
    else if (a === '--no-mosquitto') o.mosquitto = false;
    else if (a === '--scenario') o.groups = new Set((argv[++i] ?? '').split(',').map((s) => s.trim()));
    else if (a === '--rounds') {
      o.rounds = Math.max(1, Math.min(9, Number(argv[++i] ?? 3) || 3));
      roundsGiven = true;
    } else if (a === '--warmup-ms') {
      const ms = Number(argv[++i]);
      if (!Number.isFinite(ms) || ms < 0 || ms > 60_000) throw new Error('--warmup-ms: expected 0-60000');
      o.warmupMs = ms;
    } else if (a === '--out') o.out = argv[++i] ?? null;
    else throw new Error(`unknown option ${a} (see --help)`);
  }
  if (o.quick && !roundsGiven) o.rounds = 1;
  return o;
}

function timing(quick: boolean): Timing {
  return quick
    ? { warmupMs: 500, durationMs: 1500, latencyMs: 2500, drainMs: 5000 }
    : { warmupMs: 750, durationMs: 3000, latencyMs: 6000, drainMs: 10_000 };
}

function uptime(): string {
  try {
    return execFileSync('uptime', { encoding: 'utf8' }).trim();
  } catch {
    return `load average: ${loadavg().map((x) => x.toFixed(2)).join(', ')}`;
  }
}

function machine(): Record<string, unknown> {
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    node: process.version,
    pinned: canPin ? 'server: taskset -c 0, load: taskset -c 1' : 'not pinned (no taskset or < 2 cores)',
  };
}

async function runRounds(o: Options, t: Timing): Promise<RunRecord[]> {
  const all = scenarios(o.mosquitto).filter((s) => (o.groups === null ? true : o.groups.has(s.group) || o.groups.has(s.id)));
  const records: RunRecord[] = [];
  for (let round = 1; round <= o.rounds; round++) {
    for (const sc of all) {
      for (const broker of sc.brokers) {
        for (const proto of protosOf(broker, o.mosquitto, sc)) {
          const started = performance.now();
          const profileDir = o.profile ? join(REPO_ROOT, 'bench/results/profiles', `${sc.id}-r${round}-${Date.now()}`) : null;
          const r = await runScenario(sc, broker, proto, t, round, profileDir);
          records.push(r);
          const lat = r.latency === null ? '' : ` p50=${r.latency.p50.toFixed(1)}µs p99=${r.latency.p99.toFixed(1)}µs`;
          process.stderr.write(
            `round ${round} ${sc.id} ${broker}/${proto}: ${Math.round(r.delivered).toLocaleString('en-US')} deliv/s${lat}` +
              ` srv ${r.serverCpuPct.toFixed(0)}% (${((r.serverCpuPct * 1e4) / r.delivered).toFixed(2)} µs/msg) gen ${r.genCpuPct.toFixed(0)}% rss ${r.rssMb.toFixed(1)} MB loss=${r.loss} dup=${r.duplicates}` +
              ` ooo=${r.outOfOrder} (${((performance.now() - started) / 1000).toFixed(1)} s)\n`,
          );
          for (const e of r.errors) process.stderr.write(`  error: ${e}\n`);
        }
      }
    }
  }
  return records;
}

async function main(): Promise<void> {
  const bridges = process.argv.indexOf('--bridges');
  if (bridges >= 0) {
    await runBridgeBench(process.argv.slice(bridges + 1));
    return;
  }
  const scale = process.argv.indexOf('--scale');
  if (scale >= 0) {
    await runScaleBench(process.argv.slice(scale + 1));
    return;
  }
  const authFiles = process.argv.indexOf('--auth-files');
  if (authFiles >= 0) {
    await runAuthFilesBench(process.argv.slice(authFiles + 1));
    return;
  }
  const tls = process.argv.indexOf('--tls-handshakes');
  if (tls >= 0) {
    await runTlsHandshakeBench(process.argv.slice(tls + 1));
    return;
  }
  const o = parseArgs(process.argv.slice(2));
  pinSelf();
  if (o.psrtd !== null) usePsrtdBin(o.psrtd);
  usePsrtdNodeArgs(o.nodeArgs);
  usePsrtdEnv(o.env);
  if (o.micro) {
    await runMicro(o.quick);
    return;
  }
  const t = { ...timing(o.quick), ...(o.warmupMs === null ? {} : { warmupMs: o.warmupMs }) };
  const before = uptime();
  process.stderr.write(`${before}\n${JSON.stringify(machine())}\n`);
  if (!o.mosquitto) process.stderr.write('mosquitto not installed (or --no-mosquitto): no baseline ratios\n');
  const started = performance.now();
  const records = await runRounds(o, t);
  const after = uptime();
  const summaries = summarize(records);
  const verdicts = targets(summaries);
  const titles = new Map(scenarios(o.mosquitto).map((s) => [s.id, s.title]));
  const rounds = `${o.rounds} round${o.rounds > 1 ? 's' : ''}`;
  console.log(`\npsrtd benchmark — medians of ${rounds}; ${String(machine().cpu)}, ${cpus().length} cores`);
  console.log(`load before: ${before}\nload after:  ${after}\n`);
  console.log(throughputTable(summaries, titles), '\n');
  if (summaries.some((s) => s.latency !== null)) console.log(latencyTable(summaries), '\n');
  if (summaries.some((s) => s.scenario.startsWith('e-'))) console.log(extraSubsTable(summaries), '\n');
  if (verdicts.length > 0) console.log(targetTable(verdicts));
  for (const r of records.filter((x) => x.profile !== null && x.round === o.rounds)) {
    console.log(`\npsrtd profile, ${r.scenario} (self time, top functions):\n${formatSelfTimes(r.profile ?? [])}`);
  }
  const file = o.out ?? join(REPO_ROOT, 'bench/results', `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  mkdirSync(join(file, '..'), { recursive: true });
  const doc = { machine: machine(), uptimeBefore: before, uptimeAfter: after, options: { ...o, groups: o.groups === null ? null : [...o.groups] }, timing: t, wallSeconds: (performance.now() - started) / 1000, summaries, targets: verdicts, records };
  writeFileSync(file, `${JSON.stringify(doc, null, 2)}\n`);
  console.log(`\nJSON: ${file} (${((performance.now() - started) / 1000).toFixed(0)} s)`);
  const failed = summaries.some((s) => s.broker === 'psrtd' && s.loss + s.duplicates + s.outOfOrder + s.corrupt > 0);
  process.exitCode = failed ? 1 : 0;
}

await main();
