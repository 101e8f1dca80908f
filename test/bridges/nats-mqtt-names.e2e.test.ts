/**
 * Names as nats-server's own MQTT clients see them: psrtd bridged onto a nats-server with its
 * MQTT listener; an MQTT client of that server, a NATS subscriber and a PSRT subscriber see the
 * same topics (the PSRT one normalised, as PSRT always does).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { NatsWithMqtt, until } from '../helpers/engines.js';
import type { Psrtd } from '../helpers/psrtd.js';
import { Collector, bridgeStatus, publishAll, startBridged } from './util.js';

describe('NATS bridge and nats-server MQTT clients see the same names', () => {
  let server: NatsWithMqtt;
  let node: Psrtd;
  let nc: NatsConnection;
  let mc: MqttClient;

  before(async () => {
    server = await NatsWithMqtt.start();
    node = await startBridged('names', [{ name: 'n', type: 'nats', servers: [server.url], out: ['names/#'], in: ['names/#'] }]);
    await until(async () => (await bridgeStatus(node, 'n')).state === 'online', 15_000, 'bridge online');
    nc = await connect({ servers: server.url });
    mc = await mqtt.connectAsync(`mqtt://127.0.0.1:${server.mqttPort}`, { protocolVersion: 4, clientId: 'names-probe' });
  });

  after(async () => {
    await mc.endAsync(true);
    await nc.close();
    await node.stop();
    await server.stop();
  });

  test('PSRT → NATS subject and MQTT topic; MQTT → NATS subject and PSRT topic', async () => {
    const mqttSeen: string[] = [];
    mc.on('message', (t) => { mqttSeen.push(t); });
    await mc.subscribeAsync('names/#', { qos: 0 });
    const subjects: string[] = [];
    nc.subscribe('names.>', { callback: (_e, m) => { subjects.push(m.subject); } });
    nc.subscribe('/.names.>', { callback: (_e, m) => { subjects.push(m.subject); } });
    await nc.flush();
    const psrt = await Collector.open(node.port, ['names/#']);
    await new Promise((r) => setTimeout(r, 200));

    await publishAll(node.port, 'names/plant/boiler', ['1']);
    await publishAll(node.port, 'names/trailing/', ['2']);
    await until(() => mqttSeen.length >= 2 && subjects.length >= 2, 10_000, 'exports seen');
    assert.deepEqual(subjects, ['names.plant.boiler', 'names.trailing./']);
    assert.deepEqual(mqttSeen, ['names/plant/boiler', 'names/trailing/']);

    subjects.length = 0;
    await mc.publishAsync('names//double', '3');
    await mc.publishAsync('names/x/', '4');
    await until(() => subjects.length >= 2, 10_000, 'MQTT publishes on NATS');
    assert.deepEqual(subjects, ['names./.double', 'names.x./']);
    // psrtd imported them under the same topics, normalised like every PSRT topic.
    await psrt.waitFor(4);
    assert.deepEqual(psrt.messages.map((m) => m.topic), ['names/plant/boiler', 'names/trailing/', 'names/double', 'names/x/']);
    psrt.close();
  });
});
