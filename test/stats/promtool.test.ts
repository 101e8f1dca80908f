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

test('promtool check metrics accepts every /metrics family without a lint problem', async () => {
  const text = await fullExposition();
  const run = spawnSync(PROMTOOL, ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 20_000 });
  if (run.error !== undefined) {
    assert.fail(`cannot run ${PROMTOOL} (${run.error.message}): install it with apt-get install prometheus, or set PSRT_PROMTOOL`);
  }
  assert.equal(`${run.stdout}${run.stderr}`, '', 'promtool reported problems');
  assert.equal(run.status, 0);
});
