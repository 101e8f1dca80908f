/** UDP (PROTOCOL.md §8): every §8.3 branch, the §9.13/§9.14 datagrams, and never-throw fuzzing. */
import assert from 'node:assert/strict';
import { createCipheriv } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import * as protocol from '../../src/protocol/index.js';
import {
  decryptUdp,
  encodeUdpAck,
  encodeUdpEncrypted,
  encodeUdpPlain,
  openUdpPlain,
  parseUdpEnvelope,
  parseUdpInner,
  type UdpEncryptedType,
} from '../../src/protocol/udp.js';
import { hex } from '../fixtures/vectors/hex.js';
import { AES, SPEC } from '../fixtures/vectors/spec-examples.js';
import {
  UDP_DATAGRAMS,
  UDP_INNER,
  UDP_KEYS,
  UDP_SEALED_INNER,
  type UdpOutcome,
} from '../fixtures/vectors/udp.js';
import { FC_PARAMS, unicodeText } from './helpers.js';

const KEY = Buffer.from(AES.key, 'hex');
const NONCE = hex(AES.nonce);
const KEYS = new Map(Object.entries(UDP_KEYS).map(([login, k]) => [login, Buffer.from(k, 'hex')]));

/** The server's §8.3 walk, as the transport will chain the codec steps. */
function processDatagram(datagram: Buffer, keys: ReadonlyMap<string, Buffer> = KEYS): UdpOutcome {
  const envelope = parseUdpEnvelope(datagram);
  if (envelope === null) return { kind: 'drop', stage: 'envelope' };
  let inner: Buffer;
  let password: string | null = null;
  if (envelope.authType === 0) {
    const plain = openUdpPlain(envelope.rest);
    if (plain === null) return { kind: 'drop', stage: 'plain' };
    ({ inner, password } = plain);
  } else {
    const key = keys.get(envelope.login === '' ? '_' : envelope.login);
    if (key === undefined) return { kind: 'drop', stage: 'key' };
    const plaintext = decryptUdp(envelope.authType, key, envelope.rest);
    if (plaintext === null) return { kind: 'drop', stage: 'decrypt' };
    inner = plaintext;
  }
  const result = parseUdpInner(inner);
  if (result.kind === 'drop') return { kind: 'drop', stage: 'inner' };
  if (result.kind === 'error') return result;
  return { ...result, login: envelope.login, password };
}

/** AES-GCM with node:crypto directly (independent of encodeUdpEncrypted). */
function sealDatagram(type: UdpEncryptedType, plaintext: Buffer): Buffer {
  const key = type === 2 ? KEY.subarray(0, 16) : KEY;
  const cipher = createCipheriv(type === 2 ? 'aes-128-gcm' : 'aes-256-gcm', key, NONCE);
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([hex(`EE AA 01 00 0${type} 75 73 65 72 31 00`), NONCE, ct, cipher.getAuthTag()]);
}

describe('UDP §8.3 pipeline vectors', () => {
  for (const v of UDP_DATAGRAMS) {
    it(`${v.ref} ${v.name}`, () => {
      assert.deepEqual(processDatagram(hex(v.hex)), v.expect);
    });
  }

  for (const v of UDP_SEALED_INNER) {
    for (const type of [2, 3] as const) {
      it(`§8.3 encrypted type ${type}: ${v.name}`, () => {
        assert.deepEqual(processDatagram(sealDatagram(type, hex(v.plaintext))), v.expect);
      });
    }
  }

  it('an empty login selects the `_` key (§8.2)', () => {
    const datagram = hex(AES.aes256.datagram.replace('75 73 65 72 31 00', '00'));
    const keys = new Map([['_', KEY]]);
    // The login is not authenticated (no AAD), so the §9.14 ciphertext still opens.
    assert.deepEqual(processDatagram(datagram, keys), {
      kind: 'publish', ack: true, priority: 0x7f, topic: 'mytopic', payload: Buffer.from('hello'), login: '', password: null,
    });
    assert.deepEqual(processDatagram(datagram), { kind: 'drop', stage: 'key' }, 'no `_` key: dropped');
  });
});

