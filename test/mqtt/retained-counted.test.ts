/**
 * Retained messages sent on SUBSCRIBE are deliveries: `psrt_mqtt_delivered_total` (and /status
 * `mqtt.counters.delivered`) counts them like live ones. Before, only live publishes were
 * counted, so a dashboard showed nothing for a client that got its whole state from the
 * retained store.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import mqtt from 'mqtt';
import { openClient, url } from '../helpers/mqtt-raw.js';
import { startPsrtd, type Psrtd } from '../helpers/psrtd.js';

describe('MQTT delivered counter', () => {
  let server: Psrtd;
  before(async () => {
    server = await startPsrtd({ mqtt: {}, server: { bind_stats: '127.0.0.1:0' } });
  });
  after(async () => {
    assert.equal(await server.stop(), 0);
  });

  async function delivered(): Promise<number> {
    const text = await (await fetch(`http://127.0.0.1:${String(server.statsPort)}/metrics`)).text();
    return Number(/^psrt_mqtt_delivered_total (\d+)$/m.exec(text)?.[1] ?? NaN);
  }

  it('counts retained messages sent on SUBSCRIBE and live ones', async () => {
    const pub = await mqtt.connectAsync(url(server.mqttPort), { protocolVersion: 5, clientId: 'rc-pub', reconnectPeriod: 0 });
    try {
      for (const t of ['rc/a', 'rc/b', 'rc/c']) await pub.publishAsync(t, t, { qos: 1, retain: true });
      const before = await delivered();
      assert.equal(before, 0, 'nothing delivered yet');
      const subs = await Promise.all([4, 5].map((v) => openClient(server.mqttPort, { protocolVersion: v as 4 | 5, clientId: `rc-sub${String(v)}` })));
      for (const s of subs) await s.client.subscribeAsync('rc/+', { qos: 1 });
      for (const s of subs) await s.inbox.waitFor(3);
      assert.equal(await delivered(), 6, '3 retained messages to each of 2 subscribers');
      await pub.publishAsync('rc/a', 'live', { qos: 1 });
      for (const s of subs) await s.inbox.waitFor(4);
      assert.equal(await delivered(), 8, 'and one live message to each');
      for (const s of subs) await s.client.endAsync();
    } finally {
      await pub.endAsync();
    }
  });
});
