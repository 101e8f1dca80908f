/**
 * Network fuzzing against a spawned psrtd (issue 7 item 2): 2,000 hostile connections over
 * about 10 s (bad greetings, garbage, huge LEN fields, truncated and mutated streams, resets
 * mid-frame, slowloris senders, clients that never read, bad data tokens, stuck subscribers,
 * wrong passwords, UDP garbage) while a well-behaved pair publishes every 20 ms.
 *
 * Pass criteria:
 *  - the pair loses nothing: every publish acknowledged `01` and received once, in order;
 *  - every connection the protocol says the server must close is closed in time (T + slack);
 *  - psrtd stays up, only the pair's 2 sessions are left (/status), a fresh client works;
 *  - afterwards the open fd count is back to the baseline (+2) and the live heap after a full
 *    GC is within HEAP_TOLERANCE of the baseline; peak RSS stays under RSS_LIMIT_MB.
 * The baseline is taken after a warm-up round, so JIT code and V8's own structures are in it.
 * A longer run: scripts/soak.ts net-fuzz. Seed: HARDENING_SEED=<n> replays a run's choices.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startPsrtd, type Psrtd } from '../helpers/psrtd.js';
import { Bystander } from '../helpers/raw.js';
import { PASSWORD, TEST_ACL, makePasswd } from '../helpers/users.js';
import { runNetFuzz, type NetFuzzOptions } from '../../scripts/lib/hardening/net-fuzz.js';
import { Pair } from '../../scripts/lib/hardening/pair.js';
import { clientCounts, heapProbeEnv, mb, rssSampler, settle, snapshot } from '../../scripts/lib/hardening/proc.js';
import { randomSeed } from '../../scripts/lib/hardening/rng.js';

const TIMEOUT_S = 3;
/** Live-heap growth allowed after the run; a 2 KB leak per connection would exceed it. */
const HEAP_TOLERANCE = 4 * 1024 * 1024;
const FD_TOLERANCE = 2;
const RSS_LIMIT_MB = 300;
const SEED = Number(process.env.HARDENING_SEED ?? randomSeed());

describe('network fuzzing with a well-behaved pair', () => {
  let server: Psrtd;
  before(async () => {
    server = await startPsrtd({
      acl: TEST_ACL,
      passwd: makePasswd(),
      udp: true,
      proto: { timeout: TIMEOUT_S },
      server: { data_queue: 256, data_drain_timeout: 1, max_pub_size: 100000, bind_stats: '127.0.0.1:0' },
      env: heapProbeEnv(),
    });
  });
  after(async () => {
    assert.equal(await server.stop(), 0);
  });

  const options = (connections: number, durationMs: number, weights: NetFuzzOptions['weights'] = {}): NetFuzzOptions => ({
    port: server.port,
    udpPort: server.udpPort,
    connections,
    durationMs,
    maxConcurrent: 600,
    seed: SEED,
    context: { timeoutMs: TIMEOUT_S * 1000, slowByteMs: 250, slackMs: 4000, user: { login: 'limited', password: PASSWORD } },
    weights,
  });
  /** The warm-up leaves out the behaviours that take T or longer, so the baseline comes quickly. */
  const QUICK = { slowloris: 0, noRead: 0, stuckSubscriber: 0, dataNoToken: 0 };

  test(`2,000 hostile connections; the pair loses nothing; fds and heap return (seed ${SEED})`, async () => {
    const pair = await Pair.start(server.port);
    pair.run(20, 300); // pings well within T even when this process lags behind
    try {
      await runNetFuzz(options(100, 1000, QUICK)); // warm-up: JIT and V8 structures belong in the baseline
      const baseline = await settle(server, await snapshot(server), 0, 2 * TIMEOUT_S * 1000);
      const rss = rssSampler(server.proc.pid ?? 0);
      const report = await runNetFuzz(options(2000, 10_000));
      const peakRss = rss.stop();
      const final = await settle(server, baseline, FD_TOLERANCE, 4 * TIMEOUT_S * 1000);
      const result = await pair.stop(10_000);
      const summary = JSON.stringify({ seed: SEED, elapsedMs: Math.round(report.elapsedMs), outcomes: report.outcomes, pair: result });
      assert.deepEqual(report.bad, [], summary);
      assert.ok(!result.lostSocket && result.badReplies === 0, summary);
      assert.equal(result.acked, result.sent, summary);
      assert.equal(result.received, result.sent, summary);
      assert.equal(result.orderErrors, 0, summary);
      assert.ok(result.sent > 400, `the pair published only ${result.sent} messages: ${summary}`);
      assert.equal(server.proc.exitCode, null, 'psrtd is still running');
      assert.deepEqual(await clientCounts(server), { clients: 2, subscriptions: 1 }, 'only the pair is left');
      assert.ok(final.fds <= baseline.fds + FD_TOLERANCE, `fds ${baseline.fds} → ${final.fds}`);
      const growth = final.heap.heapUsed - baseline.heap.heapUsed;
      assert.ok(growth <= HEAP_TOLERANCE, `heap ${mb(baseline.heap.heapUsed)} → ${mb(final.heap.heapUsed)} MB`);
      assert.ok(peakRss < RSS_LIMIT_MB, `peak RSS ${peakRss.toFixed(0)} MB`);
      const bystander = await Bystander.create(server.port);
      await bystander.check();
      bystander.close();
      process.stdout.write(
        `# net fuzz: ${summary}\n# fds ${baseline.fds} → ${final.fds}, heap ${mb(baseline.heap.heapUsed)} → ${mb(final.heap.heapUsed)} MB, ` +
          `peak RSS ${peakRss.toFixed(0)} MB, UDP datagrams ${report.udpDatagrams}\n`,
      );
    } finally {
      pair.close();
    }
  });
});
