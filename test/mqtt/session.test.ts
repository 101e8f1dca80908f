/**
 * MQTT sessions end to end: clean session / clean start, persistent sessions (3.1.1 clean=0,
 * v5 Session Expiry Interval), the session present flag, queued QoS 1/2 messages after a
 * reconnect, in-flight messages resent with DUP (raw sockets leave them unacknowledged),
 * session takeover, and a short session expiry really ending the session.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import mqtt from 'mqtt';
import {
  ackPacket,
  openClient,
  parsePublish,
  props,
  rawConnect,
  rawSession,
  rawSubscribe,
  readPacket,
  sleep,
  u32,
  url,
} from '../helpers/mqtt-raw.js';
import { startPsrtd, type Psrtd } from '../helpers/psrtd.js';

const DISCONNECT = Buffer.from([0xe0, 0]);

describe('MQTT sessions', () => {
  let server: Psrtd;
  let pub: mqtt.MqttClient;
  before(async () => {
    server = await startPsrtd({ mqtt: {} });
    pub = await mqtt.connectAsync(url(server.mqttPort), { protocolVersion: 5, clientId: 'sess-pub', reconnectPeriod: 0 });
  });
  after(async () => {
    await pub.endAsync();
    await server.stop();
  });

  for (const version of [4, 5] as const) {
    it(`v${version}: a persistent session keeps subscriptions and queues QoS 1/2 messages while offline`, async () => {
      const clientId = `persist-${version}`;
      const sessionProps = version === 5 ? { properties: { sessionExpiryInterval: 60 } } : {};
      const first = await openClient(server.mqttPort, { protocolVersion: version, clientId, clean: false, ...sessionProps });
      assert.equal(first.connack.sessionPresent, false);
      await first.client.subscribeAsync(`persist${version}/#`, { qos: 2 });
      await first.client.endAsync();
      await pub.publishAsync(`persist${version}/a`, 'q1', { qos: 1 });
      await pub.publishAsync(`persist${version}/b`, 'q2', { qos: 2 });
      await pub.publishAsync(`persist${version}/c`, 'q0', { qos: 0 }); // QoS 0 is not queued offline
      const second = await openClient(server.mqttPort, { protocolVersion: version, clientId, clean: false, ...sessionProps });
      try {
        assert.equal(second.connack.sessionPresent, true);
        const got = await second.inbox.waitFor(2);
        assert.deepEqual(got.map((m) => [m.topic, m.payload, m.packet.qos]), [[`persist${version}/a`, 'q1', 1], [`persist${version}/b`, 'q2', 2]]);
        // The subscription survived: a new message arrives without subscribing again.
        await pub.publishAsync(`persist${version}/d`, 'live', { qos: 1 });
        assert.equal((await second.inbox.waitFor(3))[2]?.payload, 'live');
        await sleep(100);
        assert.equal(second.inbox.messages.length, 3, 'QoS 0 sent while offline must not be delivered');
      } finally {
        await second.client.endAsync();
      }
      // Clean session / clean start: the old session is gone.
      const third = await openClient(server.mqttPort, { protocolVersion: version, clientId, clean: true });
      assert.equal(third.connack.sessionPresent, false);
      await third.client.endAsync();
    });
  }

  it('3.1.1: clean session 1 discards the old session and its queued messages', async () => {
    const a = await rawSession(server.mqttPort, { clientId: 'clean-311', clean: false });
    await rawSubscribe(a, 'clean311/t', 1);
    a.send(DISCONNECT);
    await a.expectClose();
    await pub.publishAsync('clean311/t', 'lost', { qos: 1 });
    const { conn, connack } = await rawConnect(server.mqttPort, { clientId: 'clean-311', clean: true });
    try {
      assert.deepEqual(connack.body, Buffer.from([0, 0]));
      await pub.publishAsync('clean311/t', 'not subscribed', { qos: 1 });
      await conn.expectSilence(200);
    } finally {
      conn.destroy();
    }
  });

  it('v5: session expiry 0 (the default) ends the session with the connection', async () => {
    const a = await rawSession(server.mqttPort, { version: 5, clientId: 'exp0', clean: false });
    await rawSubscribe(a, 'exp0/t', 1, 5);
    a.send(DISCONNECT);
    await a.expectClose();
    const { conn, connack } = await rawConnect(server.mqttPort, { version: 5, clientId: 'exp0', clean: false });
    assert.equal(connack.body[0], 0, 'session present must be 0');
    conn.destroy();
  });

  it('v5: a short session expiry really ends the session (no session present, nothing queued)', async () => {
    const expiry = props(Buffer.from([0x11]), u32(1));
    const a = await rawSession(server.mqttPort, { version: 5, clientId: 'exp1', clean: true, props: expiry });
    await rawSubscribe(a, 'exp1/t', 1, 5);
    a.send(DISCONNECT);
    await a.expectClose();
    await pub.publishAsync('exp1/t', 'before expiry', { qos: 1 });
    await sleep(1500);
    await pub.publishAsync('exp1/t', 'after expiry', { qos: 1 });
    const { conn, connack } = await rawConnect(server.mqttPort, { version: 5, clientId: 'exp1', clean: false, props: expiry });
    try {
      assert.equal(connack.body[0], 0, 'the expired session must not be present');
      await conn.expectSilence(200);
    } finally {
      conn.destroy();
    }
  });

  it('v5: reconnecting within the expiry resumes the session (session present, queued message)', async () => {
    const expiry = props(Buffer.from([0x11]), u32(5));
    const a = await rawSession(server.mqttPort, { version: 5, clientId: 'exp5', clean: true, props: expiry });
    await rawSubscribe(a, 'exp5/t', 1, 5);
    a.destroy(); // network loss, not DISCONNECT
    await sleep(100);
    await pub.publishAsync('exp5/t', 'kept', { qos: 1 });
    const { conn, connack } = await rawConnect(server.mqttPort, { version: 5, clientId: 'exp5', clean: false, props: expiry });
    try {
      assert.equal(connack.body[0], 1, 'session present');
      const p = parsePublish(await readPacket(conn), 5);
      assert.equal(p.payload.toString(), 'kept');
      conn.send(ackPacket(4, p.id));
    } finally {
      conn.destroy();
    }
  });

  for (const version of [4, 5] as const) {
    it(`v${version}: an unacknowledged QoS 1 delivery is resent with DUP after a reconnect, same id`, async () => {
      const clientId = `dup1-${version}`;
      const expiry = version === 5 ? props(Buffer.from([0x11]), u32(30)) : undefined;
      const opts = { version, clientId, clean: false, ...(expiry === undefined ? {} : { props: expiry }) };
      const a = await rawSession(server.mqttPort, opts);
      await rawSubscribe(a, `dup1${version}/t`, 1, version);
      await pub.publishAsync(`dup1${version}/t`, 'unacked', { qos: 1 });
      const firstTry = parsePublish(await readPacket(a), version);
      assert.equal(firstTry.dup, false);
      a.destroy(); // no PUBACK
      await sleep(100);
      const { conn, connack } = await rawConnect(server.mqttPort, opts);
      try {
        assert.equal(connack.body[0], 1);
        const again = parsePublish(await readPacket(conn), version);
        assert.deepEqual([again.dup, again.id, again.qos, again.payload.toString()], [true, firstTry.id, 1, 'unacked']);
        conn.send(ackPacket(4, again.id));
        await conn.expectSilence(200); // acked: not sent again
      } finally {
        conn.destroy();
      }
    });
  }

  it('v5: QoS 2: after PUBREC a reconnect gets PUBREL again, not the PUBLISH', async () => {
    const opts = { version: 5 as const, clientId: 'dup2', clean: false, props: props(Buffer.from([0x11]), u32(30)) };
    const a = await rawSession(server.mqttPort, opts);
    await rawSubscribe(a, 'dup2/t', 2, 5);
    await pub.publishAsync('dup2/t', 'exactly once', { qos: 2 });
    const p = parsePublish(await readPacket(a), 5);
    assert.equal(p.qos, 2);
    a.send(ackPacket(5, p.id)); // PUBREC
    const rel = await readPacket(a);
    assert.deepEqual([rel.type, rel.flags, rel.body.readUInt16BE(0)], [6, 2, p.id]);
    a.destroy(); // no PUBCOMP
    await sleep(100);
    const { conn } = await rawConnect(server.mqttPort, opts);
    try {
      const again = await readPacket(conn);
      assert.deepEqual([again.type, again.body.readUInt16BE(0)], [6, p.id], 'PUBREL resent');
      conn.send(ackPacket(7, p.id)); // PUBCOMP
      await conn.expectSilence(200);
    } finally {
      conn.destroy();
    }
  });

  /** CONNECT properties: Session Expiry 30 s, Receive Maximum, optionally Maximum Packet Size. */
  function resumeProps(receiveMax: number, maxPacket?: number): Buffer {
    const rm = Buffer.from([0x21, receiveMax >> 8, receiveMax & 0xff]);
    const mps = maxPacket === undefined ? Buffer.alloc(0) : Buffer.concat([Buffer.from([0x27]), u32(maxPacket)]);
    return props(Buffer.from([0x11]), u32(30), rm, mps);
  }

  // "The Server MUST NOT send more than Receive Maximum QoS 1 and QoS 2 PUBLISH packets for which
  // it has not received PUBACK, PUBCOMP, or PUBREC with a Reason Code of 128 or greater" [MQTT-3.3.4-9].
  it('v5: a resumed session resends no more unacknowledged messages than the new Receive Maximum', async () => {
    const opts = { version: 5 as const, clientId: 'resume-rm', clean: false };
    const a = await rawSession(server.mqttPort, { ...opts, props: resumeProps(4) });
    await rawSubscribe(a, 'resume-rm/t', 1, 5);
    for (let i = 1; i <= 4; i++) await pub.publishAsync('resume-rm/t', `m${i}`, { qos: 1 });
    for (let i = 1; i <= 4; i++) await readPacket(a);
    a.destroy(); // none acknowledged
    await sleep(100);
    const b = await rawSession(server.mqttPort, { ...opts, props: resumeProps(1) });
    try {
      const got: string[] = [];
      for (let i = 1; i <= 4; i++) {
        const p = parsePublish(await readPacket(b), 5);
        got.push(`${p.payload.toString()}${p.dup ? '+dup' : ''}`);
        await b.expectSilence(200); // one at a time: the next only after the ack
        b.send(ackPacket(4, p.id));
      }
      assert.deepEqual(got, ['m1+dup', 'm2+dup', 'm3+dup', 'm4+dup']);
    } finally {
      b.destroy();
    }
  });

  // Too large for the new connection's Maximum Packet Size: "discard it without sending it and
  // then behave as if it had completed sending that Application Message" [MQTT-3.1.2-25].
  it('v5: an in-flight message too large for the resumed connection is dropped and frees its slot', async () => {
    const opts = { version: 5 as const, clientId: 'resume-mps', clean: false };
    const a = await rawSession(server.mqttPort, { ...opts, props: resumeProps(1) });
    await rawSubscribe(a, 'resume-mps/t', 1, 5);
    await pub.publishAsync('resume-mps/t', 'x'.repeat(500), { qos: 1 });
    assert.equal(parsePublish(await readPacket(a), 5).payload.length, 500);
    a.destroy(); // not acknowledged
    await sleep(100);
    const b = await rawSession(server.mqttPort, { ...opts, props: resumeProps(1, 200) });
    try {
      await pub.publishAsync('resume-mps/t', 'small', { qos: 1 });
      const p = parsePublish(await readPacket(b), 5);
      assert.deepEqual([p.payload.toString(), p.dup], ['small', false]);
    } finally {
      b.destroy();
    }
  });

  it('v5: session takeover: the old connection gets DISCONNECT 0x8E and the new one the session', async () => {
    const old = await openClient(server.mqttPort, { protocolVersion: 5, clientId: 'takeover5', clean: false, properties: { sessionExpiryInterval: 30 } });
    await old.client.subscribeAsync('take5/t', { qos: 1 });
    const reason = new Promise<number | undefined>((res) => old.client.once('disconnect', (p) => { res(p.reasonCode); }));
    const closed = new Promise<void>((res) => old.client.once('close', res));
    const next = await openClient(server.mqttPort, { protocolVersion: 5, clientId: 'takeover5', clean: false, properties: { sessionExpiryInterval: 30 } });
    try {
      assert.equal(await reason, 0x8e);
      await closed;
      assert.equal(next.connack.sessionPresent, true);
      await pub.publishAsync('take5/t', 'to the new one', { qos: 1 });
      assert.equal((await next.inbox.waitFor(1))[0]?.payload, 'to the new one');
      assert.equal(old.inbox.messages.length, 0);
    } finally {
      old.client.end(true);
      await next.client.endAsync();
    }
  });

  it('3.1.1: session takeover closes the old connection', async () => {
    const old = await rawSession(server.mqttPort, { clientId: 'takeover4', clean: false });
    const { conn, connack } = await rawConnect(server.mqttPort, { clientId: 'takeover4', clean: false });
    try {
      assert.deepEqual(connack.body, Buffer.from([1, 0]), 'session present');
      await old.expectClose(3000);
      conn.send(Buffer.from([0xc0, 0]));
      assert.deepEqual(await conn.read(2), Buffer.from([0xd0, 0]), 'the new connection stays');
    } finally {
      old.destroy();
      conn.destroy();
    }
  });
});
