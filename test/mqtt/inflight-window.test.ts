/**
 * The QoS 1/2 in-flight window against the output queue: a persistent session that comes back to
 * more queued messages than `server.data_queue` holds twice over must get them all, not be dropped
 * as a slow consumer at CONNACK. The resume pushed a whole `max_inflight` window (default 1024)
 * into the connection's queue at once, which past twice `data_queue` is the hard cap, so with
 * `data_queue: 100` the client was disconnected on every reconnect and never got a message.
 * Pass criteria, against a real psrtd with `data_queue: 100`: an MQTT.js 3.1.1 session (clean
 * session 0) and a 5.0 one (Session Expiry) offline while 500 QoS 1 messages are published each
 * get all 500 in order when they reconnect, on their first connection, and nothing is counted in
 * `dropped_slow`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import mqtt from 'mqtt';
import { startPsrtd, type Psrtd } from '../helpers/psrtd.js';
import { until, type Version } from '../helpers/mqtt-client.js';

const COUNT = 500;

describe('MQTT in-flight window with a small server.data_queue', () => {
  let server: Psrtd;
  before(async () => {
    server = await startPsrtd({ server: { bind_stats: '127.0.0.1:0', data_queue: 100 }, mqtt: {} });
  });
  after(async () => {
    assert.equal(await server.stop(), 0);
  });

  function connect(version: Version, clientId: string): Promise<mqtt.MqttClient> {
    return mqtt.connectAsync(`mqtt://127.0.0.1:${server.mqttPort}`, {
      protocolVersion: version, clientId, clean: false, reconnectPeriod: 0, connectTimeout: 5000,
      ...(version === 5 ? { properties: { sessionExpiryInterval: 300 } } : {}),
    });
  }

  async function droppedSlow(): Promise<number> {
    const status = (await (await fetch(`http://127.0.0.1:${server.statsPort}/status`)).json()) as { mqtt: { counters: { dropped_slow: number } } };
    return status.mqtt.counters.dropped_slow;
  }

  for (const version of [4, 5] as const) {
    test(`v${version}: a session returning to ${COUNT} queued messages gets them all`, async () => {
      const id = `iw-${version}`;
      const first = await connect(version, id);
      await first.subscribeAsync(`iw/${version}`, { qos: 1 });
      await first.endAsync();
      const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${server.mqttPort}`, { clientId: `iw-pub-${version}`, reconnectPeriod: 0 });
      for (let i = 0; i < COUNT; i++) await pub.publishAsync(`iw/${version}`, String(i), { qos: 1 });
      await pub.endAsync();
      const got: number[] = [];
      const back = mqtt.connect(`mqtt://127.0.0.1:${server.mqttPort}`, {
        protocolVersion: version, clientId: id, clean: false, reconnectPeriod: 0, connectTimeout: 5000,
        ...(version === 5 ? { properties: { sessionExpiryInterval: 300 } } : {}),
      });
      back.on('message', (_t, p) => got.push(Number(p.toString())));
      back.on('error', () => undefined);
      let closed = false;
      back.on('close', () => (closed = true));
      try {
        await until(() => got.length >= COUNT || closed, 'all queued messages or a disconnect', 5000);
        assert.equal(closed, false, 'the returning session was disconnected');
        assert.deepEqual(got, Array.from({ length: COUNT }, (_, i) => i));
        assert.equal(await droppedSlow(), 0);
      } finally {
        await back.endAsync(true);
      }
    });
  }
});
