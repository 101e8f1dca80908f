/**
 * /metrics against Prometheus' own validator: `promtool check metrics` (Debian package
 * `prometheus`, installed by .ci/run) parses the exposition and lints names, units, suffixes
 * and reserved labels. Every family is rendered: broker, queue depths, UDP, refusals, MQTT,
 * cluster (a node name with quotes, a backslash and a newline) and bridges.
 *
 * Fails, never skips, without promtool: a metric that breaks Prometheus' rules must not go
 * unnoticed because the tool was missing.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { MqttCounters } from '../../src/mqtt/counters.js';
import { startPsrtd } from '../helpers/psrtd.js';
import { login, publishFrame } from '../helpers/raw.js';
import type { BridgeStatusView } from '../../src/stats/bridges.js';
import { ProcessMetrics, renderMetrics } from '../../src/stats/index.js';
import { FakeBroker } from './helpers.js';

const PROMTOOL = process.env.PSRT_PROMTOOL ?? 'promtool';

const bridge = (name: string, type: string): BridgeStatusView => ({
  name, type, state: 'online', server: '127.0.0.1:4222', buffered: 1, bufferedBytes: 10,
  counters: { exported: 5, exportedBytes: 50, imported: 2, importedBytes: 20, dropped: 0, unmappable: 0, echoes: 0, connects: 1 },
});

async function fullExposition(): Promise<string> {
  const broker = new FakeBroker();
  Object.assign(broker.counters, { pubMessages: 10, pubBytes: 160, sentMessages: 9, sentBytes: 200, sentLatency: 1_500 });
  broker.depths = [0, 3, 700];
  const mqtt = new MqttCounters();
  mqtt.connects = 3;
  const proc = new ProcessMetrics();
  await proc.sample(); // the event-loop lag families appear from the second sample on
  await new Promise((r) => setTimeout(r, 20));
  const sample = await proc.sample();
  proc.stop();
  return renderMetrics({
    broker, dataQueueSize: 1024, version: '0.3.6', host: 'node"1\\x',
    udpStats: () => ({ received: 4, truncated: 0, acked: 4, accepted: 3, denied: 1, rateLimited: 0 }),
    clusterStatus: () => ({ '127.0.0.1:2874': 'online', '/run/a"b\\c\nd.sock': 'offline' }),
    clusterNodes: () => [{ path: '127.0.0.1:2874', queued: 2, stats: { sent: 5, notRequired: 1, dropped: 0, lost: 0 } }],
    mqttStats: () => ({ connections: 1, sessions: 2, subscriptions: 3, retainedCount: 1, retainedBytes: 9, retainedRefused: 0, queued: 0, counters: mqtt, persistence: { file: '/var/lib/psrtd/mqtt-state.bin', saves: 3, saveFailures: 1, failing: false, lastSaveMs: 1.7e12, lastSaveDurationMs: 120, fileBytes: 4096 } }),
    bridgeStatus: () => [bridge('cloud', 'nats'), bridge('up', 'mqtt')],
    connectionRefusals: () => ({ maxConnections: 1, fdExhausted: 0 }),
  }, sample);
}

function promtool(text: string): void {
  const run = spawnSync(PROMTOOL, ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 20_000 });
  if (run.error !== undefined) {
    assert.fail(`cannot run ${PROMTOOL} (${run.error.message}): install it with apt-get install prometheus, or set PSRT_PROMTOOL`);
  }
  assert.equal(`${run.stdout}${run.stderr}`, '', 'promtool reported problems');
  assert.equal(run.status, 0);
}

test('promtool check metrics accepts every /metrics family without a lint problem', async () => {
  promtool(await fullExposition());
});

test("promtool accepts a real psrtd's /metrics: UDP, MQTT with persistence, a neighbour, a bridge", async () => {
  const psrtd = await startPsrtd({
    server: { bind_stats: '127.0.0.1:0' },
    udp: true,
    mqtt: { persistence_file: 'mqtt-state.bin' },
    cluster: '- path: 127.0.0.1:9\n  user: repl\n  password: x\n',
    extra: 'bridges:\n  node_id: edge1\n  list:\n    - name: up\n      type: mqtt\n      servers: [mqtt://127.0.0.1:9]\n      out: "#"\n',
  });
  try {
    // A topic a label would break if topics were labels (they must not be: unbounded).
    const pub = await login(psrtd.port);
    pub.ctl.send(publishFrame('a"b\\c\nd', 'x'));
    const url = `http://127.0.0.1:${String(psrtd.statsPort)}/metrics`;
    await (await fetch(url)).text(); // the event-loop lag families appear from the second scrape on
    await new Promise((resolve) => setTimeout(resolve, 100));
    const text = await (await fetch(url)).text();
    for (const family of ['psrt_udp_datagrams_total', 'psrt_mqtt_persistence_failing', 'psrt_cluster_node_state', 'psrt_bridge_state', 'nodejs_eventloop_lag_max_seconds']) {
      assert.ok(text.includes(`# TYPE ${family} `), family);
    }
    assert.match(text, /^psrt_pub_messages_total 1$/m);
    assert.ok(!text.includes('a\\"b'), 'a topic name in /metrics');
    pub.ctl.destroy();
    promtool(text);
  } finally {
    await psrtd.stop();
  }
});
