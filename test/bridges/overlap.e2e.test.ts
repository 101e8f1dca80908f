/**
 * Overlapping `in` masks against real engines: nats-server delivers a message once per matching
 * subscription, and Mosquitto does the same for MQTT 5 clients; the bridges must still import
 * every remote message exactly once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import mqtt from 'mqtt';
import { Mosquitto, NatsCluster, until } from '../helpers/engines.js';
import type { Psrtd } from '../helpers/psrtd.js';
import { Collector, bridgeStatus, startBridged } from './util.js';

/** Masks that overlap partially (`ov/b/c`), and by `+` against `#` (`ov2/only`, `ov2`). */
const IN = ['ov/+/c', 'ov/b/+', 'ov2/#', '+/only', '+'];
/** Topic → how many masks match it. */
const TOPICS: readonly (readonly [string, number])[] = [
  ['ov/b/c', 2], ['ov/x/c', 1], ['ov/b/x', 1], ['ov2/only', 2], ['ov2', 2], ['z/only', 1], ['z', 1], ['ov2/deep/er', 1],
];

async function settle(sub: Collector, n: number): Promise<void> {
  await sub.waitFor(n);
  await new Promise((r) => setTimeout(r, 500)); // duplicates would arrive late
}

describe('overlapping in masks: NATS (3-node cluster)', () => {
  let cluster: NatsCluster;
  let node: Psrtd;
  let nc: NatsConnection;
  let sub: Collector | undefined;

  before(async () => {
    cluster = await NatsCluster.start(3);
    node = await startBridged('ov-n', [{ name: 'nats', type: 'nats', servers: cluster.urls, in: IN }]);
    await until(async () => (await bridgeStatus(node, 'nats')).state === 'online', 15_000, 'bridge online');
    nc = await connect({ servers: cluster.urls });
  });

  after(async () => {
    sub?.close();
    await nc.close();
    await node.stop();
    await cluster.stop();
  });

  test('every message is imported once, whatever its headers', async () => {
    sub = await Collector.open(node.port, ['#']);
    await new Promise((r) => setTimeout(r, 300)); // the bridge's subscriptions reach every node
    const other = headers();
    other.set('Psrt-Origin', 'elsewhere');
    other.set('Psrt-Priority', '3');
    const typed = headers();
    typed.set('Content-Type', 'text/plain');
    for (const [topic] of TOPICS) {
      const subject = topic.replaceAll('/', '.');
      nc.publish(subject, `plain ${topic}`);
      nc.publish(subject, `psrt ${topic}`, { headers: other });
      nc.publish(subject, `typed ${topic}`, { headers: typed });
    }
    await nc.flush();
    await settle(sub, 3 * TOPICS.length);
    const got = sub.messages.map((m) => `${m.topic} ${m.payload.toString()} ${m.priority}`).sort();
    const want = TOPICS.flatMap(([t]) => [`${t} plain ${t} 127`, `${t} psrt ${t} 3`, `${t} typed ${t} 127`]).sort();
    assert.deepEqual(got, want);
    assert.equal((await bridgeStatus(node, 'nats')).imported, 3 * TOPICS.length);
  });
});

describe('overlapping in masks: MQTT through Mosquitto', () => {
  let broker: Mosquitto;
  let v5: Psrtd;
  let v4: Psrtd;
  const subs: Collector[] = [];

  before(async () => {
    broker = await Mosquitto.start();
    [v5, v4] = await Promise.all([
      startBridged('ov-5', [{ name: 'up', type: 'mqtt', servers: [broker.url], in: IN, extra: { qos: 1 } }]),
      startBridged('ov-4', [{ name: 'up', type: 'mqtt', servers: [broker.url], in: IN, extra: { protocol_version: 4, remote_prefix: 'p/' } }]),
    ]);
    await until(async () => (await bridgeStatus(v5, 'up')).state === 'online' && (await bridgeStatus(v4, 'up')).state === 'online', 15_000, 'bridges online');
  });

  after(async () => {
    for (const s of subs) s.close();
    await Promise.all([v5.stop(), v4.stop()]);
    await broker.stop();
  });

  test('MQTT 5 (Mosquitto sends one copy per subscription) and 3.1.1: each message once', async () => {
    subs.push(await Collector.open(v5.port, ['#']), await Collector.open(v4.port, ['#']));
    const [s5, s4] = subs as [Collector, Collector];
    await new Promise((r) => setTimeout(r, 300));
    const client = await mqtt.connectAsync(broker.url, { protocolVersion: 5 });
    try {
      for (const [topic] of TOPICS) {
        await client.publishAsync(topic, `m ${topic}`, { qos: 1 });
        await client.publishAsync(`p/origin/${topic}`, `m ${topic}`, { qos: 1 });
      }
    } finally {
      await client.endAsync();
    }
    await settle(s5, TOPICS.length);
    await settle(s4, TOPICS.length);
    const want = TOPICS.map(([t]) => `${t} m ${t}`).sort();
    assert.deepEqual(s5.messages.map((m) => `${m.topic} ${m.payload.toString()}`).sort(), want);
    assert.deepEqual(s4.messages.map((m) => `${m.topic} ${m.payload.toString()}`).sort(), want);
  });
});
