/**
 * MQTT subscribers under the broker's one slow-consumer policy: publishers (PSRT and MQTT) are
 * held back while a subscriber's queue is congested and lose nothing in a burst; a QoS 0
 * subscriber that stops reading, and a QoS 1 subscriber that stops acknowledging, are
 * disconnected after the drain timeout while a healthy MQTT subscriber gets every message.
 * With `slow_consumer: drop`, only QoS 0 deliveries are shed: acks, QoS 1/2 deliveries and a
 * topic alias's first use still reach the client.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { connect } from 'node:net';
import { startPsrtd, type Psrtd } from '../helpers/psrtd.js';
import { RawConn, login, publishFrame } from '../helpers/raw.js';

async function waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const t0 = performance.now();
  while (!cond()) {
    if (performance.now() - t0 > timeoutMs) throw new Error(`timeout: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A raw MQTT 3.1.1 client that subscribes and then never reads (or never acks). */
async function stalledSubscriber(port: number, filter: string, qos: 0 | 1): Promise<RawConn> {
  const c = await RawConn.open(port);
  c.send(mqttPacket.generate({ cmd: 'connect', protocolVersion: 4, clientId: `stalled-${qos}`, clean: true, keepalive: 0 }));
  await c.read(4);
  c.send(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: filter, qos }] }));
  await c.read(5);
  if (qos === 0) c.socket.pause(); // stops reading: the server's writes back up
  return c;
}

/** Counts the messages a healthy MQTT.js subscriber gets, checking per-topic order. */
async function healthySubscriber(port: number, filter: string, qos: 0 | 1): Promise<{ client: MqttClient; seen: () => number; orderErrors: () => number }> {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: 4, clientId: `healthy-${qos}`, reconnectPeriod: 0 });
  let seen = 0;
  let orderErrors = 0;
  client.on('message', (_t, payload) => {
    if (payload.readUInt32BE(0) !== seen) orderErrors++;
    seen++;
  });
  await client.subscribeAsync(filter, { qos });
  return { client, seen: () => seen, orderErrors: () => orderErrors };
}

function seqPayload(i: number, size = 64): Buffer {
  const p = Buffer.alloc(size, 0x61);
  p.writeUInt32BE(i, 0);
  return p;
}

describe('MQTT slow consumers', () => {
  let server: Psrtd;
  before(async () => {
    server = await startPsrtd({
      server: { data_queue: 256, data_drain_timeout: 1, bind_stats: '127.0.0.1:0' },
      proto: { timeout: 10 },
      mqtt: { max_queued_messages: 512, max_inflight: 16 },
    });
  });
  after(async () => {
    assert.equal(await server.stop(), 0);
  });

  test('a QoS 0 subscriber that stops reading is dropped; PSRT publisher and healthy subscriber lose nothing', async () => {
    const slow = await stalledSubscriber(server.mqttPort, 'slow0/#', 0);
    const healthy = await healthySubscriber(server.mqttPort, 'slow0/#', 0);
    const { ctl } = await login(server.port);
    const total = 20_000;
    try {
      for (let start = 0; start < total; start += 1000) {
        const frames: Buffer[] = [];
        // 1 KB each: 20 MB in all, more than the kernel's socket buffers hold for the stalled reader.
        for (let i = start; i < start + 1000; i++) frames.push(publishFrame('slow0/t', seqPayload(i, 1024)));
        ctl.send(Buffer.concat(frames));
        const replies = await ctl.read(1000, 20_000);
        assert.ok(replies.every((b) => b === 1));
      }
      await waitFor(() => healthy.seen() === total, 20_000, 'healthy subscriber got everything');
      assert.equal(healthy.orderErrors(), 0);
      await server.waitForLog(/mqtt: client .*stalled-0.* does not read its messages/, 10_000);
      slow.socket.resume(); // a paused socket cannot see the close; reading again shows it
      await waitFor(() => slow.closed, 10_000, 'stalled subscriber disconnected');
    } finally {
      ctl.socket.destroy();
      slow.socket.destroy();
      await healthy.client.endAsync();
    }
  });

  test('a QoS 1 subscriber that stops acknowledging holds publishers back, then is dropped', async () => {
    const slow = await stalledSubscriber(server.mqttPort, 'slow1/#', 1); // reads but never PUBACKs
    const healthy = await healthySubscriber(server.mqttPort, 'slow1/#', 1);
    const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${server.mqttPort}`, { protocolVersion: 5, clientId: 'slow1-pub', reconnectPeriod: 0 });
    const total = 3000;
    try {
      const t0 = performance.now();
      const sends: Promise<unknown>[] = [];
      for (let i = 0; i < total; i++) sends.push(pub.publishAsync('slow1/t', seqPayload(i), { qos: 1 }));
      await Promise.all(sends);
      await waitFor(() => healthy.seen() === total, 20_000, 'healthy QoS 1 subscriber got everything');
      assert.equal(healthy.orderErrors(), 0);
      await waitFor(() => slow.closed, 10_000, 'unacknowledging subscriber disconnected');
      await server.waitForLog(/mqtt: client .*stalled-1.* is too slow/, 5000);
      // Held back for about the drain timeout (1 s), not for ever.
      assert.ok(performance.now() - t0 < 15_000);
      const metrics = await (await fetch(`http://127.0.0.1:${server.statsPort}/metrics`)).text();
      const dropped = Number(/^psrt_mqtt_dropped_slow_total (\d+)$/m.exec(metrics)?.[1] ?? 0);
      assert.ok(dropped >= 1, `psrt_mqtt_dropped_slow_total ${dropped}`);
    } finally {
      slow.socket.destroy();
      await Promise.all([healthy.client.endAsync(), pub.endAsync()]);
    }
  });
});

