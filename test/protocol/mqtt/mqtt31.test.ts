/**
 * MQTT 3.1 ("MQIsdp", level 3) in the codec: a 3.1 CONNECT makes a version-4 stream flagged
 * `mqtt31`; what 3.1 leaves unchecked and Mosquitto accepts (fixed-header flags other than
 * PUBLISH's, the CONNECT reserved bit, a user name or password flagged but absent) is accepted;
 * the 3.1 CONNACK; both directions against mqtt-packet with protocolVersion 3.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import mqttPacket, { type Packet as MpPacket } from 'mqtt-packet';
import {
  MqttDecoder,
  MqttError,
  ReasonCode,
  encodeConnack31,
  encodePacket,
  type ConnectPacket,
  type MqttPacket,
} from '../../../src/protocol/mqtt/index.js';
import { fromMp, normalize } from './mqtt-packet-adapter.js';
import { wire } from './vectors.js';

const MAX = 1 << 20;
/** "MQIsdp", level 3. */
const HEAD_31 = '00 06 4d 51 49 73 64 70 03';
/** CONNECT 3.1, clean session, keep alive 60, client id "a". */
const CONNECT_31 = `10 0f ${HEAD_31} 02 00 3c 00 01 61`;
const CONNECT_311 = '10 0d 00 04 4d 51 54 54 04 02 00 3c 00 01 61';

function decodeAll(bytes: Buffer, chunks: Buffer[] = [bytes]): { d: MqttDecoder; packets: MqttPacket[] } {
  const d = new MqttDecoder({ maxPacketSize: MAX });
  const packets: MqttPacket[] = [];
  for (const c of chunks) {
    d.push(c);
    for (let p = d.next(); p !== null; p = d.next()) packets.push(p);
  }
  return { d, packets };
}

/** The fixed-header flags 3.1 may set: DUP (and QoS 1) on retries; Mosquitto checks none of them. */
const LENIENT = wire(`
  82 08 00 05 00 03 61 2f 62 01  -- SUBSCRIBE with the 0b0010 flags
  8a 08 00 06 00 03 61 2f 62 01  -- SUBSCRIBE retried: DUP set
  80 08 00 07 00 03 61 2f 62 00  -- SUBSCRIBE with flags 0
  aa 07 00 08 00 03 61 2f 62  -- UNSUBSCRIBE retried: DUP set
  6a 02 00 09  -- PUBREL retried: DUP set
  c2 00  -- PINGREQ with QoS bits`);

describe('MQTT 3.1 decoding', () => {
  it('a 3.1 CONNECT makes a version-4 stream flagged mqtt31; a 3.1.1 one does not', () => {
    const v31 = decodeAll(wire(CONNECT_31));
    assert.equal(v31.d.version, 4);
    assert.equal(v31.d.mqtt31, true);
    const v311 = decodeAll(wire(CONNECT_311));
    assert.equal(v311.d.version, 4);
    assert.equal(v311.d.mqtt31, false);
  });

  it('after a 3.1 CONNECT, non-PUBLISH fixed-header flags are not checked (whole and split at every offset)', () => {
    const bytes = Buffer.concat([wire(CONNECT_31), LENIENT]);
    const expected = decodeAll(bytes).packets.map((p) => p.type);
    assert.deepEqual(expected, ['connect', 'subscribe', 'subscribe', 'subscribe', 'unsubscribe', 'pubrel', 'pingreq']);
    for (let i = 1; i < bytes.length; i++) {
      const split = decodeAll(bytes, [bytes.subarray(0, i), bytes.subarray(i)]);
      assert.deepEqual(split.packets.map((p) => p.type), expected, `split@${i}`);
      assert.equal(split.d.buffered, 0);
    }
  });

  it('the same flags after a 3.1.1 CONNECT are a Malformed Packet', () => {
    const d = new MqttDecoder({ maxPacketSize: MAX });
    d.push(Buffer.concat([wire(CONNECT_311), wire('8a 08 00 06 00 03 61 2f 62 01')]));
    assert.equal(d.next()?.type, 'connect');
    assert.throws(() => d.next(), (e: unknown) => e instanceof MqttError && e.reasonCode === ReasonCode.MalformedPacket);
  });

  it('a PUBLISH with QoS 3 is still malformed in 3.1', () => {
    const d = new MqttDecoder({ maxPacketSize: MAX });
    d.push(Buffer.concat([wire(CONNECT_31), wire('36 05 00 01 61 00 01')]));
    assert.equal(d.next()?.type, 'connect');
    assert.throws(() => d.next(), (e: unknown) => e instanceof MqttError && e.reasonCode === ReasonCode.MalformedPacket);
  });

  it('CONNECT 3.1: the reserved bit and a will QoS/retain without will flag are ignored', () => {
    // flags 0x3b: will retain 20 | will QoS 3 bits 18 | clean 02 | reserved 01, no will flag.
    const { packets } = decodeAll(wire(`10 0f ${HEAD_31} 3b 00 3c 00 01 61`));
    assert.deepEqual(packets, [{ type: 'connect', protocolName: 'MQIsdp', protocolLevel: 3, cleanStart: true, keepAlive: 60, clientId: 'a' }]);
  });

  it('CONNECT 3.1: a user name and password flagged but absent (the packet ends) are absent', () => {
    const bare = decodeAll(wire(`10 0f ${HEAD_31} c2 00 3c 00 01 61`)).packets[0] as ConnectPacket;
    assert.equal(bare.username, undefined);
    assert.equal(bare.password, undefined);
    const userOnly = decodeAll(wire(`10 12 ${HEAD_31} c2 00 3c 00 01 61 00 01 75`)).packets[0] as ConnectPacket;
    assert.equal(userOnly.username, 'u');
    assert.equal(userOnly.password, undefined);
  });

  it('CONNECT 3.1.1: a flagged user name that is absent is still malformed', () => {
    const d = new MqttDecoder({ maxPacketSize: MAX });
    d.push(wire('10 0d 00 04 4d 51 54 54 04 82 00 3c 00 01 61'));
    assert.throws(() => d.next(), (e: unknown) => e instanceof MqttError && e.reasonCode === ReasonCode.MalformedPacket);
  });
});

