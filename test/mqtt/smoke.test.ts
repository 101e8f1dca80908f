/** MQTT listener smoke test with MQTT.js: v3.1.1 and v5 clients see each other and PSRT. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import mqtt from 'mqtt';
import { startPsrtd, type Psrtd } from '../helpers/psrtd.js';

describe('MQTT listener (MQTT.js)', () => {
  let server: Psrtd;
  before(async () => {
    server = await startPsrtd({ mqtt: {} });
  });
  after(async () => {
    await server.stop();
  });

  it('v3.1.1 publisher reaches a v5 subscriber with QoS 1', async () => {
    assert.ok(server.mqttPort > 0);
    const sub = await mqtt.connectAsync(`mqtt://127.0.0.1:${server.mqttPort}`, { protocolVersion: 5, clientId: 'smoke-sub' });
    const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${server.mqttPort}`, { protocolVersion: 4, clientId: 'smoke-pub' });
    try {
      await sub.subscribeAsync('smoke/#', { qos: 1 });
      const got = new Promise<[string, string]>((resolve) => {
        sub.once('message', (topic, payload) => {
          resolve([topic, payload.toString()]);
        });
      });
      await pub.publishAsync('smoke/a', 'hello', { qos: 1 });
      assert.deepEqual(await got, ['smoke/a', 'hello']);
    } finally {
      await Promise.all([sub.endAsync(), pub.endAsync()]);
    }
  });

  it('subscription changes between publishes to one topic take effect at once (per-topic match cache)', async () => {
    const url = `mqtt://127.0.0.1:${server.mqttPort}`;
    const pub = await mqtt.connectAsync(url, { protocolVersion: 5, clientId: 'cache-pub' });
    const a = await mqtt.connectAsync(url, { protocolVersion: 5, clientId: 'cache-a' });
    const b = await mqtt.connectAsync(url, { protocolVersion: 5, clientId: 'cache-b' });
    const got = { a: [] as string[], b: [] as string[] };
    a.on('message', (_t, p) => got.a.push(p.toString()));
    b.on('message', (_t, p) => got.b.push(p.toString()));
    try {
      await pub.publishAsync('cache/t', 'nobody', { qos: 1 });
      await a.subscribeAsync('cache/t', { qos: 1 });
      await pub.publishAsync('cache/t', 'a-only', { qos: 1 });
      await b.subscribeAsync('cache/+', { qos: 1 });
      await pub.publishAsync('cache/t', 'both', { qos: 1 });
      await a.unsubscribeAsync('cache/t');
      await pub.publishAsync('cache/t', 'b-only', { qos: 1 });
      const t0 = performance.now();
      while (got.b.length < 2 && performance.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 20));
      await new Promise((r) => setTimeout(r, 200)); // nothing more may arrive
      assert.deepEqual(got.a, ['a-only', 'both']);
      assert.deepEqual(got.b, ['both', 'b-only']);
    } finally {
      await Promise.all([pub.endAsync(), a.endAsync(), b.endAsync()]);
    }
  });
});
