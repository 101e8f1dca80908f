/** Malformed and forbidden MQTT input: each case must throw MqttError with the right reason. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCode } from '../../../src/protocol/errors.js';
import { MqttDecoder, MqttError, ReasonCode, type MqttVersion } from '../../../src/protocol/mqtt/index.js';
import { wire } from './vectors.js';

interface BadCase {
  readonly name: string;
  /** null: nothing decoded yet (server side, waiting for CONNECT). */
  readonly version: MqttVersion | null;
  readonly hex: string;
  readonly reason: number;
}

const R = ReasonCode;
const CONNECT_HEAD = '00 04 4d 51 54 54'; // "MQTT"

const BAD: readonly BadCase[] = [
  { name: 'remaining length with a 5th byte', version: 4, hex: '30 ff ff ff ff 01', reason: R.MalformedPacket },
  { name: 'remaining length not minimal', version: 4, hex: 'c0 80 00', reason: R.MalformedPacket },
  { name: 'packet type 0', version: 4, hex: '00 00', reason: R.MalformedPacket },
  { name: 'AUTH in 3.1.1', version: 4, hex: 'f0 00', reason: R.ProtocolError },
  { name: 'PUBACK with flags 0001', version: 4, hex: '41 02 00 01', reason: R.MalformedPacket },
  { name: 'PUBREL with flags 0000', version: 5, hex: '60 02 00 01', reason: R.MalformedPacket },
  { name: 'SUBSCRIBE with flags 0000', version: 4, hex: '80 06 00 01 00 01 61 00', reason: R.MalformedPacket },
  { name: 'UNSUBSCRIBE with flags 0011', version: 4, hex: 'a3 05 00 01 00 01 61', reason: R.MalformedPacket },
  { name: 'PINGREQ with flags', version: 4, hex: 'c1 00', reason: R.MalformedPacket },
  { name: 'PINGREQ with a body', version: 4, hex: 'c0 01 00', reason: R.MalformedPacket },
  { name: 'PUBLISH QoS 3', version: 4, hex: '36 05 00 01 74 00 01', reason: R.MalformedPacket },
  { name: 'PUBLISH topic with +', version: 4, hex: '30 05 00 03 61 2f 2b', reason: R.TopicNameInvalid },
  { name: 'PUBLISH topic with #', version: 5, hex: '30 04 00 01 23 00', reason: R.TopicNameInvalid },
  { name: 'PUBLISH topic invalid UTF-8', version: 4, hex: '30 04 00 02 c3 28', reason: R.MalformedPacket },
  { name: 'PUBLISH topic UTF-16 surrogate', version: 5, hex: '30 06 00 03 ed a0 80 00', reason: R.MalformedPacket },
  { name: 'PUBLISH topic with U+0000', version: 4, hex: '30 04 00 02 61 00', reason: R.MalformedPacket },
  { name: 'PUBLISH truncated topic string', version: 4, hex: '30 03 00 05 61', reason: R.MalformedPacket },
  { name: 'PUBLISH 3.1.1 empty topic', version: 4, hex: '30 02 00 00', reason: R.ProtocolError },
  { name: 'PUBLISH 5 empty topic, no alias', version: 5, hex: '30 03 00 00 00', reason: R.ProtocolError },
  { name: 'PUBLISH 5 topic alias 0', version: 5, hex: '30 06 00 00 03 23 00 00', reason: R.TopicAliasInvalid },
  { name: 'PUBLISH QoS 1 packet id 0', version: 4, hex: '32 05 00 01 74 00 00', reason: R.ProtocolError },
  {
    name: 'PUBLISH 5 property not allowed (session expiry)',
    version: 5,
    hex: '30 09 00 01 74 05 11 00 00 00 01',
    reason: R.MalformedPacket,
  },
  { name: 'PUBLISH 5 unknown property 0x7f', version: 5, hex: '30 06 00 01 74 02 7f 00', reason: R.MalformedPacket },
  { name: 'PUBLISH 5 duplicate topic alias', version: 5, hex: '30 0a 00 01 74 06 23 00 01 23 00 01', reason: R.ProtocolError },
  { name: 'PUBLISH 5 property length past the end', version: 5, hex: '30 05 00 01 74 09 01', reason: R.MalformedPacket },
  { name: 'PUBLISH 5 payload format indicator 2', version: 5, hex: '30 06 00 01 74 02 01 02', reason: R.ProtocolError },
  { name: 'SUBSCRIBE without subscriptions', version: 4, hex: '82 02 00 01', reason: R.ProtocolError },
  { name: 'SUBSCRIBE packet id 0', version: 4, hex: '82 06 00 00 00 01 61 00', reason: R.ProtocolError },
  { name: 'SUBSCRIBE 3.1.1 option bit 2 (reserved)', version: 4, hex: '82 06 00 01 00 01 61 04', reason: R.MalformedPacket },
  { name: 'SUBSCRIBE 5 option bit 6 (reserved)', version: 5, hex: '82 07 00 01 00 00 01 61 40', reason: R.MalformedPacket },
  { name: 'SUBSCRIBE 5 retain handling 3', version: 5, hex: '82 07 00 01 00 00 01 61 30', reason: R.ProtocolError },
  { name: 'SUBSCRIBE requested QoS 3', version: 4, hex: '82 06 00 01 00 01 61 03', reason: R.MalformedPacket },
  { name: 'SUBSCRIBE 5 subscription identifier 0', version: 5, hex: '82 09 00 01 02 0b 00 00 01 61 00', reason: R.ProtocolError },
  { name: 'UNSUBSCRIBE without filters', version: 5, hex: 'a2 03 00 01 00', reason: R.ProtocolError },
  { name: 'PUBACK packet id 0', version: 4, hex: '40 02 00 00', reason: R.ProtocolError },
  { name: 'PUBACK 3.1.1 trailing byte', version: 4, hex: '40 03 00 01 00', reason: R.MalformedPacket },
  { name: 'CONNACK reserved flag bits', version: 4, hex: '20 02 02 00', reason: R.MalformedPacket },
  { name: 'packet before the version is known', version: null, hex: 'c0 00', reason: R.ProtocolError },
  { name: 'CONNECT bad protocol name', version: null, hex: '10 0d 00 04 4d 51 54 58 04 02 00 3c 00 01 61', reason: R.MalformedPacket },
  { name: 'CONNECT MQTT level 3', version: null, hex: `10 0d ${CONNECT_HEAD} 03 02 00 3c 00 01 61`, reason: R.UnsupportedProtocolVersion },
  { name: 'CONNECT MQTT level 6', version: null, hex: `10 0d ${CONNECT_HEAD} 06 02 00 3c 00 01 61`, reason: R.UnsupportedProtocolVersion },
  // MQTT 3.1 is "MQIsdp" with level 3 only.
  { name: 'CONNECT MQIsdp level 4', version: null, hex: '10 0f 00 06 4d 51 49 73 64 70 04 02 00 3c 00 01 61', reason: R.UnsupportedProtocolVersion },
  { name: 'CONNECT MQIsdp level 5', version: null, hex: '10 0f 00 06 4d 51 49 73 64 70 05 02 00 3c 00 01 61', reason: R.UnsupportedProtocolVersion },
  {
    name: 'CONNECT 3.1 password without user name',
    version: null,
    hex: '10 13 00 06 4d 51 49 73 64 70 03 42 00 3c 00 01 61 00 02 70 77',
    reason: R.MalformedPacket,
  },
  { name: 'CONNECT reserved flag', version: null, hex: `10 0d ${CONNECT_HEAD} 04 03 00 3c 00 01 61`, reason: R.MalformedPacket },
  { name: 'CONNECT will QoS without will', version: null, hex: `10 0d ${CONNECT_HEAD} 04 0a 00 3c 00 01 61`, reason: R.MalformedPacket },
  { name: 'CONNECT will retain without will', version: null, hex: `10 0d ${CONNECT_HEAD} 04 22 00 3c 00 01 61`, reason: R.MalformedPacket },
  { name: 'CONNECT will QoS 3', version: null, hex: `10 0d ${CONNECT_HEAD} 04 1e 00 3c 00 01 61`, reason: R.MalformedPacket },
  {
    name: 'CONNECT 3.1.1 password without user name',
    version: null,
    hex: `10 11 ${CONNECT_HEAD} 04 42 00 3c 00 01 61 00 02 70 77`,
    reason: R.MalformedPacket,
  },
  { name: 'CONNECT trailing bytes', version: null, hex: `10 0e ${CONNECT_HEAD} 04 02 00 3c 00 01 61 00`, reason: R.MalformedPacket },
  {
    name: 'CONNECT 5 receive maximum 0',
    version: null,
    hex: `10 10 ${CONNECT_HEAD} 05 02 00 3c 03 21 00 00 00 01 61`,
    reason: R.ProtocolError,
  },
];

