/**
 * Subscriptions end to end: `$` topics and wildcards, overlapping subscriptions (one delivery at
 * the highest granted QoS), v5 subscription identifiers, no-local, shared subscriptions,
 * SUBACK failure codes (invalid filter, ACL), UNSUBSCRIBE / UNSUBACK codes, and the DISCONNECT
 * session expiry rules.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import mqtt from 'mqtt';
import { openClient, packet, props, publishPacket, rawConnect, rawSession, rawSubscribe, readPacket, sleep, str, subscribePacket, u16, u32, url } from '../helpers/mqtt-raw.js';
import { startPsrtd, type Psrtd } from '../helpers/psrtd.js';
import { PASSWORD, TEST_ACL, makePasswd } from '../helpers/users.js';

function ids(p: mqtt.IPublishPacket): number[] {
  const v = p.properties?.subscriptionIdentifier;
  return v === undefined ? [] : Array.isArray(v) ? [...v].sort() : [v];
}

describe('MQTT subscriptions', () => {
  let server: Psrtd;
  let pub: mqtt.MqttClient;
  before(async () => {
    server = await startPsrtd({ passwd: makePasswd(), acl: TEST_ACL, mqtt: {} });
    pub = await mqtt.connectAsync(url(server.mqttPort), { protocolVersion: 5, clientId: 'subs-pub', reconnectPeriod: 0 });
  });
  after(async () => {
    await pub.endAsync();
    await server.stop();
  });

  it('$ topics are not matched by # or +/..., only by a filter starting with $', async () => {
    const sub = await openClient(server.mqttPort, { protocolVersion: 4, clientId: 'dollar' });
    try {
      await sub.client.subscribeAsync(['#', '+/stats', '$ops/#'], { qos: 1 });
      await pub.publishAsync('$ops/stats', 'hidden', { qos: 1 });
      await pub.publishAsync('app/stats', 'visible', { qos: 1 });
      await sub.inbox.waitFor(2);
      await sleep(150);
      const seen = sub.inbox.messages.map((m) => `${m.topic}=${m.payload}`).sort();
      assert.deepEqual(seen, ['$ops/stats=hidden', 'app/stats=visible'], 'each exactly once');
      await sub.client.unsubscribeAsync('$ops/#');
      await pub.publishAsync('$ops/stats', 'hidden2', { qos: 1 });
      await sleep(200);
      assert.equal(sub.inbox.messages.length, 2, '# and +/stats must not match $ops/stats');
    } finally {
      await sub.client.endAsync();
    }
  });

  for (const v of [4, 5] as const) {
    it(`v${v}: overlapping subscriptions: one delivery at the highest granted QoS`, async () => {
      const sub = await openClient(server.mqttPort, { protocolVersion: v, clientId: `overlap${v}` });
      try {
        await sub.client.subscribeAsync({ 'ov/#': { qos: 0 }, 'ov/+': { qos: 2 }, 'ov/a': { qos: 1 } });
        await pub.publishAsync('ov/a', 'x', { qos: 2 });
        await pub.publishAsync('ov/a/b', 'y', { qos: 2 }); // only ov/# (QoS 0)
        await sub.inbox.waitFor(2);
        await sleep(150);
        assert.deepEqual(sub.inbox.messages.map((m) => [m.topic, m.packet.qos]), [['ov/a', 2], ['ov/a/b', 0]]);
      } finally {
        await sub.client.endAsync();
      }
    });
  }

  it('v5: subscription identifiers: every matching id on one delivery', async () => {
    const sub = await openClient(server.mqttPort, { protocolVersion: 5, clientId: 'sids' });
    try {
      await sub.client.subscribeAsync('sid/#', { qos: 1, properties: { subscriptionIdentifier: 11 } });
      await sub.client.subscribeAsync('sid/+', { qos: 1, properties: { subscriptionIdentifier: 22 } });
      await sub.client.subscribeAsync('sid/+/c', { qos: 1 });
      await pub.publishAsync('sid/a', 'two ids', { qos: 1 });
      await pub.publishAsync('sid/a/b', 'one id', { qos: 1 });
      await pub.publishAsync('sid/a/c', 'one id and a plain sub', { qos: 1 });
      const got = await sub.inbox.waitFor(3);
      assert.deepEqual(got.map((m) => ids(m.packet)), [[11, 22], [11], [11]]);
    } finally {
      await sub.client.endAsync();
    }
  });

  it('v5: no local: own messages are not sent back, others are', async () => {
    const a = await openClient(server.mqttPort, { protocolVersion: 5, clientId: 'nl-a' });
    try {
      await a.client.subscribeAsync('nl/quiet', { qos: 1, nl: true });
      await a.client.subscribeAsync('nl/echo', { qos: 1, nl: false });
      await a.client.publishAsync('nl/quiet', 'mine', { qos: 1 });
      await a.client.publishAsync('nl/echo', 'echoed', { qos: 1 });
      await pub.publishAsync('nl/quiet', 'theirs', { qos: 1 });
      await a.inbox.waitFor(2);
      await sleep(150);
      assert.deepEqual(a.inbox.messages.map((m) => m.payload).sort(), ['echoed', 'theirs']);
    } finally {
      await a.client.endAsync();
    }
  });

  it('v5/3.1.1: shared subscriptions split messages between members, each to exactly one', async () => {
    const m1 = await openClient(server.mqttPort, { protocolVersion: 5, clientId: 'share-1' });
    const m2 = await openClient(server.mqttPort, { protocolVersion: 4, clientId: 'share-2' });
    const other = await openClient(server.mqttPort, { protocolVersion: 5, clientId: 'share-other-group' });
    const plain = await openClient(server.mqttPort, { protocolVersion: 5, clientId: 'share-plain' });
    try {
      await m1.client.subscribeAsync('$share/g/sh/#', { qos: 1 });
      await m2.client.subscribeAsync('$share/g/sh/#', { qos: 1 });
      await other.client.subscribeAsync('$share/h/sh/+', { qos: 1 });
      await plain.client.subscribeAsync('sh/#', { qos: 1 });
      const n = 20;
      for (let i = 0; i < n; i++) await pub.publishAsync(`sh/${i}`, String(i), { qos: 1 });
      await plain.inbox.waitFor(n);
      await other.inbox.waitFor(n);
      const deadline = Date.now() + 3000;
      while (m1.inbox.messages.length + m2.inbox.messages.length < n && Date.now() < deadline) await sleep(20);
      await sleep(150);
      const split = [...m1.inbox.messages, ...m2.inbox.messages].map((m) => Number(m.payload)).sort((x, y) => x - y);
      assert.deepEqual(split, Array.from({ length: n }, (_, i) => i), 'each message to one member of g');
      assert.ok(m1.inbox.messages.length > 0 && m2.inbox.messages.length > 0, `split ${m1.inbox.messages.length}/${m2.inbox.messages.length}`);
      assert.equal(other.inbox.messages.length, n, 'another group gets every message');
      assert.equal(plain.inbox.messages.length, n);
      // A member that leaves: the other gets everything.
      await m1.client.unsubscribeAsync('$share/g/sh/#');
      const before2 = m2.inbox.messages.length;
      for (let i = 0; i < 4; i++) await pub.publishAsync('sh/after', String(i), { qos: 1 });
      await m2.inbox.waitFor(before2 + 4);
    } finally {
      await Promise.all([m1, m2, other, plain].map((c) => c.client.endAsync()));
    }
  });

  it('SUBACK failure codes: invalid filters (v5 0x8F, 3.1.1 0x80) and ACL (v5 0x87, 3.1.1 0x80)', async () => {
    const login = { username: 'limited', password: PASSWORD };
    const v5 = await rawSession(server.mqttPort, { version: 5, clientId: 'suback5', ...login });
    const v4 = await rawSession(server.mqttPort, { clientId: 'suback4', ...login });
    const entry = (f: string, o: number): Buffer => Buffer.concat([str(f), Buffer.from([o])]);
    try {
      v5.send(packet(0x82, u16(2), props(), entry('allowed/#', 1), entry('a/#/b', 1), entry('other/x', 1), entry('$share/g+/allowed/x', 1)));
      const r5 = await readPacket(v5);
      assert.equal(r5.type, 9);
      assert.deepEqual([...r5.body.subarray(-4)], [1, 0x8f, 0x87, 0x8f]);
      v4.send(packet(0x82, u16(3), entry('allowed/#', 2), entry('a/b#', 1), entry('other/x', 1)));
      assert.deepEqual(await v4.read(7), Buffer.from([0x90, 5, 0, 3, 2, 0x80, 0x80]));
    } finally {
      v5.destroy();
      v4.destroy();
    }
  });

  it('v5: a publish denied by the ACL gets PUBACK 0x87 and reaches nobody', async () => {
    const sub = await openClient(server.mqttPort, { protocolVersion: 5, clientId: 'denied-watch' });
    const raw = await rawSession(server.mqttPort, { version: 5, clientId: 'denied-pub', username: 'limited', password: PASSWORD });
    try {
      await sub.client.subscribeAsync('other/#', { qos: 1 });
      raw.send(publishPacket('other/x', 'no', { qos: 1, id: 3, version: 5 }));
      const ack = await readPacket(raw);
      assert.deepEqual([ack.type, ack.body.readUInt16BE(0), ack.body[2]], [4, 3, 0x87]);
      await sleep(150);
      assert.equal(sub.inbox.messages.length, 0);
    } finally {
      raw.destroy();
      await sub.client.endAsync();
    }
  });

  it('UNSUBACK: v5 0x00 for a subscription, 0x11 for none; 3.1.1 plain; no delivery after', async () => {
    const raw5 = await rawSession(server.mqttPort, { version: 5, clientId: 'unsub5' });
    const raw4 = await rawSession(server.mqttPort, { clientId: 'unsub4' });
    try {
      await rawSubscribe(raw5, 'uns/t', 1, 5);
      raw5.send(packet(0xa2, u16(9), props(), str('uns/t'), str('uns/never')));
      assert.deepEqual(await raw5.read(7), Buffer.from([0xb0, 5, 0, 9, 0, 0x00, 0x11]));
      await rawSubscribe(raw4, 'uns/t', 1);
      raw4.send(packet(0xa2, u16(4), str('uns/t')));
      assert.deepEqual(await raw4.read(4), Buffer.from([0xb0, 2, 0, 4]));
      await pub.publishAsync('uns/t', 'after', { qos: 1 });
      await Promise.all([raw5.expectSilence(200), raw4.expectSilence(200)]);
    } finally {
      raw5.destroy();
      raw4.destroy();
    }
  });

  it('v5: a shared subscription with no local is a protocol error (DISCONNECT 0x82)', async () => {
    const raw = await rawSession(server.mqttPort, { version: 5, clientId: 'share-nl' });
    try {
      raw.send(subscribePacket(1, '$share/g/x', 0x05, 5));
      const d = await readPacket(raw);
      assert.deepEqual([d.type, d.body[0]], [14, 0x82]);
      await raw.expectClose();
    } finally {
      raw.destroy();
    }
  });

  it('v5 DISCONNECT: a session expiry after 0 on CONNECT is a protocol error (0x82)', async () => {
    const raw = await rawSession(server.mqttPort, { version: 5, clientId: 'disc-exp0' });
    try {
      raw.send(packet(0xe0, Buffer.from([0x00]), props(Buffer.from([0x11]), u32(10))));
      const d = await readPacket(raw);
      assert.deepEqual([d.type, d.body[0]], [14, 0x82]);
      await raw.expectClose();
    } finally {
      raw.destroy();
    }
  });

  it('v5 DISCONNECT: a longer session expiry on DISCONNECT keeps the session', async () => {
    const connectProps = props(Buffer.from([0x11]), u32(1));
    const a = await rawSession(server.mqttPort, { version: 5, clientId: 'disc-exp', props: connectProps });
    a.send(packet(0xe0, Buffer.from([0x00]), props(Buffer.from([0x11]), u32(30))));
    await a.expectClose();
    await sleep(1500);
    const { conn, connack } = await rawConnect(server.mqttPort, { version: 5, clientId: 'disc-exp', clean: false, props: connectProps });
    conn.destroy();
    assert.deepEqual([connack.body[0], connack.body[1]], [1, 0], 'session present after the CONNECT expiry passed');
  });
});

describe('MQTT with max_session_expiry 0', () => {
  let server: Psrtd;
  before(async () => {
    server = await startPsrtd({ mqtt: { max_session_expiry: 0 } });
  });
  after(async () => {
    await server.stop();
  });

  it('v5 DISCONNECT: a session expiry after a non-zero one on CONNECT (lowered to 0) is no protocol error', async () => {
    const { conn, connack } = await rawConnect(server.mqttPort, { version: 5, clientId: 'disc-capped', props: props(Buffer.from([0x11]), u32(60)) });
    try {
      assert.equal(connack.body[1], 0);
      assert.ok(connack.body.includes(Buffer.from([0x11, 0, 0, 0, 0])), 'CONNACK tells Session Expiry 0');
      conn.send(packet(0xe0, Buffer.from([0x00]), props(Buffer.from([0x11]), u32(30))));
      await conn.expectClose(); // no DISCONNECT 0x82 first
    } finally {
      conn.destroy();
    }
  });
});