describe('MQTT 3.1 CONNACK', () => {
  it('has a reserved first byte and the 3.1.1 return codes', () => {
    for (const rc of [0, 1, 2, 3, 4, 5]) {
      assert.deepEqual(encodeConnack31(rc), Buffer.from([0x20, 0x02, 0x00, rc]));
      const mp = mqttPacket.generate({ cmd: 'connack', returnCode: rc, sessionPresent: false }, { protocolVersion: 3 });
      assert.deepEqual(encodeConnack31(rc), mp);
    }
  });
});

const text = (minLength: number): fc.Arbitrary<string> =>
  fc.string({ unit: fc.constantFrom('a', 'z', '/', '-', 'é', '€', '😀'), minLength, maxLength: 12 });
const bytes = fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a));

/** 3.1 CONNECTs: client id 1..23 characters as 3.1 asks, optional will and credentials. */
const connect31: fc.Arbitrary<ConnectPacket> = fc
  .record({
    cleanStart: fc.boolean(),
    keepAlive: fc.integer({ min: 0, max: 0xffff }),
    clientId: text(1),
    user: fc.option(fc.tuple(text(0), fc.option(bytes, { nil: undefined })), { nil: undefined }),
    will: fc.option(fc.record({ topic: text(1), payload: bytes, qos: fc.constantFrom(0 as const, 1 as const, 2 as const), retain: fc.boolean() }), { nil: undefined }),
  })
  .map((r) => {
    const p: ConnectPacket = { type: 'connect', protocolName: 'MQIsdp', protocolLevel: 3, cleanStart: r.cleanStart, keepAlive: r.keepAlive, clientId: r.clientId };
    if (r.will) p.will = r.will;
    if (r.user) {
      p.username = r.user[0];
      if (r.user[1]) p.password = r.user[1];
    }
    return p;
  });

function mpOf(p: ConnectPacket): MpPacket {
  return {
    cmd: 'connect',
    protocolId: 'MQIsdp',
    protocolVersion: 3,
    clean: p.cleanStart,
    keepalive: p.keepAlive,
    clientId: p.clientId,
    ...(p.username === undefined ? {} : { username: p.username }),
    ...(p.password === undefined ? {} : { password: p.password }),
    ...(p.will ? { will: { topic: p.will.topic, payload: p.will.payload, qos: p.will.qos, retain: p.will.retain } } : {}),
  };
}

describe('MQTT 3.1 CONNECT against mqtt-packet (protocolVersion 3)', () => {
  const RUNS = { numRuns: 200, seed: 0x31 };

  it('mqtt-packet encodes, we decode (a version-4 stream flagged mqtt31)', () => {
    fc.assert(
      fc.property(connect31, (p) => {
        const { d, packets } = decodeAll(mqttPacket.generate(mpOf(p), { protocolVersion: 3 }));
        assert.deepEqual(normalize(packets[0] as MqttPacket), normalize(p));
        assert.equal(d.mqtt31, true);
      }),
      RUNS,
    );
  });

  it('we encode, mqtt-packet parses', () => {
    fc.assert(
      fc.property(connect31, (p) => {
        const parser = mqttPacket.parser({ protocolVersion: 3 });
        const out: MpPacket[] = [];
        parser.on('packet', (x: MpPacket) => out.push(x));
        parser.on('error', (e: unknown) => { throw e; });
        assert.equal(parser.parse(encodePacket(p, 4)), 0);
        assert.equal(out.length, 1);
        assert.deepEqual(normalize(fromMp(out[0] as MpPacket)), normalize(p));
      }),
      RUNS,
    );
  });
});
