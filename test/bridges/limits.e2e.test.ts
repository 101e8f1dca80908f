/**
 * Messages an upstream can never take: a topic or subject longer than it accepts, or a message
 * over its size limit. Each is counted as unmappable and not sent, so it can neither break the
 * connection (nats-server closes it for a protocol line over max_control_line, Mosquitto for a
 * packet over its Maximum Packet Size) nor wedge or crash the bridge; later messages flow on
 * the same connection.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import mqtt, { type MqttClient } from 'mqtt';
import { Mosquitto, NatsCluster, until } from '../helpers/engines.js';
import type { Psrtd } from '../helpers/psrtd.js';
import { bridgeStatus, publishAll, startBridged } from './util.js';

/** Room for the long topics and large payloads below (the test helper's defaults are small). */
const LIMITS = { max_topic_length: 200_000, max_pub_size: 3_000_000 };

describe('NATS bridge: subjects and payloads nats-server refuses', () => {
  let cluster: NatsCluster;
  let node: Psrtd;
  let nc: NatsConnection;
  const seen: string[] = [];

  before(async () => {
    cluster = await NatsCluster.start(1);
    node = await startBridged('lim-n', [{ name: 'n', type: 'nats', servers: cluster.urls, out: ['#'] }], LIMITS);
    await until(async () => (await bridgeStatus(node, 'n')).state === 'online', 15_000, 'bridge online');
    nc = await connect({ servers: cluster.urls });
    nc.subscribe('>', { callback: (_e, m) => { seen.push(m.subject); } });
    await nc.flush();
  });

  after(async () => {
    await nc.close();
    await node.stop();
    await cluster.stop();
  });

  test('a subject over max_control_line is not sent: the connection stays, later messages flow', async () => {
    await publishAll(node.port, `long/${'x'.repeat(5000)}`, ['too long']);
    await publishAll(node.port, 'long/after', ['fine']);
    await until(() => seen.includes('long.after'), 10_000, 'the message after the long subject');
    const s = await bridgeStatus(node, 'n');
    assert.equal(s.connects, 1, 'never disconnected');
    assert.equal(s.unmappable, 1);
    assert.equal(s.exported, 1);
  });

  test('a payload over max_payload is counted as unmappable, not as exported', async () => {
    const before = await bridgeStatus(node, 'n');
    await publishAll(node.port, 'big/payload', [Buffer.alloc(1_500_000, 1)]);
    await publishAll(node.port, 'big/after', ['fine']);
    await until(() => seen.includes('big.after'), 10_000, 'the message after the large one');
    const s = await bridgeStatus(node, 'n');
    assert.equal(s.unmappable - before.unmappable, 1);
    assert.equal(s.exported - before.exported, 1, 'only the message that was sent');
    assert.ok(!seen.includes('big.payload'));
  });
});

describe('MQTT bridge: topics and packets the upstream refuses', () => {
  let broker: Mosquitto;
  let node: Psrtd;
  let native: MqttClient;
  const seen: string[] = [];

  before(async () => {
    broker = await Mosquitto.start(false, undefined, 'max_packet_size 2000\n');
    node = await startBridged('lim-m', [{ name: 'm', type: 'mqtt', servers: [broker.url], out: ['#'], extra: { qos: 1 } }], LIMITS);
    await until(async () => (await bridgeStatus(node, 'm')).state === 'online', 15_000, 'bridge online');
    native = await mqtt.connectAsync(broker.url, { protocolVersion: 5, reconnectPeriod: 0 });
    native.on('message', (topic) => { seen.push(topic); });
    await native.subscribeAsync('#', { qos: 1 });
  });

  after(async () => {
    await native.endAsync(true);
    await node.stop();
    await broker.stop();
  });

  test('a topic over 65,535 bytes is not sent: no broken packet, psrtd and the bridge carry on', async () => {
    await publishAll(node.port, `long/${'x'.repeat(70_000)}`, ['too long']);
    await publishAll(node.port, 'long/after', ['fine']);
    await until(() => seen.includes('long/after'), 10_000, 'the message after the long topic');
    const s = await bridgeStatus(node, 'm');
    assert.equal(s.unmappable, 1);
    assert.equal(s.state, 'online');
    assert.equal(s.connects, 1);
  });

  test('a message over the upstream Maximum Packet Size is not sent, so it cannot cause a reconnect loop', async () => {
    const before = await bridgeStatus(node, 'm');
    await publishAll(node.port, 'big/payload', [Buffer.alloc(3000, 1)]);
    await publishAll(node.port, 'big/after', ['fine']);
    await until(() => seen.includes('big/after'), 10_000, 'the message after the large one');
    await new Promise((r) => setTimeout(r, 300)); // a disconnect for the large packet would show by now
    const s = await bridgeStatus(node, 'm');
    assert.equal(s.unmappable - before.unmappable, 1);
    assert.equal(s.exported - before.exported, 1);
    assert.equal(s.connects, 1, 'never disconnected');
    assert.ok(!broker.output.some((l) => l.includes('oversize packet')), 'Mosquitto never saw an oversize packet');
  });
});
