/**
 * QoS and retained messages end to end: delivered QoS = min(published, granted) in both
 * directions between 3.1.1 and v5 clients, the exact QoS 1/2 handshakes on the wire (a QoS 2
 * PUBLISH resent with DUP before PUBREL is delivered once), retained messages on subscribe,
 * deletion by an empty payload, v5 retain-as-published and retain handling 0/1/2, and no
 * retained messages for shared subscriptions.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import mqtt from 'mqtt';
import { ackPacket, openClient, parsePublish, publishPacket, rawSession, rawSubscribe, readPacket, sleep, url } from '../helpers/mqtt-raw.js';
import { startPsrtd, type Psrtd } from '../helpers/psrtd.js';

describe('MQTT QoS and retained messages', () => {
  let server: Psrtd;
  before(async () => {
    server = await startPsrtd({ mqtt: {} });
  });
  after(async () => {
    await server.stop();
  });

  for (const [pubV, subV] of [[4, 5], [5, 4]] as const) {
    it(`delivered QoS is min(published, granted): v${pubV} publisher, v${subV} subscriber`, async () => {
      const sub = await openClient(server.mqttPort, { protocolVersion: subV, clientId: `qsub${subV}` });
      const pub = await mqtt.connectAsync(url(server.mqttPort), { protocolVersion: pubV, clientId: `qpub${pubV}`, reconnectPeriod: 0 });
      try {
        for (const granted of [0, 1, 2] as const) {
          const r = await sub.client.subscribeAsync(`qos${subV}/g${granted}`, { qos: granted });
          assert.equal(r[0]?.qos, granted);
        }
        for (const granted of [0, 1, 2]) {
          for (const q of [0, 1, 2] as const) await pub.publishAsync(`qos${subV}/g${granted}`, `p${q}`, { qos: q });
        }
        const got = await sub.inbox.waitFor(9);
        for (const m of got) {
          const granted = Number(m.topic.slice(-1));
          const published = Number(m.payload.slice(1));
          assert.equal(m.packet.qos, Math.min(granted, published), `${m.topic} ${m.payload}`);
        }
        assert.equal(new Set(got.map((m) => m.topic + m.payload)).size, 9);
      } finally {
        await Promise.all([sub.client.endAsync(), pub.endAsync()]);
      }
    });
  }

  it('3.1.1 wire: QoS 1 PUBACK, QoS 2 PUBREC/PUBREL/PUBCOMP; a DUP resend before PUBREL is delivered once', async () => {
    const sub = await openClient(server.mqttPort, { protocolVersion: 5, clientId: 'wire-sub' });
    const raw = await rawSession(server.mqttPort, { clientId: 'wire-pub' });
    try {
      await sub.client.subscribeAsync('wire/#', { qos: 2 });
      raw.send(publishPacket('wire/1', 'one', { qos: 1, id: 5 }));
      assert.deepEqual(await raw.read(4), Buffer.from([0x40, 2, 0, 5]));
      raw.send(publishPacket('wire/2', 'two', { qos: 2, id: 7 }));
      assert.deepEqual(await raw.read(4), Buffer.from([0x50, 2, 0, 7]));
      raw.send(publishPacket('wire/2', 'two', { qos: 2, id: 7, dup: true }));
      assert.deepEqual(await raw.read(4), Buffer.from([0x50, 2, 0, 7]), 'PUBREC again for the resend');
      raw.send(ackPacket(6, 7));
      assert.deepEqual(await raw.read(4), Buffer.from([0x70, 2, 0, 7]));
      // After PUBCOMP the id is free: the same id is a new message.
      raw.send(publishPacket('wire/3', 'three', { qos: 2, id: 7 }));
      assert.deepEqual(await raw.read(4), Buffer.from([0x50, 2, 0, 7]));
      raw.send(ackPacket(6, 7));
      assert.deepEqual(await raw.read(4), Buffer.from([0x70, 2, 0, 7]));
      await sub.inbox.waitFor(3);
      await sleep(200);
      assert.deepEqual(sub.inbox.messages.map((m) => [m.topic, m.payload, m.packet.qos]), [['wire/1', 'one', 1], ['wire/2', 'two', 2], ['wire/3', 'three', 2]]);
    } finally {
      raw.destroy();
      await sub.client.endAsync();
    }
  });

  it('v5 wire: PUBREL for an unknown packet id gets PUBCOMP 0x92', async () => {
    const raw = await rawSession(server.mqttPort, { version: 5, clientId: 'unknown-rel' });
    try {
      raw.send(ackPacket(6, 99));
      const comp = await readPacket(raw);
      assert.deepEqual([comp.type, comp.body.readUInt16BE(0), comp.body[2]], [7, 99, 0x92]);
    } finally {
      raw.destroy();
    }
  });

  it('outbound QoS 2 to a raw subscriber: PUBLISH, PUBREC → PUBREL, PUBCOMP ends it', async () => {
    const raw = await rawSession(server.mqttPort, { clientId: 'out2' });
    const pub = await mqtt.connectAsync(url(server.mqttPort), { protocolVersion: 4, clientId: 'out2-pub', reconnectPeriod: 0 });
    try {
      await rawSubscribe(raw, 'out2/t', 2);
      await pub.publishAsync('out2/t', 'x', { qos: 2 });
      const p = parsePublish(await readPacket(raw), 4);
      assert.deepEqual([p.topic, p.qos, p.dup, p.payload.toString()], ['out2/t', 2, false, 'x']);
      raw.send(ackPacket(5, p.id));
      const rel = await readPacket(raw);
      assert.deepEqual([rel.type, rel.flags, rel.body.readUInt16BE(0)], [6, 2, p.id]);
      raw.send(ackPacket(7, p.id));
      await raw.expectSilence(200);
    } finally {
      raw.destroy();
      await pub.endAsync();
    }
  });

  it('retained: delivered on subscribe with the retain flag at min(QoS); an empty payload deletes it', async () => {
    const pub = await mqtt.connectAsync(url(server.mqttPort), { protocolVersion: 4, clientId: 'ret-pub', reconnectPeriod: 0 });
    try {
      await pub.publishAsync('ret/a', 'A', { qos: 1, retain: true });
      await pub.publishAsync('ret/b', 'B', { qos: 2, retain: true });
      await pub.publishAsync('ret/c', 'C', { qos: 1, retain: false });
      for (const v of [4, 5] as const) {
        const sub = await openClient(server.mqttPort, { protocolVersion: v, clientId: `ret-sub${v}` });
        await sub.client.subscribeAsync('ret/+', { qos: 1 });
        const got = await sub.inbox.waitFor(2);
        await sleep(100);
        const seen = sub.inbox.messages.map((m) => [m.topic, m.payload, m.packet.qos, m.packet.retain]).sort();
        assert.deepEqual(seen, [['ret/a', 'A', 1, true], ['ret/b', 'B', 1, true]], `v${v}`);
        assert.equal(got.length, 2);
        await sub.client.endAsync();
      }
      await pub.publishAsync('ret/a', '', { qos: 1, retain: true });
      const sub = await openClient(server.mqttPort, { protocolVersion: 5, clientId: 'ret-sub-after' });
      await sub.client.subscribeAsync('ret/+', { qos: 1 });
      await sub.inbox.waitFor(1);
      await sleep(150);
      assert.deepEqual(sub.inbox.messages.map((m) => m.topic), ['ret/b'], 'ret/a was deleted');
      await sub.client.endAsync();
      await pub.publishAsync('ret/b', '', { qos: 1, retain: true });
    } finally {
      await pub.endAsync();
    }
  });

  it('v5 retain-as-published: live retained messages keep retain=1 only with rap', async () => {
    const sub = await openClient(server.mqttPort, { protocolVersion: 5, clientId: 'rap-sub' });
    const pub = await mqtt.connectAsync(url(server.mqttPort), { protocolVersion: 5, clientId: 'rap-pub', reconnectPeriod: 0 });
    try {
      await sub.client.subscribeAsync('rap/keep', { qos: 1, rap: true });
      await sub.client.subscribeAsync('rap/clear', { qos: 1, rap: false });
      await pub.publishAsync('rap/keep', 'k', { qos: 1, retain: true });
      await pub.publishAsync('rap/clear', 'c', { qos: 1, retain: true });
      const got = await sub.inbox.waitFor(2);
      assert.deepEqual(got.map((m) => [m.topic, m.packet.retain]), [['rap/keep', true], ['rap/clear', false]]);
      await pub.publishAsync('rap/keep', '', { qos: 1, retain: true });
      await pub.publishAsync('rap/clear', '', { qos: 1, retain: true });
    } finally {
      await Promise.all([sub.client.endAsync(), pub.endAsync()]);
    }
  });

  it('3.1.1: a retained message to an established subscription has retain 0, on a new subscription retain 1', async () => {
    const raw = await rawSession(server.mqttPort, { clientId: 'ret-flag4' });
    const pub = await mqtt.connectAsync(url(server.mqttPort), { protocolVersion: 4, clientId: 'ret-flag-pub', reconnectPeriod: 0 });
    try {
      await rawSubscribe(raw, 'rf/t', 1);
      await pub.publishAsync('rf/t', 'live', { qos: 1, retain: true });
      const live = parsePublish(await readPacket(raw), 4);
      assert.deepEqual([live.payload.toString(), live.retain], ['live', false]);
      raw.send(ackPacket(4, live.id));
      await rawSubscribe(raw, 'rf/+', 1);
      const stored = parsePublish(await readPacket(raw), 4);
      assert.deepEqual([stored.payload.toString(), stored.retain], ['live', true]);
      raw.send(ackPacket(4, stored.id));
      await pub.publishAsync('rf/t', '', { qos: 1, retain: true });
    } finally {
      raw.destroy();
      await pub.endAsync();
    }
  });

  it('v5 retain handling: 0 sends at every subscribe, 1 only for a new subscription, 2 never', async () => {
    const pub = await mqtt.connectAsync(url(server.mqttPort), { protocolVersion: 5, clientId: 'rh-pub', reconnectPeriod: 0 });
    const sub = await openClient(server.mqttPort, { protocolVersion: 5, clientId: 'rh-sub' });
    try {
      for (const t of ['rh/0', 'rh/1', 'rh/2']) await pub.publishAsync(t, t, { qos: 1, retain: true });
      const count = async (topic: string, rh: 0 | 1 | 2): Promise<number> => {
        const before = sub.inbox.messages.length;
        await sub.client.subscribeAsync(topic, { qos: 1, rh });
        await sleep(150);
        return sub.inbox.messages.length - before;
      };
      assert.equal(await count('rh/0', 0), 1);
      assert.equal(await count('rh/0', 0), 1, 'rh 0: again on resubscribe');
      assert.equal(await count('rh/1', 1), 1);
      assert.equal(await count('rh/1', 1), 0, 'rh 1: not when the subscription existed');
      assert.equal(await count('rh/2', 2), 0);
      for (const t of ['rh/0', 'rh/1', 'rh/2']) await pub.publishAsync(t, '', { qos: 1, retain: true });
    } finally {
      await Promise.all([sub.client.endAsync(), pub.endAsync()]);
    }
  });

  it('v5: a shared subscription gets no retained messages, a plain one does', async () => {
    const pub = await mqtt.connectAsync(url(server.mqttPort), { protocolVersion: 5, clientId: 'sh-ret-pub', reconnectPeriod: 0 });
    const sub = await openClient(server.mqttPort, { protocolVersion: 5, clientId: 'sh-ret-sub' });
    try {
      await pub.publishAsync('shret/t', 'kept', { qos: 1, retain: true });
      await sub.client.subscribeAsync('$share/g/shret/t', { qos: 1 });
      await sleep(200);
      assert.equal(sub.inbox.messages.length, 0);
      await sub.client.subscribeAsync('shret/#', { qos: 1 });
      assert.equal((await sub.inbox.waitFor(1))[0]?.payload, 'kept');
      await pub.publishAsync('shret/t', '', { qos: 1, retain: true });
    } finally {
      await Promise.all([sub.client.endAsync(), pub.endAsync()]);
    }
  });
});
