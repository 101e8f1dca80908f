/**
 * `mqtt.max_queued_bytes`: a session's queue of QoS 1/2 messages (offline, or behind the
 * in-flight window) is bounded in bytes as well as in count, so 1,000 queued 1 MB messages
 * cannot cost a gigabyte per session. Pass criteria, against a real psrtd with a 1,000,000-byte
 * limit: an offline MQTT.js persistent session sent ten 200 kB QoS 1 messages gets the first four
 * (a fifth would pass the limit) when it comes back, in order; the other six are counted in
 * psrt_mqtt_dropped_queue_full_total and logged; a message that fits again after the queue has
 * drained is queued and delivered. For a connected subscriber the byte limit also holds the
 * publishers back (at half of it), so a burst of large messages is delivered whole, not dropped.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import mqtt from 'mqtt';
import { startPsrtd, type Psrtd } from '../helpers/psrtd.js';
import { Inbox, sleep } from '../helpers/mqtt-raw.js';

const LIMIT = 1_000_000;
const SIZE = 200_000;

function payload(i: number): Buffer {
  const p = Buffer.alloc(SIZE, 0x61);
  p.writeUInt32BE(i, 0);
  return p;
}

describe('MQTT max_queued_bytes', () => {
  let server: Psrtd;
  before(async () => {
    server = await startPsrtd({ server: { bind_stats: '127.0.0.1:0', max_pub_size: 1_000_000 }, mqtt: { max_queued_bytes: LIMIT, max_inflight: 1 } });
  });
  after(async () => {
    assert.equal(await server.stop(), 0);
  });

  async function subscriber(): Promise<{ client: mqtt.MqttClient; inbox: Inbox }> {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${server.mqttPort}`, { protocolVersion: 4, clientId: 'qb-sub', clean: false, reconnectPeriod: 0 });
    return { client, inbox: new Inbox(client) };
  }

  async function dropped(): Promise<number> {
    const metrics = await (await fetch(`http://127.0.0.1:${server.statsPort}/metrics`)).text();
    return Number(/^psrt_mqtt_dropped_queue_full_total (\d+)$/m.exec(metrics)?.[1] ?? NaN);
  }

  test('an offline session keeps what fits the byte limit, in order, and counts the rest', async () => {
    const first = await subscriber();
    await first.client.subscribeAsync('qb/t', { qos: 1 });
    await first.client.endAsync();
    const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${server.mqttPort}`, { protocolVersion: 4, clientId: 'qb-pub', reconnectPeriod: 0 });
    try {
      for (let i = 0; i < 10; i++) await pub.publishAsync('qb/t', payload(i), { qos: 1 });
      assert.equal(await dropped(), 6);
      await server.waitForLog(/mqtt: queue of qb-sub is full \(max_queued_messages or max_queued_bytes\)/, 3000);
      const back = await subscriber();
      const got = await back.inbox.waitFor(4, 5000);
      await sleep(300);
      assert.deepEqual(back.inbox.messages.map((m) => Buffer.from(m.packet.payload).readUInt32BE(0)), [0, 1, 2, 3]);
      assert.equal(got.length, 4);
      await back.client.endAsync();
      // Drained: the limit applies to what is queued now, not to what was queued once.
      await pub.publishAsync('qb/t', payload(10), { qos: 1 });
      const again = await subscriber();
      await again.inbox.waitFor(1, 5000);
      assert.equal(Buffer.from(again.inbox.messages[0]?.packet.payload ?? Buffer.alloc(4)).readUInt32BE(0), 10);
      assert.equal(await dropped(), 6);
      await again.client.endAsync();
    } finally {
      await pub.endAsync();
    }
  });

  test('a connected subscriber behind its in-flight window: publishers wait at half the byte limit, nothing is dropped', async () => {
    const N = 40;
    const sub = await mqtt.connectAsync(`mqtt://127.0.0.1:${server.mqttPort}`, { protocolVersion: 4, clientId: 'qb-live', clean: true, reconnectPeriod: 0 });
    const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${server.mqttPort}`, { protocolVersion: 4, clientId: 'qb-live-pub', reconnectPeriod: 0 });
    try {
      const inbox = new Inbox(sub);
      await sub.subscribeAsync('qb/live', { qos: 1 });
      const before = await dropped();
      const sends: Promise<unknown>[] = [];
      for (let i = 0; i < N; i++) sends.push(pub.publishAsync('qb/live', payload(i), { qos: 1 }));
      await Promise.all(sends);
      await inbox.waitFor(N, 20_000);
      assert.deepEqual(inbox.messages.map((m) => Buffer.from(m.packet.payload).readUInt32BE(0)), Array.from({ length: N }, (_, i) => i));
      assert.equal(await dropped(), before);
    } finally {
      pub.end(true);
      sub.end(true);
    }
  });
});
