/**
 * MQTT 5.0 features end to end: topic aliases in both directions, flow control (the client's
 * Receive Maximum), the client's Maximum Packet Size, message expiry (expired queued messages
 * dropped, the remaining interval lowered), carried publish properties, a request/response
 * round trip, AUTH after CONNECT refused with DISCONNECT 0x82, and a server DISCONNECT's
 * reason string kept short when the error quotes a 65 KB topic.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import mqtt from 'mqtt';
import {
  ackPacket,
  openClient,
  packet,
  parsePublish,
  props,
  publishPacket,
  publishProps,
  rawConnect,
  rawSession,
  rawSubscribe,
  readPacket,
  sleep,
  str,
  u16,
  u32,
  url,
} from '../helpers/mqtt-raw.js';
import { startPsrtd, type Psrtd } from '../helpers/psrtd.js';

const ALIAS_MAX = 4;

describe('MQTT 5.0 features', () => {
  let server: Psrtd;
  let pub: mqtt.MqttClient;
  before(async () => {
    server = await startPsrtd({ mqtt: { topic_alias_maximum: ALIAS_MAX } });
    pub = await mqtt.connectAsync(url(server.mqttPort), { protocolVersion: 5, clientId: 'v5-pub', reconnectPeriod: 0 });
  });
  after(async () => {
    await pub.endAsync();
    await server.stop();
  });

  it('CONNACK announces the server limits (topic alias maximum, receive maximum, max packet size)', async () => {
    const c = await openClient(server.mqttPort, { protocolVersion: 5, clientId: 'limits' });
    await c.client.endAsync();
    const p = c.connack.properties;
    assert.ok(p !== undefined);
    assert.equal(p.topicAliasMaximum, ALIAS_MAX);
    assert.ok((p.receiveMaximum ?? 0) > 0);
    assert.ok((p.maximumPacketSize ?? 0) > 100000);
  });

  it('client → server topic alias: set with a topic, then used with an empty topic', async () => {
    const sub = await openClient(server.mqttPort, { protocolVersion: 4, clientId: 'alias-in-sub' });
    const raw = await rawSession(server.mqttPort, { version: 5, clientId: 'alias-in' });
    try {
      await sub.client.subscribeAsync('alias/#', { qos: 1 });
      const alias1 = props(Buffer.from([0x23]), u16(1));
      raw.send(publishPacket('alias/long/topic', 'first', { qos: 1, id: 1, version: 5, props: alias1 }));
      raw.send(publishPacket('', 'second', { qos: 1, id: 2, version: 5, props: alias1 }));
      raw.send(publishPacket('alias/other', 'third', { qos: 1, id: 3, version: 5, props: alias1 })); // remap
      raw.send(publishPacket('', 'fourth', { qos: 1, id: 4, version: 5, props: alias1 }));
      for (let id = 1; id <= 4; id++) assert.equal((await readPacket(raw)).body.readUInt16BE(0), id);
      const got = await sub.inbox.waitFor(4);
      assert.deepEqual(got.map((m) => `${m.topic}=${m.payload}`), ['alias/long/topic=first', 'alias/long/topic=second', 'alias/other=third', 'alias/other=fourth']);
    } finally {
      raw.destroy();
      await sub.client.endAsync();
    }
  });

  for (const [what, alias, topic, reason] of [
    ['alias 0', 0, 'a/b', 0x94],
    ['an alias above the maximum', ALIAS_MAX + 1, 'a/b', 0x94],
    ['an unknown alias with an empty topic', 2, '', 0x82],
  ] as const) {
    it(`client → server topic alias: ${what} → DISCONNECT 0x${reason.toString(16)}`, async () => {
      const raw = await rawSession(server.mqttPort, { version: 5, clientId: `alias-bad-${alias}` });
      try {
        raw.send(publishPacket(topic, 'x', { version: 5, props: props(Buffer.from([0x23]), u16(alias)) }));
        const d = await readPacket(raw);
        assert.deepEqual([d.type, d.body[0]], [14, reason]);
        await raw.expectClose();
      } finally {
        raw.destroy();
      }
    });
  }

  it('server → client topic aliases within the client Topic Alias Maximum (raw)', async () => {
    const raw = await rawSession(server.mqttPort, { version: 5, clientId: 'alias-out', props: props(Buffer.from([0x22]), u16(2)) });
    try {
      await rawSubscribe(raw, 'ao/#', 0, 5);
      for (const t of ['ao/a', 'ao/a', 'ao/b', 'ao/c', 'ao/b', 'ao/c']) await pub.publishAsync(t, t, { qos: 0 });
      const seen: [string, unknown, string][] = [];
      for (let i = 0; i < 6; i++) {
        const p = parsePublish(await readPacket(raw), 5);
        seen.push([p.topic, publishProps(p.props).get(0x23), p.payload.toString()]);
      }
      assert.deepEqual(seen, [
        ['ao/a', 1, 'ao/a'],
        ['', 1, 'ao/a'],
        ['ao/b', 2, 'ao/b'],
        ['ao/c', undefined, 'ao/c'], // no alias left: full topic
        ['', 2, 'ao/b'],
        ['ao/c', undefined, 'ao/c'],
      ]);
    } finally {
      raw.destroy();
    }
  });

  it('server → client topic alias: a message dropped as too large does not use up the alias announcement', async () => {
    const connectProps = props(Buffer.from([0x22]), u16(2), Buffer.from([0x27]), u32(64));
    const raw = await rawSession(server.mqttPort, { version: 5, clientId: 'alias-drop', props: connectProps });
    try {
      await rawSubscribe(raw, 'ad/t', 0, 5);
      await pub.publishAsync('ad/t', 'B'.repeat(100), { qos: 0 }); // too large for the client: dropped
      await pub.publishAsync('ad/t', 'small', { qos: 0 });
      await pub.publishAsync('ad/t', 'again', { qos: 0 });
      const first = parsePublish(await readPacket(raw), 5);
      assert.deepEqual([first.topic, publishProps(first.props).get(0x23), first.payload.toString()], ['ad/t', 1, 'small']);
      const second = parsePublish(await readPacket(raw), 5);
      assert.deepEqual([second.topic, publishProps(second.props).get(0x23), second.payload.toString()], ['', 1, 'again']);
    } finally {
      raw.destroy();
    }
  });

  it('server → client topic aliases: MQTT.js resolves them to the right topics', async () => {
    const sub = await openClient(server.mqttPort, { protocolVersion: 5, clientId: 'alias-mqttjs', properties: { topicAliasMaximum: 3 } });
    try {
      await sub.client.subscribeAsync('am/#', { qos: 1 });
      const topics = ['am/1', 'am/2', 'am/1', 'am/3', 'am/4', 'am/2', 'am/4', 'am/1'];
      for (const t of topics) await pub.publishAsync(t, t, { qos: 1 });
      const got = await sub.inbox.waitFor(topics.length);
      assert.deepEqual(got.map((m) => m.topic), topics);
      assert.deepEqual(got.map((m) => m.payload), topics);
    } finally {
      await sub.client.endAsync();
    }
  });

  it('flow control: never more unacknowledged QoS 1 deliveries than the client Receive Maximum', async () => {
    const raw = await rawSession(server.mqttPort, { version: 5, clientId: 'recvmax', props: props(Buffer.from([0x21]), u16(2)) });
    try {
      await rawSubscribe(raw, 'rm/t', 1, 5);
      for (let i = 0; i < 5; i++) await pub.publishAsync('rm/t', `m${i}`, { qos: 1 });
      const first = [parsePublish(await readPacket(raw), 5), parsePublish(await readPacket(raw), 5)];
      await raw.expectSilence(300);
      raw.send(ackPacket(4, first[0]?.id ?? 0));
      const third = parsePublish(await readPacket(raw), 5);
      await raw.expectSilence(200);
      raw.send(ackPacket(4, first[1]?.id ?? 0));
      raw.send(ackPacket(4, third.id));
      const rest = [parsePublish(await readPacket(raw), 5), parsePublish(await readPacket(raw), 5)];
      assert.deepEqual([...first, third, ...rest].map((p) => p.payload.toString()), ['m0', 'm1', 'm2', 'm3', 'm4']);
    } finally {
      raw.destroy();
    }
  });

  it('the client Maximum Packet Size: larger messages are not sent to it, smaller ones are', async () => {
    const raw = await rawSession(server.mqttPort, { version: 5, clientId: 'maxpkt', props: props(Buffer.from([0x27]), u32(64)) });
    try {
      await rawSubscribe(raw, 'mp/t', 1, 5);
      await pub.publishAsync('mp/t', 'x'.repeat(100), { qos: 0 });
      await pub.publishAsync('mp/t', 'y'.repeat(100), { qos: 1 });
      await pub.publishAsync('mp/t', 'small', { qos: 1 });
      const p = await readPacket(raw);
      assert.ok(p.body.length + 2 <= 64);
      assert.equal(parsePublish(p, 5).payload.toString(), 'small');
      raw.send(ackPacket(4, parsePublish(p, 5).id));
      await raw.expectSilence(200);
    } finally {
      raw.destroy();
    }
  });

  // A Reason String must be left out "if it would increase the size of the DISCONNECT packet
  // beyond the Maximum Packet Size specified by the receiver" [MQTT-3.14.2-3]; CONNACK the same
  // [MQTT-3.2.2-19].
  it('the client Maximum Packet Size: a server DISCONNECT or refusing CONNACK leaves out a reason string that does not fit', async () => {
    const small = Buffer.concat([Buffer.from([0x27]), u32(20)]);
    const raw = await rawSession(server.mqttPort, { version: 5, clientId: 'maxpkt-disc', props: props(small) });
    try {
      raw.send(publishPacket('mp/x', 'x', { version: 5, props: props(Buffer.from([0x23]), u16(ALIAS_MAX + 1)) }));
      const d = await readPacket(raw);
      assert.equal(d.type, 14);
      assert.equal(d.body[0], 0x94);
      assert.ok(d.body.length + 2 <= 20, `DISCONNECT of ${d.body.length + 2} bytes`);
      await raw.expectClose();
    } finally {
      raw.destroy();
    }
    const authMethod = Buffer.concat([Buffer.from([0x15]), str('SCRAM-SHA-1')]);
    const { conn, connack } = await rawConnect(server.mqttPort, { version: 5, clientId: 'maxpkt-connack', props: props(small, authMethod) });
    try {
      assert.equal(connack.body[1], 0x8c);
      assert.ok(connack.body.length + 2 <= 20, `CONNACK of ${connack.body.length + 2} bytes`);
    } finally {
      conn.destroy();
    }
  });

  it('a protocol error quoting a 65 KB topic: DISCONNECT 0x90 with a short reason string, the server goes on', async () => {
    const raw = await rawSession(server.mqttPort, { version: 5, clientId: 'long-reason' });
    try {
      raw.send(publishPacket(`lr/+/${'x'.repeat(65_520)}`, 'x', { version: 5 }));
      const d = await readPacket(raw);
      assert.deepEqual([d.type, d.body[0]], [14, 0x90]);
      assert.ok(d.body.length < 1024, `DISCONNECT of ${d.body.length} bytes`);
      await raw.expectClose();
    } finally {
      raw.destroy();
    }
    const after = await rawSession(server.mqttPort, { version: 5, clientId: 'long-reason-after' });
    after.destroy();
  });

  it('message expiry: an expired queued message is dropped, the remaining interval is lowered', async () => {
    const opts = { protocolVersion: 5 as const, clientId: 'expiry', clean: false, properties: { sessionExpiryInterval: 30 } };
    const first = await openClient(server.mqttPort, opts);
    await first.client.subscribeAsync('me/t', { qos: 1 });
    await first.client.endAsync();
    await pub.publishAsync('me/t', 'short', { qos: 1, properties: { messageExpiryInterval: 1 } });
    await pub.publishAsync('me/t', 'long', { qos: 1, properties: { messageExpiryInterval: 20 } });
    await pub.publishAsync('me/t', 'forever', { qos: 1 });
    await sleep(2100);
    const second = await openClient(server.mqttPort, opts);
    try {
      await second.inbox.waitFor(2);
      await sleep(150);
      const got = second.inbox.messages;
      assert.deepEqual(got.map((m) => m.payload), ['long', 'forever']);
      const left = got[0]?.packet.properties?.messageExpiryInterval ?? 0;
      assert.ok(left >= 15 && left <= 18, `remaining expiry ${left}`);
      assert.equal(got[1]?.packet.properties?.messageExpiryInterval, undefined);
    } finally {
      await second.client.endAsync();
    }
  });

  it('publish properties are carried: user properties, content type, payload format, response topic, correlation data', async () => {
    const sub = await openClient(server.mqttPort, { protocolVersion: 5, clientId: 'carried' });
    try {
      await sub.client.subscribeAsync('carry/t', { qos: 1 });
      const properties = {
        payloadFormatIndicator: true,
        contentType: 'application/json',
        responseTopic: 'carry/reply',
        correlationData: Buffer.from('corr-7'),
        userProperties: { a: '1', b: ['2', '3'] },
      };
      await pub.publishAsync('carry/t', '{"x":1}', { qos: 1, properties });
      const p = (await sub.inbox.waitFor(1))[0]?.packet.properties;
      assert.ok(p !== undefined);
      assert.equal(p.payloadFormatIndicator, true);
      assert.equal(p.contentType, 'application/json');
      assert.equal(p.responseTopic, 'carry/reply');
      assert.deepEqual(p.correlationData, Buffer.from('corr-7'));
      assert.deepEqual({ ...p.userProperties }, { a: '1', b: ['2', '3'] });
    } finally {
      await sub.client.endAsync();
    }
  });

  it('request/response round trip with response topic and correlation data', async () => {
    const responder = await openClient(server.mqttPort, { protocolVersion: 5, clientId: 'responder' });
    const requester = await openClient(server.mqttPort, { protocolVersion: 5, clientId: 'requester' });
    try {
      await responder.client.subscribeAsync('svc/double', { qos: 1 });
      responder.client.on('message', (_t, payload, packet) => {
        const reply = packet.properties?.responseTopic;
        if (reply === undefined) return;
        const correlationData = packet.properties?.correlationData;
        responder.client.publish(reply, String(Number(payload.toString()) * 2), { qos: 1, properties: correlationData === undefined ? {} : { correlationData } });
      });
      await requester.client.subscribeAsync('replies/requester', { qos: 1 });
      for (const [n, corr] of [[21, 'r1'], [50, 'r2']] as const) {
        await requester.client.publishAsync('svc/double', String(n), { qos: 1, properties: { responseTopic: 'replies/requester', correlationData: Buffer.from(corr) } });
      }
      const got = await requester.inbox.waitFor(2);
      assert.deepEqual(got.map((m) => [m.packet.properties?.correlationData?.toString(), m.payload]), [['r1', '42'], ['r2', '100']]);
    } finally {
      await Promise.all([responder.client.endAsync(), requester.client.endAsync()]);
    }
  });

  // Without an Authentication Method in CONNECT "the Client MUST NOT send an AUTH packet"
  // [MQTT-4.12.0-7], a Protocol Error; 0x8C is no DISCONNECT reason code [MQTT-3.14.2-1]
  // (MQTT.js's parser rejects a DISCONNECT carrying it).
  it('AUTH after CONNECT gets DISCONNECT 0x82 (protocol error) and a close', async () => {
    const raw = await rawSession(server.mqttPort, { version: 5, clientId: 'auth-late' });
    try {
      raw.send(packet(0xf0, Buffer.from([0x18]), props(Buffer.from([0x15]), str('SCRAM-SHA-1'))));
      const d = await readPacket(raw);
      assert.deepEqual([d.type, d.body[0]], [14, 0x82]);
      await raw.expectClose();
    } finally {
      raw.destroy();
    }
  });
});
