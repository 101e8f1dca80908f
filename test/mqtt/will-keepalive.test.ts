/**
 * Keep alive and wills end to end: a silent client is dropped after 1.5 × keep alive (its will
 * goes out), a pinging one stays; wills on abnormal close, not on DISCONNECT 0x00, on v5
 * DISCONNECT 0x04 or an error reason code, and on takeover; v5 Will Delay Interval (delayed,
 * cancelled by a reconnect, cut short by the session expiry) and will properties carried to the
 * subscriber.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import mqtt from 'mqtt';
import { Inbox, props, rawSession, readPacket, sleep, str, u32, url } from '../helpers/mqtt-raw.js';
import { startPsrtd, type Psrtd } from '../helpers/psrtd.js';

describe('MQTT keep alive and wills', () => {
  let server: Psrtd;
  let watcher: mqtt.MqttClient;
  let inbox: Inbox;
  before(async () => {
    server = await startPsrtd({ mqtt: {} });
    watcher = await mqtt.connectAsync(url(server.mqttPort), { protocolVersion: 5, clientId: 'will-watcher', reconnectPeriod: 0 });
    inbox = new Inbox(watcher);
    await watcher.subscribeAsync('will/#', { qos: 1 });
  });
  beforeEach(() => {
    inbox.messages.length = 0;
  });
  after(async () => {
    await watcher.endAsync();
    await server.stop();
  });

  it('3.1.1: a silent client with keep alive 1 s is closed after 1.5 s and its will is published', async () => {
    const conn = await rawSession(server.mqttPort, { clientId: 'silent4', keepAlive: 1, will: { topic: 'will/silent4', payload: 'gone', qos: 1 } });
    const started = Date.now();
    try {
      await conn.expectClose(4000);
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 1300 && elapsed < 3500, `closed after ${elapsed} ms`);
      const got = await inbox.waitFor(1);
      assert.deepEqual([got[0]?.topic, got[0]?.payload, got[0]?.packet.qos], ['will/silent4', 'gone', 1]);
    } finally {
      conn.destroy();
    }
  });

  it('v5: a silent client gets DISCONNECT 0x8D (keep alive timeout) before the close', async () => {
    const conn = await rawSession(server.mqttPort, { version: 5, clientId: 'silent5', keepAlive: 1, will: { topic: 'will/silent5', payload: 'gone5' } });
    try {
      const d = await readPacket(conn, 4000);
      assert.deepEqual([d.type, d.body[0]], [14, 0x8d]);
      await conn.expectClose(2000);
      assert.equal((await inbox.waitFor(1))[0]?.payload, 'gone5');
    } finally {
      conn.destroy();
    }
  });

  it('a client that sends PINGREQ within its keep alive stays connected', async () => {
    const conn = await rawSession(server.mqttPort, { clientId: 'pinger', keepAlive: 1 });
    try {
      for (let i = 0; i < 5; i++) {
        await sleep(500);
        conn.send(Buffer.from([0xc0, 0]));
        assert.deepEqual(await conn.read(2), Buffer.from([0xd0, 0]));
      }
      assert.equal(conn.closed, false);
    } finally {
      conn.destroy();
    }
  });

  it('no will after DISCONNECT 0x00 (3.1.1 and v5)', async () => {
    const a = await rawSession(server.mqttPort, { clientId: 'polite4', will: { topic: 'will/polite', payload: 'no' } });
    const b = await rawSession(server.mqttPort, { version: 5, clientId: 'polite5', will: { topic: 'will/polite', payload: 'no' } });
    a.send(Buffer.from([0xe0, 0]));
    b.send(Buffer.from([0xe0, 1, 0x00]));
    await Promise.all([a.expectClose(), b.expectClose()]);
    await sleep(300);
    assert.equal(inbox.messages.length, 0);
  });

  it('a will on abnormal close (socket lost), with its retain flag kept for later subscribers', async () => {
    const conn = await rawSession(server.mqttPort, { clientId: 'crash', will: { topic: 'will/crash', payload: 'crashed', qos: 1, retain: true } });
    conn.destroy();
    assert.equal((await inbox.waitFor(1))[0]?.payload, 'crashed');
    const late = await mqtt.connectAsync(url(server.mqttPort), { protocolVersion: 5, clientId: 'late', reconnectPeriod: 0 });
    const lateInbox = new Inbox(late);
    try {
      await late.subscribeAsync('will/crash', { qos: 1 });
      const got = await lateInbox.waitFor(1);
      assert.deepEqual([got[0]?.payload, got[0]?.packet.retain], ['crashed', true]);
      await late.publishAsync('will/crash', '', { qos: 1, retain: true }); // clean up the retained will
    } finally {
      await late.endAsync();
    }
  });

  it('v5: DISCONNECT 0x04 (with will message) publishes the will', async () => {
    const conn = await rawSession(server.mqttPort, { version: 5, clientId: 'with-will', will: { topic: 'will/asked', payload: 'asked' } });
    conn.send(Buffer.from([0xe0, 1, 0x04]));
    await conn.expectClose();
    assert.equal((await inbox.waitFor(1))[0]?.payload, 'asked');
  });

  it('v5: DISCONNECT with an error reason code (0x80, 0x83; raw and MQTT.js) publishes the will: only 0x00 discards it', async () => {
    const a = await rawSession(server.mqttPort, { version: 5, clientId: 'err-80', will: { topic: 'will/error', payload: '0x80' } });
    const b = await rawSession(server.mqttPort, { version: 5, clientId: 'err-83', will: { topic: 'will/error', payload: '0x83' } });
    const c = await mqtt.connectAsync(url(server.mqttPort), { protocolVersion: 5, clientId: 'err-mqttjs', reconnectPeriod: 0, will: { topic: 'will/error', payload: Buffer.from('mqtt.js'), qos: 0, retain: false } });
    a.send(Buffer.from([0xe0, 1, 0x80]));
    b.send(Buffer.from([0xe0, 2, 0x83, 0])); // with an empty property block
    await Promise.all([a.expectClose(), b.expectClose(), c.endAsync(false, { reasonCode: 0x80 })]);
    const got = await inbox.waitFor(3);
    assert.deepEqual(got.map((m) => m.payload).sort(), ['0x80', '0x83', 'mqtt.js']);
  });

  it('v5: a taken-over connection publishes its will', async () => {
    const a = await rawSession(server.mqttPort, { version: 5, clientId: 'taken', will: { topic: 'will/taken', payload: 'taken over' } });
    const b = await rawSession(server.mqttPort, { version: 5, clientId: 'taken' });
    try {
      assert.equal((await inbox.waitFor(1))[0]?.payload, 'taken over');
    } finally {
      a.destroy();
      b.destroy();
    }
  });

  it('v5: Will Delay Interval delays the will', async () => {
    const willProps = props(Buffer.from([0x18]), u32(1));
    const conn = await rawSession(server.mqttPort, { version: 5, clientId: 'delayed', props: props(Buffer.from([0x11]), u32(30)), will: { topic: 'will/delayed', payload: 'late', props: willProps } });
    conn.destroy();
    const lost = Date.now();
    await sleep(500);
    assert.equal(inbox.messages.length, 0, 'not before the delay');
    await inbox.waitFor(1, 3000);
    assert.ok(Date.now() - lost >= 900, `will after ${Date.now() - lost} ms`);
  });

  it('v5: a reconnect within the will delay cancels the will', async () => {
    const opts = { version: 5 as const, clientId: 'cancelled', clean: false, props: props(Buffer.from([0x11]), u32(30)) };
    const willProps = props(Buffer.from([0x18]), u32(1));
    const a = await rawSession(server.mqttPort, { ...opts, will: { topic: 'will/cancelled', payload: 'never', props: willProps } });
    a.destroy();
    await sleep(200);
    const b = await rawSession(server.mqttPort, opts);
    try {
      await sleep(1500);
      assert.equal(inbox.messages.length, 0);
    } finally {
      b.send(Buffer.from([0xe0, 0]));
      await b.expectClose();
    }
  });

  // "The Server delays publishing the Client's Will Message until the Will Delay Interval has
  // passed or the Session ends, whichever happens first" (§3.1.3.2.2): a clean start ends it.
  it('v5: a clean-start takeover of a connected session publishes its delayed will at once', async () => {
    const willProps = props(Buffer.from([0x18]), u32(60));
    const a = await rawSession(server.mqttPort, { version: 5, clientId: 'clean-takeover', props: props(Buffer.from([0x11]), u32(60)), will: { topic: 'will/clean-takeover', payload: 'ended', props: willProps } });
    const b = await rawSession(server.mqttPort, { version: 5, clientId: 'clean-takeover' });
    try {
      assert.equal((await inbox.waitFor(1, 2000))[0]?.payload, 'ended');
    } finally {
      a.destroy();
      b.destroy();
    }
  });

  it('v5: a clean-start reconnect to an offline session publishes its pending delayed will', async () => {
    const willProps = props(Buffer.from([0x18]), u32(60));
    const a = await rawSession(server.mqttPort, { version: 5, clientId: 'clean-again', props: props(Buffer.from([0x11]), u32(60)), will: { topic: 'will/clean-again', payload: 'ended', props: willProps } });
    a.destroy();
    await sleep(200);
    assert.equal(inbox.messages.length, 0, 'the will waits for its delay');
    const b = await rawSession(server.mqttPort, { version: 5, clientId: 'clean-again' });
    try {
      assert.equal((await inbox.waitFor(1, 2000))[0]?.payload, 'ended');
    } finally {
      b.destroy();
    }
  });

  it('v5: a will delay beyond 24.8 days (past a 32-bit timer) is not published early', async () => {
    const long = await startPsrtd({ mqtt: { max_session_expiry: 4294967295 } });
    const watch = await mqtt.connectAsync(url(long.mqttPort), { protocolVersion: 5, clientId: 'long-watcher', reconnectPeriod: 0 });
    try {
      const got = new Inbox(watch);
      await watch.subscribeAsync('will/#', { qos: 0 });
      const willProps = props(Buffer.from([0x18]), u32(3_000_000));
      const conn = await rawSession(long.mqttPort, { version: 5, clientId: 'long-delay', props: props(Buffer.from([0x11]), u32(0xffffffff)), will: { topic: 'will/long', payload: 'far future', props: willProps } });
      conn.destroy();
      await sleep(700);
      assert.equal(got.messages.length, 0);
    } finally {
      await watch.endAsync();
      await long.stop();
    }
  });

  it('v5: a session expiry shorter than the will delay publishes the will at expiry', async () => {
    const willProps = props(Buffer.from([0x18]), u32(60));
    const conn = await rawSession(server.mqttPort, { version: 5, clientId: 'short', props: props(Buffer.from([0x11]), u32(1)), will: { topic: 'will/short', payload: 'expired', props: willProps } });
    conn.destroy();
    assert.equal((await inbox.waitFor(1, 3000))[0]?.payload, 'expired');
  });

  it('v5: will properties are carried to the subscriber', async () => {
    const willProps = props(
      Buffer.from([0x01, 1]),
      Buffer.from([0x03]),
      str('text/plain'),
      Buffer.from([0x08]),
      str('will/reply'),
      Buffer.from([0x09]),
      str(Buffer.from([1, 2, 3])),
      Buffer.from([0x26]),
      str('k'),
      str('v'),
    );
    const conn = await rawSession(server.mqttPort, { version: 5, clientId: 'propwill', will: { topic: 'will/props', payload: 'p', props: willProps } });
    conn.destroy();
    const p = (await inbox.waitFor(1))[0]?.packet.properties;
    assert.ok(p !== undefined);
    assert.equal(p.payloadFormatIndicator, true);
    assert.equal(p.contentType, 'text/plain');
    assert.equal(p.responseTopic, 'will/reply');
    assert.deepEqual(p.correlationData, Buffer.from([1, 2, 3]));
    assert.deepEqual({ ...p.userProperties }, { k: 'v' });
  });
});

describe('MQTT keep alive above max_keepalive', () => {
  let server: Psrtd;
  before(async () => {
    server = await startPsrtd({ mqtt: { max_keepalive: 1 } });
  });
  after(async () => {
    await server.stop();
  });

  // 3.1.1 has no Server Keep Alive: a client cannot learn a lowered value, so enforcing one
  // would cut a client that pings exactly as it said it would (Mosquitto keeps the client's).
  it("3.1.1: the client's own keep alive is enforced: pinging every 1.8 s with keep alive 2 stays connected, silence closes", async () => {
    const conn = await rawSession(server.mqttPort, { clientId: 'slowpinger', keepAlive: 2 });
    try {
      for (let i = 0; i < 2; i++) {
        await sleep(1800);
        assert.equal(conn.closed, false, `closed before ping ${i + 1}`);
        conn.send(Buffer.from([0xc0, 0]));
        assert.deepEqual(await conn.read(2), Buffer.from([0xd0, 0]));
      }
      const started = Date.now();
      await conn.expectClose(5000);
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 2500, `closed after ${elapsed} ms of silence, keep alive 2 s`);
    } finally {
      conn.destroy();
    }
  });

  it('v5: the lowered keep alive is told in CONNACK and enforced', async () => {
    const conn = await rawSession(server.mqttPort, { version: 5, clientId: 'toldka', keepAlive: 10 });
    const started = Date.now();
    try {
      const d = await readPacket(conn, 4000);
      assert.deepEqual([d.type, d.body[0]], [14, 0x8d]);
      assert.ok(Date.now() - started < 3500, 'v5 client kept past 1.5 × max_keepalive');
    } finally {
      conn.destroy();
    }
  });
});