describe('UDP steps', () => {
  it('§9.13 envelope and plain block', () => {
    const datagram = hex(SPEC.udpPlainAck);
    const envelope = parseUdpEnvelope(datagram);
    assert.deepEqual(envelope, {
      authType: 0,
      login: 'user1',
      rest: hex('73 65 63 72 65 74 00 01 7F 6D 79 74 6F 70 69 63 00 68 65 6C 6C 6F'),
    });
    assert.equal(envelope.rest.buffer, datagram.buffer, 'rest is a view into the datagram');
    assert.deepEqual(openUdpPlain(envelope.rest), {
      password: 'secret',
      inner: hex('01 7F 6D 79 74 6F 70 69 63 00 68 65 6C 6C 6F'),
    });
  });

  it('§9.14 both AES types decrypt to the spec plaintext', () => {
    for (const [type, vector] of [[3, AES.aes256], [2, AES.aes128]] as const) {
      const envelope = parseUdpEnvelope(hex(vector.datagram));
      assert.deepEqual(envelope, {
        authType: type,
        login: 'user1',
        rest: hex(`${AES.nonce} ${vector.ciphertext} ${vector.tag}`),
      });
      assert.deepEqual(decryptUdp(type, KEY, envelope.rest), hex(AES.plaintext));
    }
  });

  it('decryptUdp returns null for a wrong key, a wrong key length, a short block, a bad type', () => {
    const rest = hex(`${AES.nonce} ${AES.aes256.ciphertext} ${AES.aes256.tag}`);
    const wrongKey = Buffer.from(KEY).reverse();
    assert.equal(decryptUdp(3, wrongKey, rest), null);
    assert.equal(decryptUdp(3, KEY.subarray(0, 16), rest), null);
    assert.equal(decryptUdp(3, Buffer.concat([KEY, KEY]), rest), null);
    assert.equal(decryptUdp(3, KEY, rest.subarray(0, 28)), null);
    assert.equal(decryptUdp(3, KEY, Buffer.alloc(0)), null);
    assert.equal(decryptUdp(1 as UdpEncryptedType, KEY, rest), null);
    const aes128Rest = hex(`${AES.nonce} ${AES.aes128.ciphertext} ${AES.aes128.tag}`);
    const keyWithOtherHigh = Buffer.concat([KEY.subarray(0, 16), Buffer.alloc(16, 0x55)]);
    assert.deepEqual(decryptUdp(2, keyWithOtherHigh, aes128Rest), hex(AES.plaintext), 'AES-128 ignores key bytes 16..31');
  });

  it('parseUdpInner: successful shapes', () => {
    for (const v of UDP_INNER) {
      const result = parseUdpInner(hex(v.hex));
      assert.deepEqual({ ...result, login: '', password: null }, { ...v.expect, login: '', password: null }, v.name);
    }
  });

  it('is exported from the protocol index', () => {
    assert.equal(protocol.parseUdpEnvelope, parseUdpEnvelope);
    assert.equal(protocol.encodeUdpAck, encodeUdpAck);
  });

  it('parseUdpInner payload is a view (no copy)', () => {
    const inner = hex(AES.plaintext);
    const result = parseUdpInner(inner);
    assert.ok(result.kind === 'publish');
    assert.equal(result.payload.buffer, inner.buffer);
  });
});

const anyBytes = fc.uint8Array({ maxLength: 80 }).map((a) => Buffer.from(a));

/** A §9.13/§9.14 datagram with a few bytes overwritten, cut or extended: reaches deep branches. */
const mutatedDatagram = fc
  .tuple(
    fc.constantFrom(SPEC.udpPlainAck, SPEC.udpPlainNoAck, SPEC.udpAnonNoAck, AES.aes256.datagram, AES.aes128.datagram),
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
    fc.nat(),
    anyBytes,
  )
  .map(([text, edits, cut, tail]) => {
    const bytes = Buffer.from(hex(text));
    for (const [at, value] of edits) bytes[at % bytes.length] = value;
    return Buffer.concat([bytes.subarray(0, cut % (bytes.length + 1)), cut % 3 === 0 ? tail : Buffer.alloc(0)]);
  });

describe('UDP properties (fast-check, fixed seed)', () => {
  it('random and mutated datagrams never throw at any step', () => {
    const keyArb = fc.oneof(fc.constant(KEY), fc.uint8Array({ minLength: 0, maxLength: 40 }).map((a) => Buffer.from(a)));
    fc.assert(
      fc.property(fc.oneof(anyBytes, mutatedDatagram), keyArb, (datagram, key) => {
        processDatagram(datagram);
        openUdpPlain(datagram);
        parseUdpInner(datagram);
        decryptUdp(2, key, datagram);
        decryptUdp(3, key, datagram);
      }),
      FC_PARAMS,
    );
  });

  const topic = unicodeText(1, 12);
  const noNul = unicodeText(0, 12);
  const message = {
    op: fc.constantFrom(0x01, 0x21),
    priority: fc.integer({ min: 1, max: 255 }),
    topic,
    payload: fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)),
  };

  it('encodeUdpPlain round-trips through the pipeline', () => {
    fc.assert(
      fc.property(fc.record({ ...message, login: noNul, password: noNul }), (m) => {
        const datagram = encodeUdpPlain(m.op, m.priority, m.login, m.password, m.topic, m.payload);
        assert.deepEqual(processDatagram(datagram), {
          kind: 'publish', ack: m.op === 1, priority: m.priority, topic: m.topic, payload: m.payload, login: m.login, password: m.password,
        });
      }),
      FC_PARAMS,
    );
  });

  it('encodeUdpEncrypted round-trips through the pipeline (both types)', () => {
    const nonce = fc.uint8Array({ minLength: 12, maxLength: 12 }).map((a) => Buffer.from(a));
    fc.assert(
      fc.property(fc.record({ ...message, type: fc.constantFrom(2 as const, 3 as const), nonce, login: noNul }), (m) => {
        const datagram = encodeUdpEncrypted(m.type, KEY, m.nonce, m.op, m.priority, m.login, m.topic, m.payload);
        const keys = new Map([[m.login === '' ? '_' : m.login, KEY]]);
        assert.deepEqual(processDatagram(datagram, keys), {
          kind: 'publish', ack: m.op === 1, priority: m.priority, topic: m.topic, payload: m.payload, login: m.login, password: null,
        });
      }),
      { ...FC_PARAMS, numRuns: 150 },
    );
  });
});
