/** Encoders must produce the §9 bytes exactly; constants must match the §3 tables. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as C from '../../src/protocol/constants.js';
import {
  encodeBye,
  encodeDataFrame,
  encodeDataFrameFromBody,
  writeDataFrameFromRange,
  encodeDataHandshake,
  encodeGreeting,
  encodeLogin,
  encodeNop,
  encodePublish,
  encodeReplBody,
  encodeReplTopic,
  encodeSubscribe,
  encodeUnsubscribe,
} from '../../src/protocol/encode.js';
import { encodeUdpAck, encodeUdpEncrypted, encodeUdpPlain } from '../../src/protocol/udp.js';
import { hex } from '../fixtures/vectors/hex.js';
import { AES, SPEC, TOKEN_HEX } from '../fixtures/vectors/spec-examples.js';

const HELLO = Buffer.from('hello');
const KEY = Buffer.from(AES.key, 'hex');
const NONCE = hex(AES.nonce);

const CASES: [string, () => Buffer, string][] = [
  ['§9.1 greeting control plain', () => encodeGreeting('control', false), SPEC.greetingControlPlain],
  ['§9.3 greeting control TLS', () => encodeGreeting('control', true), SPEC.greetingControlTls],
  ['§9.4 greeting data plain', () => encodeGreeting('data', false), SPEC.greetingDataPlain],
  ['§4.1 greeting data TLS', () => encodeGreeting('data', true), 'EE AB 01'],
  ['§9.1 control greeting reply', () => Buffer.from(C.CONTROL_GREETING_REPLY), SPEC.greetingReplyControl],
  ['§9.4 data greeting reply', () => Buffer.from(C.DATA_GREETING_REPLY), SPEC.greetingReplyData],
  ['§9.1 anonymous login', () => encodeLogin('', ''), SPEC.loginAnonymous],
  ['§9.2 login test/123', () => encodeLogin('test', '123'), SPEC.loginTest123],
  ['§9.4 data handshake', () => encodeDataHandshake(hex(TOKEN_HEX), 10), SPEC.dataHandshake],
  ['§6.1 timeout truncated to whole seconds', () => encodeDataHandshake(hex(TOKEN_HEX), 10.9), SPEC.dataHandshake],
  ['§6.1 timeout capped at 255', () => encodeDataHandshake(hex(TOKEN_HEX), 1000), `${TOKEN_HEX} FF`],
  ['§9.5 NOP', encodeNop, SPEC.nop],
  ['§9.6 subscribe a/b', () => encodeSubscribe(['a/b']), SPEC.subscribeAB],
  ['§9.7 bulk subscribe', () => encodeSubscribe(['a/#', 'x/+/y']), SPEC.subscribeBulk],
  ['§9.8 unsubscribe a/b', () => encodeUnsubscribe(['a/b']), SPEC.unsubscribeAB],
  ['§9.9 publish hello', () => encodePublish(0x7f, 'test/topic', HELLO), SPEC.publishHello],
  ['§9.9 publish empty message', () => encodePublish(0x7f, 't', Buffer.alloc(0)), SPEC.publishEmpty],
  ['§9.10 repl stage 1', () => encodeReplTopic('test/topic'), SPEC.replTopic],
  ['§9.10 repl stage 2', () => encodeReplBody(0x7f, 1700000000123456789n, HELLO), SPEC.replBody],
  ['§9.11 BYE', encodeBye, SPEC.bye],
  ['§9.12 data frame', () => encodeDataFrame(0x7f, 'test/topic', HELLO), SPEC.dataFrameHello],
  ['§9.12 data frame from body', () => encodeDataFrameFromBody(0x7f, hex('74 65 73 74 2F 74 6F 70 69 63 00 68 65 6C 6C 6F')), SPEC.dataFrameHello],
  ['§9.13 UDP plain no ack', () => encodeUdpPlain(0x21, 0x7f, 'user1', 'secret', 'mytopic', HELLO), SPEC.udpPlainNoAck],
  ['§9.13 UDP plain ack', () => encodeUdpPlain(0x01, 0x7f, 'user1', 'secret', 'mytopic', HELLO), SPEC.udpPlainAck],
  ['§9.13 UDP anonymous', () => encodeUdpPlain(0x21, 0x7f, '', '', 'mytopic', HELLO), SPEC.udpAnonNoAck],
  ['§9.13 UDP ack OK', () => encodeUdpAck(0x01), SPEC.udpAckOk],
  ['§8.4 UDP ack denied', () => encodeUdpAck(0xfe), SPEC.udpAckDenied],
  ['§8.4 UDP ack error', () => encodeUdpAck(0xff), SPEC.udpAckError],
  ['§9.14 AES-256-GCM', () => encodeUdpEncrypted(3, KEY, NONCE, 0x01, 0x7f, 'user1', 'mytopic', HELLO), AES.aes256.datagram],
  ['§9.14 AES-128-GCM', () => encodeUdpEncrypted(2, KEY, NONCE, 0x01, 0x7f, 'user1', 'mytopic', HELLO), AES.aes128.datagram],
];

describe('writeDataFrameFromRange', () => {
  it('writes the frame of body[start, end) at an offset, for inline (small) and native (large) copies', () => {
    for (const n of [0, 1, 200, 256, 257, 5000]) {
      const payload = Buffer.from(Array.from({ length: n }, (_, i) => (i * 13 + 5) & 0xff));
      const body = Buffer.concat([Buffer.from('t/x\0'), payload]);
      const source = Buffer.concat([hex('EE EE EE'), body, hex('EE')]);
      const target = Buffer.alloc(body.length + 6 + 4, 0xcc);
      writeDataFrameFromRange(target, 2, 0x05, source, 3, 3 + body.length);
      const expected = Buffer.concat([hex('CC CC 01 05'), Buffer.alloc(4), body, hex('CC CC')]);
      expected.writeUInt32LE(body.length, 4);
      assert.deepEqual(target, expected, `payload ${n} B`);
      assert.deepEqual(encodeDataFrameFromBody(0x05, source, 3, 3 + body.length), expected.subarray(2, -2));
    }
  });
});

describe('encoders produce the §9 bytes', () => {
  for (const [name, encode, expected] of CASES) {
    it(name, () => {
      assert.equal(encode().toString('hex'), hex(expected).toString('hex'));
    });
  }
});

describe('encoder argument checks', () => {
  it('data handshake needs a 32-byte token', () => {
    assert.throws(() => encodeDataHandshake(Buffer.alloc(31), 1), RangeError);
  });

  it('UDP: nonce 12 bytes, key 32 bytes, no NUL in login/password/topic', () => {
    assert.throws(() => encodeUdpEncrypted(3, KEY, NONCE.subarray(1), 1, 1, 'u', 't', HELLO), RangeError);
    assert.throws(() => encodeUdpEncrypted(2, KEY.subarray(0, 16), NONCE, 1, 1, 'u', 't', HELLO), RangeError);
    assert.throws(() => encodeUdpEncrypted(3, KEY, NONCE, 1, 1, 'u\0', 't', HELLO), RangeError);
    assert.throws(() => encodeUdpPlain(1, 1, 'u', 'p\0', 't', HELLO), RangeError);
    assert.throws(() => encodeUdpPlain(1, 1, 'u', 'p', 'a\0b', HELLO), RangeError);
  });
});

describe('constants match PROTOCOL.md §3', () => {
  it('op codes (§3.3)', () => {
    assert.deepEqual(
      [C.OP_NOP, C.OP_PUBLISH, C.OP_SUBSCRIBE, C.OP_UNSUBSCRIBE, C.OP_PUBLISH_REPL, C.OP_PUBLISH_NO_ACK, C.OP_BYE],
      [0x00, 0x01, 0x02, 0x03, 0x11, 0x21, 0xff],
    );
  });

  it('responses (§3.4), UDP types (§3.5), priority (§3.6), port (§2)', () => {
    assert.deepEqual(
      [C.RESPONSE_NOP, C.RESPONSE_OK, C.RESPONSE_OK_WAITING, C.RESPONSE_NOT_REQUIRED, C.RESPONSE_ERR_ACCESS, C.RESPONSE_ERR],
      [0x00, 0x01, 0x02, 0xe0, 0xfe, 0xff],
    );
    assert.deepEqual([C.UDP_AUTH_PLAIN, C.UDP_AUTH_AES_128_GCM, C.UDP_AUTH_AES_256_GCM], [0, 2, 3]);
    assert.equal(C.DEFAULT_PRIORITY, 0x7f);
    assert.equal(C.DEFAULT_PORT, 2873);
    assert.equal(C.MAX_LOGIN_FRAME, 1024);
    assert.equal(C.TOKEN_LENGTH, 32);
  });

  it('headers read as u16 LE (§3.1)', () => {
    assert.equal(hex('EE AA').readUInt16LE(0), C.CONTROL_HEADER);
    assert.equal(hex('EE AB').readUInt16LE(0), C.DATA_HEADER);
    assert.equal(hex('01 00').readUInt16LE(0), C.PROTOCOL_VERSION);
  });
});
