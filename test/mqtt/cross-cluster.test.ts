/**
 * Cluster replication carries MQTT traffic: a message published over MQTT on node A reaches a
 * PSRT subscriber and an MQTT subscriber on node B, and a PSRT publish on A reaches an MQTT
 * subscriber on B: binary payload intact, once each. Replication speaks PSRT, so on B an MQTT
 * topic is the normalised one and the message enters as an acknowledged PSRT publish (QoS 1).
 * A's `$SYS` statistics are not replicated: B (sys_interval 0) stays silent on `$SYS/#`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { MqttClient } from 'mqtt';
import { mqttConnect, until } from '../helpers/mqtt-client.js';
import { freePort } from '../helpers/ports.js';
import { PsrtPublisher, PsrtSubscriber } from '../helpers/psrt-peers.js';
import { startPsrtd, type Psrtd } from '../helpers/psrtd.js';
import { PASSWORD, makePasswd } from '../helpers/users.js';

const ACL = '_:\n  sub: ["#"]\n  pub: ["#"]\n  admin: true\nrepl:\n  replicator: true\n';

function node(port: number, neighbour: number, sysInterval: number): Promise<Psrtd> {
  return startPsrtd({
    acl: ACL,
    passwd: makePasswd(),
    proto: { bind: [`127.0.0.1:${port}`], timeout: 5 },
    mqtt: { sys_interval: sysInterval },
    cluster: `- path: 127.0.0.1:${neighbour}\n  user: repl\n  password: ${PASSWORD}\n  timeout: 5\n`,
  });
}

interface Got {
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos: number;
}

describe('cluster of two nodes with MQTT', () => {
  let a: Psrtd;
  let b: Psrtd;
  const clients: MqttClient[] = [];
  before(async () => {
    const [pa, pb] = [await freePort(), await freePort()];
    a = await node(pa, pb, 1);
    b = await node(pb, pa, 0);
    // A's link to B is up once a PSRT probe published on A arrives on B.
    const probe = await PsrtSubscriber.open(b.port, ['probe']);
    const pub = await PsrtPublisher.open(a.port);
    try {
      const t0 = performance.now();
      while (probe.messages.length === 0) {
        if (performance.now() - t0 > 20_000) throw new Error('the cluster link A -> B did not come up');
        assert.equal(await pub.publish('probe', 'p'), 1);
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      probe.close();
      pub.close();
    }
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.endAsync()));
    await Promise.all([a.stop(), b.stop()]);
  });

  async function mqttSubscriber(server: Psrtd, filter: string): Promise<Got[]> {
    const c = await mqttConnect(server.mqttPort, 5);
    clients.push(c);
    const got: Got[] = [];
    c.on('message', (topic, payload, packet) => {
      got.push({ topic, payload: Buffer.from(payload), qos: packet.qos });
    });
    await c.subscribeAsync(filter, { qos: 2 });
    return got;
  }

  test('MQTT publish on A reaches a PSRT and an MQTT subscriber on B; a PSRT publish on A reaches MQTT on B', async () => {
    const psrtOnB = await PsrtSubscriber.open(b.port, ['cl/#']);
    const mqttOnB = await mqttSubscriber(b, '#');
    const mqttOnA = await mqttSubscriber(a, '#');
    try {
      const publisher = await mqttConnect(a.mqttPort, 4);
      clients.push(publisher);
      const payload = Buffer.from([0, 1, 2, 0, 255, 0]);
      await publisher.publishAsync('/cl//mqtt', payload, { qos: 1 });
      await psrtOnB.waitFor(1, 15_000);
      assert.deepEqual(psrtOnB.messages.map((m) => [m.topic, m.priority]), [['cl/mqtt', 0x7f]]);
      assert.ok(psrtOnB.messages[0]?.payload.equals(payload));
      await until(() => mqttOnB.length === 1, 'MQTT subscriber on B', 15_000);
      // Replication speaks PSRT: the topic arrives on B as PSRT normalised it (no MQTT properties either).
      assert.equal(mqttOnB[0]?.topic, 'cl/mqtt');
      assert.ok(mqttOnB[0].payload.equals(payload));

      const psrtPub = await PsrtPublisher.open(a.port);
      assert.equal(await psrtPub.publish('cl/psrt', payload, 0x20), 1);
      psrtPub.close();
      await until(() => mqttOnB.length === 2, 'PSRT message on B over MQTT', 15_000);
      assert.deepEqual(mqttOnB.map((m) => [m.topic, m.qos]), [['cl/mqtt', 1], ['cl/psrt', 1]]);
      assert.ok(mqttOnB[1]?.payload.equals(payload));
      // Retain and QoS 0 do not cross: B sees a plain message (QoS as a replicated PSRT publish).
      await publisher.publishAsync('cl/q0', 'r', { qos: 0, retain: true });
      await until(() => mqttOnB.length === 3, 'QoS 0 retained MQTT message on B', 15_000);
      assert.equal(mqttOnB[2]?.topic, 'cl/q0');
      const lateOnB = await mqttSubscriber(b, 'cl/#');
      const lateOnA = await mqttSubscriber(a, 'cl/#');
      await until(() => lateOnA.length === 1, 'retained on A');
      await psrtOnB.waitFor(3);
      await new Promise((r) => setTimeout(r, 200)); // a duplicate (replicated back) would arrive late
      assert.equal(mqttOnB.length, 3, 'no duplicates on B');
      assert.equal(lateOnB.length, 0, 'B keeps no retained copy');
      assert.deepEqual(mqttOnA.map((m) => m.topic), ['/cl//mqtt', 'cl/psrt', 'cl/q0'], 'A delivers each message once locally');
      assert.equal(psrtOnB.messages.length, 3);
      assert.equal(mqttOnB[2].qos, 1, 'a replicated message enters B like an acknowledged PSRT publish');
    } finally {
      psrtOnB.close();
    }
  });

  test("A's $SYS statistics reach A's MQTT subscribers only: not B's MQTT or PSRT subscribers", async () => {
    const onA = await mqttSubscriber(a, '$SYS/#');
    const onB = await mqttSubscriber(b, '$SYS/#');
    const psrtOnB = await PsrtSubscriber.open(b.port, ['#']);
    try {
      const updates = (): number => onA.filter((m) => m.topic === '$SYS/broker/uptime').length;
      await until(() => updates() >= 3, "three of A's uptime updates", 5000);
      assert.deepEqual(onB, []);
      assert.deepEqual(psrtOnB.messages.map((m) => m.topic), []);
    } finally {
      psrtOnB.close();
    }
  });
});
