/** The broker's hot-path encoder helpers: sizes, short forms and version differences. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ConnackReturnCode311,
  DISCONNECT_311,
  MqttDecoder,
  PINGREQ,
  PINGRESP,
  ReasonCode,
  connackCodeFor311,
  encodeAck,
  encodeConnack,
  encodeDisconnect,
  encodePacket,
  encodePublish,
  encodeSuback,
  encodeUnsuback,
  publishPacketSize,
  subackCodeFor311,
  type MqttProperties,
  type MqttVersion,
} from '../../../src/protocol/mqtt/index.js';
import { wire } from './vectors.js';

const PROPS: MqttProperties = {
  messageExpiryInterval: 60,
  subscriptionIdentifiers: [1, 300],
  userProperties: [['k', 'v']],
};

describe('encodePublish / publishPacketSize', () => {
  for (const version of [4, 5] as const satisfies readonly MqttVersion[]) {
    for (const payloadLength of [0, 1, 120, 127, 128, 20000, 2_100_000]) {
      it(`v${version} payload ${payloadLength}: size matches, decodes back`, () => {
        const payload = Buffer.alloc(payloadLength, 0x61);
        const buf = encodePublish('a/é/😀', payload, 1, true, false, 42, PROPS, version);
        assert.equal(publishPacketSize('a/é/😀', payloadLength, 1, PROPS, version), buf.length);
        const d = new MqttDecoder({ maxPacketSize: 1 << 24 });
        d.version = version;
        d.push(buf);
        const p = d.next();
        assert.ok(p?.type === 'publish');
        assert.equal(p.topic, 'a/é/😀');
        assert.equal(p.packetId, 42);
        assert.equal(p.retain, true);
        assert.deepEqual(p.payload, payload);
        assert.deepEqual(p.properties, version === 5 ? PROPS : undefined);
      });
    }
  }

  it('QoS 0 writes no packet id even when one is passed', () => {
    assert.deepEqual(encodePublish('t', Buffer.from('x'), 0, false, false, 7, undefined, 4), wire('30 04 00 01 74 78'));
    assert.deepEqual(encodePublish('t', Buffer.from('x'), 0, false, false, 7, undefined, 5), wire('30 05 00 01 74 00 78'));
  });
});

describe('encodeAck', () => {
  it('4-byte form for 3.1.1, whatever the reason', () => {
    assert.deepEqual(encodeAck('puback', 0x0102, 0x80, 4), wire('40 02 01 02'));
    assert.deepEqual(encodeAck('pubrel', 0x0102, 0, 4), wire('62 02 01 02'));
  });
  it('4-byte form for a v5 success without properties', () => {
    assert.deepEqual(encodeAck('pubrec', 5, 0, 5), wire('50 02 00 05'));
    assert.deepEqual(encodeAck('pubcomp', 5, 0, 5, {}), wire('70 02 00 05'));
  });
  it('reason code, then properties only when there are some', () => {
    assert.deepEqual(encodeAck('puback', 5, 0x10, 5), wire('40 03 00 05 10'));
    assert.deepEqual(encodeAck('puback', 5, 0, 5, { reasonString: 'r' }), wire('40 08 00 05 00 04 1f 00 01 72'));
  });
});

describe('CONNACK, SUBACK, UNSUBACK, DISCONNECT, PING', () => {
  it('encodeConnack drops properties for 3.1.1', () => {
    assert.deepEqual(encodeConnack(true, 0, { receiveMaximum: 5 }, 4), wire('20 02 01 00'));
    assert.deepEqual(encodeConnack(false, 0x87, undefined, 5), wire('20 03 00 87 00'));
    assert.deepEqual(encodeConnack(false, 0, { receiveMaximum: 5 }, 5), wire('20 06 00 00 03 21 00 05'));
  });
  it('encodeSuback and encodeUnsuback per version', () => {
    assert.deepEqual(encodeSuback(3, [0, 1, 0x80], undefined, 4), wire('90 05 00 03 00 01 80'));
    assert.deepEqual(encodeSuback(3, [2], undefined, 5), wire('90 04 00 03 00 02'));
    assert.deepEqual(encodeUnsuback(3, [0, 0x11], undefined, 4), wire('b0 02 00 03'));
    assert.deepEqual(encodeUnsuback(3, [0, 0x11], undefined, 5), wire('b0 05 00 03 00 00 11'));
  });
  it('encodeDisconnect short forms', () => {
    assert.deepEqual(encodeDisconnect(0), wire('e0 00'));
    assert.deepEqual(encodeDisconnect(0x8e), wire('e0 01 8e'));
    assert.deepEqual(encodeDisconnect(0x9c, { serverReference: 's' }), wire('e0 06 9c 04 1c 00 01 73'));
    assert.deepEqual(encodePacket({ type: 'disconnect', reasonCode: 0x8e }, 4), DISCONNECT_311);
  });
  it('ping constants', () => {
    assert.deepEqual(PINGREQ, wire('c0 00'));
    assert.deepEqual(PINGRESP, wire('d0 00'));
  });
});

describe('3.1.1 return codes from v5 reasons', () => {
  it('maps CONNACK reasons', () => {
    assert.equal(connackCodeFor311(ReasonCode.Success), ConnackReturnCode311.Accepted);
    assert.equal(connackCodeFor311(ReasonCode.UnsupportedProtocolVersion), 1);
    assert.equal(connackCodeFor311(ReasonCode.ClientIdentifierNotValid), 2);
    assert.equal(connackCodeFor311(ReasonCode.ServerUnavailable), 3);
    assert.equal(connackCodeFor311(ReasonCode.ServerBusy), 3);
    assert.equal(connackCodeFor311(ReasonCode.BadUserNameOrPassword), 4);
    assert.equal(connackCodeFor311(ReasonCode.NotAuthorized), 5);
  });
  it('maps SUBACK reasons', () => {
    assert.equal(subackCodeFor311(ReasonCode.GrantedQoS2), 2);
    assert.equal(subackCodeFor311(ReasonCode.NotAuthorized), 0x80);
  });
});
