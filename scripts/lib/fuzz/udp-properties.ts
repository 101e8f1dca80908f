/**
 * Fuzz properties of the UDP codec (PROTOCOL.md §8), beyond the never-throw and round-trip
 * checks in test/protocol/udp.test.ts: stronger mutations and `udp_frame_size` truncation of
 * valid datagrams, no forged publish from a mutated encrypted datagram, and the same verdict
 * for an inner block whether it arrives in a plain or an encrypted datagram.
 */
import assert from 'node:assert/strict';
import { createCipheriv } from 'node:crypto';
import fc from 'fast-check';
import { encodeUdpEncrypted, encodeUdpPlain } from '../../../src/protocol/udp.js';
import { hasWildcardChar, normalizeTopic, topicDepth } from '../../../src/topics/index.js';
import { defineProperty, type FuzzProperty } from './define.js';
import { applyMutations, mutationsArb } from './mutate.js';
import { udpFieldsArb, type UdpFields } from './streams.js';
import { innerBlock, udpPipeline, type UdpResult } from './udp-pipeline.js';

const MAX_DEPTH = 4;
/** Keys the "server" knows: user1 and `_` (empty login). `nokey` and others have none. */
const KEYS = new Map([
  ['user1', Buffer.alloc(32, 0x11)],
  ['_', Buffer.alloc(32, 0x5f)],
]);
const keyFor = (login: string): Buffer | undefined => KEYS.get(login);
/** What a sender without a registered key encrypts with. */
const STRANGER_KEY = Buffer.alloc(32, 0x99);
const NO_CUT = Number.MAX_SAFE_INTEGER;
const frameSizeArb = fc.oneof(
  { weight: 3, arbitrary: fc.constant(NO_CUT) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 96 }) },
);
const nonceArb = fc.uint8Array({ minLength: 12, maxLength: 12 });
const typeArb = fc.constantFrom(2 as const, 3 as const);

/** Verdict without the sender identity: what the subscriber or the sender would observe. */
function verdict(r: UdpResult): unknown {
  if (r.kind === 'publish') return { kind: r.kind, ack: r.ack, priority: r.priority, topic: r.topic, payload: r.payload };
  return r.kind === 'drop' ? { kind: 'drop', inner: r.stage === 'inner' } : r;
}

/** §8.3 steps 8–15 worked out from the fields, independently of the codec. */
function expectedVerdict(f: UdpFields): unknown {
  // Priority 00 or an empty topic put the first 00 before byte 3: dropped (step 8).
  if (f.priority === 0 || f.topic === '' || (f.op !== 0x01 && f.op !== 0x21)) return { kind: 'drop', inner: true };
  const ack = f.op === 0x01;
  const topic = normalizeTopic(f.topic);
  if (topicDepth(topic) > MAX_DEPTH || hasWildcardChar(topic)) return { kind: 'error', ack, code: 0xff };
  return { kind: 'publish', ack, priority: f.priority, topic, payload: f.payload };
}

const udpPlain = defineProperty('udp-plain-mutated', 600, () =>
  fc.property(udpFieldsArb, mutationsArb, frameSizeArb, (f, ms, frameSize) => {
    const original = encodeUdpPlain(f.op, f.priority, f.login, f.password, f.topic, f.payload);
    const bytes = applyMutations(original, ms);
    const r = udpPipeline(bytes, frameSize, keyFor, MAX_DEPTH); // must never throw
    if (r.kind === 'publish') assert.ok(!r.topic.includes('\0') && r.payload.length < bytes.length);
    if (ms.length > 0) return;
    const whole = udpPipeline(original, NO_CUT, keyFor, MAX_DEPTH);
    assert.deepEqual(verdict(whole), expectedVerdict(f));
    // A cut datagram publishes at most a prefix of the message (§8.5), never anything else.
    if (r.kind === 'publish' && whole.kind === 'publish') {
      assert.equal(r.topic, whole.topic);
      assert.deepEqual(r.payload, whole.payload.subarray(0, r.payload.length));
    }
  }),
);

const udpEncrypted = defineProperty('udp-encrypted-mutated', 600, () =>
  fc.property(udpFieldsArb, typeArb, nonceArb, mutationsArb, frameSizeArb, (f, type, nonce, ms, frameSize) => {
    const key = keyFor(f.login === '' ? '_' : f.login) ?? STRANGER_KEY;
    const original = encodeUdpEncrypted(type, key, nonce, f.op, f.priority, f.login, f.topic, f.payload);
    const bytes = applyMutations(original, ms);
    const r = udpPipeline(bytes, frameSize, keyFor, MAX_DEPTH);
    const sealed = innerBlock(f.op, f.priority, f.topic, f.payload);
    if (r.kind === 'publish' && r.plaintext !== null) {
      // AES-GCM: whatever was damaged, a datagram that decrypts carries the sender's bytes.
      assert.deepEqual(r.plaintext, sealed);
    }
    if (ms.length > 0 || frameSize < original.length) return;
    if (!KEYS.has(f.login === '' ? '_' : f.login)) {
      assert.deepEqual(r, { kind: 'drop', stage: 'key' });
      return;
    }
    assert.deepEqual(verdict(r), expectedVerdict(f));
  }),
);

/** Arbitrary or damaged inner blocks, sealed with the right key: the codec sees garbage plaintext. */
const innerArb = fc.oneof(
  fc.uint8Array({ maxLength: 48 }).map((a) => Buffer.from(a)),
  fc
    .tuple(udpFieldsArb, mutationsArb)
    .map(([f, ms]) => applyMutations(innerBlock(f.op, f.priority, f.topic, f.payload), ms)),
);

const udpInner = defineProperty('udp-inner-plain-vs-encrypted', 600, () =>
  fc.property(innerArb, typeArb, nonceArb, fc.constantFrom('', 'user1'), (inner, type, nonce, login) => {
    const encrypted = sealRaw(type, login, Buffer.from(nonce), inner);
    const viaCipher = udpPipeline(encrypted, NO_CUT, keyFor, MAX_DEPTH);
    const viaPlain = udpPipeline(plainOf(login, inner), NO_CUT, keyFor, MAX_DEPTH);
    if (inner.length === 0) {
      assert.deepEqual(viaCipher, { kind: 'drop', stage: 'decrypt' }); // needs ≥ 1 ciphertext byte
      return;
    }
    assert.deepEqual(verdict(viaCipher), verdict(viaPlain));
  }),
);

/** `EE AA 01 00 00 login 00 pw 00 inner`. */
function plainOf(login: string, inner: Buffer): Buffer {
  return Buffer.concat([Buffer.from([0xee, 0xaa, 0x01, 0x00, 0x00]), Buffer.from(`${login}\0pw\0`), inner]);
}

/** AES-GCM over arbitrary bytes with node:crypto directly (the encoder only seals valid fields). */
function sealRaw(type: 2 | 3, login: string, nonce: Buffer, plaintext: Buffer): Buffer {
  const full = keyFor(login === '' ? '_' : login) ?? STRANGER_KEY;
  const cipher = createCipheriv(type === 2 ? 'aes-128-gcm' : 'aes-256-gcm', type === 2 ? full.subarray(0, 16) : full, nonce);
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  const head = Buffer.concat([Buffer.from([0xee, 0xaa, 0x01, 0x00, type]), Buffer.from(`${login}\0`)]);
  return Buffer.concat([head, nonce, ct, cipher.getAuthTag()]);
}

export const UDP_PROPERTIES: readonly FuzzProperty[] = [udpPlain, udpEncrypted, udpInner];