/** `server.slow_consumer: drop` sheds a slow MQTT subscriber's QoS 0 messages, nothing else. */
describe('MQTT slow consumers, slow_consumer: drop', () => {
  let server: Psrtd;
  before(async () => {
    server = await startPsrtd({
      server: { data_queue: 8, data_queue_bytes: 4096, data_drain_timeout: 30, slow_consumer: 'drop', slow_consumer_window: 1, slow_consumer_max_hold: 0.2 },
      proto: { timeout: 10 },
      mqtt: {},
    });
  });
  after(async () => {
    assert.equal(await server.stop(), 0);
  });

  test('acks, QoS 1 deliveries and topic alias announcements are not shed', async () => {
    const got: Packet[] = [];
    const parser = mqttPacket.parser({ protocolVersion: 5 });
    parser.on('packet', (p) => got.push(p));
    const sock = connect(server.mqttPort, '127.0.0.1');
    sock.on('data', (d) => parser.parse(d));
    sock.on('error', () => { /* close follows */ });
    const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${server.mqttPort}`, { protocolVersion: 5, clientId: 'shed-pub', reconnectPeriod: 0 });
    try {
      sock.write(mqttPacket.generate({ cmd: 'connect', protocolVersion: 5, clientId: 'shed-sub', clean: true, keepalive: 0, properties: { topicAliasMaximum: 5 } }));
      sock.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'shed/#', qos: 1 }] }, { protocolVersion: 5 }));
      await waitFor(() => got.some((p) => p.cmd === 'suback'), 3000, 'SUBACK');
      sock.pause();
      const big = Buffer.alloc(2000, 0x62);
      const end = performance.now() + 2500; // past the 0.2 s of the 1 s window: shedding
      for (let i = 0; performance.now() < end; i++) {
        pub.publish('shed/flood', big, { qos: 0 });
        if (i % 20 === 19) await new Promise((r) => setTimeout(r, 5));
      }
      await server.waitForLog(/dropping its messages beyond the queue limit/, 3000);
      pub.publish('shed/new', 'announced', { qos: 1 });
      sock.write(mqttPacket.generate({ cmd: 'pingreq' }));
      await new Promise((r) => setTimeout(r, 300));
      sock.resume();
      await waitFor(() => got.some((p) => p.cmd === 'pingresp'), 5000, 'PINGRESP');
      pub.publish('shed/new', 'again', { qos: 0 });
      await waitFor(() => got.filter((p) => p.cmd === 'publish' && p.payload.toString() !== big.toString()).length >= 2, 5000, 'both shed/new messages');
      const news = got.filter((p): p is mqttPacket.IPublishPacket => p.cmd === 'publish' && p.payload.length < 100);
      assert.deepEqual(news.map((p) => [p.payload.toString(), p.qos]), [['announced', 1], ['again', 0]]);
      assert.equal(news[0]?.topic, 'shed/new', 'the first use of the alias carries the topic');
    } finally {
      sock.destroy();
      await pub.endAsync();
    }
  });
});