function decodeAll(d: MqttDecoder): void {
  while (d.next() !== null) {
    // drain until the error or the end
  }
}

function expectReason(fn: () => void, reason: number): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof MqttError, String(e));
    assert.equal(e.reasonCode, reason, e.message);
    return true;
  });
}

describe('MQTT decoder rejects bad input', () => {
  for (const c of BAD) {
    it(`${c.name} → 0x${c.reason.toString(16)}`, () => {
      const d = new MqttDecoder({ maxPacketSize: 1 << 20 });
      d.version = c.version;
      d.push(wire(c.hex));
      expectReason(() => {
        decodeAll(d);
      }, c.reason);
      // The stream is dead after an error: the same error again, not a resync on garbage.
      expectReason(() => {
        decodeAll(d);
      }, c.reason);
    });
  }
});

describe('MQTT decoder packet size limit', () => {
  it('refuses a 100 MB PUBLISH from its fixed header alone', () => {
    const d = new MqttDecoder({ maxPacketSize: 1024 });
    d.version = 4;
    // Remaining length ff ff ff 2f = 100,663,295 bytes.
    d.push(wire('30 ff ff ff 2f'));
    assert.throws(() => d.next(), (e: unknown) => {
      assert.ok(e instanceof MqttError);
      assert.equal(e.reasonCode, ReasonCode.PacketTooLarge);
      assert.equal(e.code, ErrorCode.MqttPacketTooLarge);
      return true;
    });
    assert.ok(d.buffered <= 5, `buffered ${d.buffered}`);
  });

  it('refuses when the header arrives byte by byte, before any body', () => {
    const d = new MqttDecoder({ maxPacketSize: 1024 });
    d.version = 5;
    for (const x of [0x30, 0x81]) {
      d.push(Buffer.from([x]));
      assert.equal(d.next(), null);
    }
    d.push(Buffer.from([0x08])); // 1025 + 3 header bytes
    expectReason(() => d.next(), ReasonCode.PacketTooLarge);
  });

  it('drops input pushed after a failure', () => {
    const d = new MqttDecoder({ maxPacketSize: 1024 });
    d.version = 4;
    d.push(wire('30 ff ff ff 2f'));
    expectReason(() => d.next(), ReasonCode.PacketTooLarge);
    const before = d.buffered;
    d.push(Buffer.alloc(65536));
    assert.equal(d.buffered, before);
    expectReason(() => d.next(), ReasonCode.PacketTooLarge);
  });

  it('accepts a packet of exactly the limit', () => {
    const d = new MqttDecoder({ maxPacketSize: 10 });
    d.version = 4;
    d.push(wire('30 08 00 01 74 31 32 33 34 35'));
    const p = d.next();
    assert.ok(p?.type === 'publish');
    assert.equal(p.payload.toString(), '12345');
  });

  it('holds the first packet to maxConnectSize, later ones to maxPacketSize', () => {
    const d = new MqttDecoder({ maxPacketSize: 1 << 20, maxConnectSize: 100 });
    d.push(Buffer.from([0x10, 0x65])); // CONNECT of 101 + 2 header bytes: header only
    expectReason(() => d.next(), ReasonCode.PacketTooLarge);
    const ok = new MqttDecoder({ maxPacketSize: 1 << 20, maxConnectSize: 100 });
    ok.push(wire('10 0d 00 04 4d 51 54 54 04 02 00 00 00 01 78')); // CONNECT v4, client id x
    assert.equal(ok.next()?.type, 'connect');
    ok.push(Buffer.concat([wire('30 e8 07 00 01 74'), Buffer.alloc(997)])); // PUBLISH of 1003 bytes
    assert.equal(ok.next()?.type, 'publish');
  });

  it('reports a large first packet that is not a CONNECT as such', () => {
    const d = new MqttDecoder({ maxPacketSize: 1 << 20, maxConnectSize: 100 });
    d.push(wire('30 e8 07'));
    expectReason(() => d.next(), ReasonCode.ProtocolError);
  });

  it('gives the error codes of the catalogue', () => {
    assert.equal(new MqttError(ReasonCode.MalformedPacket, 'x').code, ErrorCode.MqttMalformed);
    assert.equal(new MqttError(ReasonCode.ProtocolError, 'x').code, ErrorCode.MqttProtocolError);
    assert.equal(new MqttError(ReasonCode.UnsupportedProtocolVersion, 'x').code, ErrorCode.MqttUnsupportedVersion);
  });
});
