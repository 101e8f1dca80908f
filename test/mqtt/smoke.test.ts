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
});
