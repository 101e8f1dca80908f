/**
 * Bounded soak runs against a spawned psrtd (issue 7 items 2 and 3), longer than the test run:
 *
 *   node dist/scripts/soak.js storm    [--cycles 10000] [--concurrency 20]
 *   node dist/scripts/soak.js net-fuzz [--connections 20000] [--seconds 200] [--seed N]
 *
 * Both run the well-behaved pair throughout and work in 10 rounds, probing the live heap
 * (after a full GC) between rounds, so a leak shows as a rising series rather than one number.
 * Pass criteria (exit 0, else 1): the pair lost nothing; every connection the server must close
 * was closed in time (net-fuzz); afterwards fds are back to the baseline (+2), only the pair's
 * sessions are left, and the live heap is within 8 MB of the baseline.
 */
import { parseArgs } from 'node:util';
import { startPsrtd, type Psrtd } from '../test/helpers/psrtd.js';
import { PASSWORD, TEST_ACL, makePasswd } from '../test/helpers/users.js';
import { runNetFuzz } from './lib/hardening/net-fuzz.js';
import { Pair } from './lib/hardening/pair.js';
import { clientCounts, heapProbeEnv, mb, rssSampler, settle, snapshot } from './lib/hardening/proc.js';
import { randomSeed } from './lib/hardening/rng.js';
import { pool, stormCycle } from './lib/hardening/storm.js';

const T_S = 2;
const HEAP_TOLERANCE = 8 * 1024 * 1024;
const ROUNDS = 10;

type Round = (server: Psrtd, round: number) => Promise<string[]>;

function parse(): { mode: string; values: Record<string, string | undefined> } {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      cycles: { type: 'string' },
      concurrency: { type: 'string' },
      connections: { type: 'string' },
      seconds: { type: 'string' },
      seed: { type: 'string' },
    },
  });
  return { mode: positionals[0] ?? '', values };
}

function num(v: string | undefined, fallback: number): number {
  const n = v === undefined ? fallback : Number(v);
  if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`bad number ${v ?? ''}`);
  return n;
}

/** Runs `round` ROUNDS times beside the pair and checks the pass criteria. */
async function soak(title: string, round: Round): Promise<boolean> {
  const server = await startPsrtd({
    acl: TEST_ACL,
    passwd: makePasswd(),
    udp: true,
    proto: { timeout: T_S },
    server: { data_queue: 256, data_drain_timeout: 1, max_pub_size: 100000, bind_stats: '127.0.0.1:0' },
    env: heapProbeEnv(),
  });
  const pair = await Pair.start(server.port);
  pair.run(20, 500);
  const problems: string[] = [];
  try {
    await round(server, -1); // warm-up
    const base = await settle(server, await snapshot(server), 0, 2 * T_S * 1000);
    const rss = rssSampler(server.proc.pid ?? 0, 500);
    const t0 = performance.now();
    const series: string[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      problems.push(...(await round(server, r)));
      const s = await settle(server, base, 2, 3 * T_S * 1000);
      series.push(`${mb(s.heap.heapUsed)}/${s.fds}`);
      process.stdout.write(`  round ${r + 1}/${ROUNDS}: heap ${mb(s.heap.heapUsed)} MB, fds ${s.fds}\n`);
    }
    const final = await settle(server, base, 2, 3 * T_S * 1000);
    const counts = await clientCounts(server);
    const result = await pair.stop(20_000);
    if (final.fds > base.fds + 2) problems.push(`fds ${base.fds} → ${final.fds}`);
    if (counts.clients !== 2 || counts.subscriptions !== 1) problems.push(`sessions left: ${JSON.stringify(counts)}`);
    if (final.heap.heapUsed - base.heap.heapUsed > HEAP_TOLERANCE) problems.push('heap did not return');
    if (result.received !== result.sent || result.acked !== result.sent || result.orderErrors > 0 || result.lostSocket) {
      problems.push(`pair: ${JSON.stringify(result)}`);
    }
    process.stdout.write(
      `${title}: ${((performance.now() - t0) / 1000).toFixed(0)} s; heap MB/fds per round (baseline ${mb(base.heap.heapUsed)}/${base.fds}): ` +
        `${series.join(' ')}; peak RSS ${rss.stop().toFixed(0)} MB; pair ${JSON.stringify(result)}\n`,
    );
  } finally {
    pair.close();
    await server.stop();
  }
  for (const p of problems.slice(0, 50)) process.stdout.write(`  problem: ${p}\n`);
  process.stdout.write(problems.length === 0 ? 'PASSED\n' : `FAILED (${problems.length} problems)\n`);
  return problems.length === 0;
}

function storm(values: Record<string, string | undefined>): Promise<boolean> {
  const cycles = num(values.cycles, 10_000);
  const concurrency = num(values.concurrency, 20);
  const perRound = Math.ceil(cycles / ROUNDS);
  return soak(`storm: ${cycles} cycles, ${concurrency} at a time`, async (server, r) => {
    const problems: string[] = [];
    const n = r < 0 ? 200 : perRound;
    await pool(n, concurrency, (i) => stormCycle(server.port, i).catch((e: unknown) => {
      problems.push(`cycle ${i}: ${String(e)}`);
    }));
    return problems;
  });
}

function netFuzz(values: Record<string, string | undefined>): Promise<boolean> {
  const connections = num(values.connections, 20_000);
  const seconds = num(values.seconds, 200);
  const seed = num(values.seed, randomSeed());
  return soak(`net-fuzz: ${connections} connections over ${seconds} s, seed ${seed}`, async (server, r) => {
    const n = r < 0 ? 200 : Math.ceil(connections / ROUNDS);
    const report = await runNetFuzz({
      port: server.port,
      udpPort: server.udpPort,
      connections: n,
      durationMs: r < 0 ? 2000 : (seconds * 1000) / ROUNDS,
      maxConcurrent: 400,
      seed: seed + r,
      context: { timeoutMs: T_S * 1000, slowByteMs: 1000, slackMs: 5000, user: { login: 'limited', password: PASSWORD } },
    });
    return report.bad;
  });
}

async function main(): Promise<void> {
  const { mode, values } = parse();
  const run = mode === 'storm' ? storm : mode === 'net-fuzz' ? netFuzz : null;
  if (run === null) {
    process.stderr.write('usage: soak.js storm [--cycles N] [--concurrency N] | net-fuzz [--connections N] [--seconds S] [--seed N]\n');
    process.exit(2);
  }
  process.exit((await run(values)) ? 0 : 1);
}

main().catch((e: unknown) => {
  process.stderr.write(`soak: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
