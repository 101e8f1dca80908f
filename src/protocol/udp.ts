/**
 * PSRT over UDP (PROTOCOL.md §8): one publish per datagram, optionally acknowledged.
 *
 * The server side is split into pure steps so that the transport can run the asynchronous parts
 * (key lookup, bcrypt) in between, in the reference order of §8.3:
 *
 *   parseUdpEnvelope (steps 2–6)
 *     → plain:     openUdpPlain (step 7)
 *     → encrypted: key lookup for `login || '_'` (transport), then decryptUdp (step 7)
 *   → parseUdpInner (steps 8–11)
 *   → auth / ACL / normalisation / delivery (steps 12–17, outside the codec)
 *   → encodeUdpAck when the inner block asked for one (step 18, §8.4).
 *
 * `null` and `{ kind: 'drop' }` mean "drop silently, no reply" — even if the sender wanted an ack.
 *
 * Truncation to `proto.udp_frame_size` (§8.5) is the transport's job: it must cut the datagram
 * to that size *before* parseUdpEnvelope, so that, as in the reference, a cut plain datagram
 * publishes a cut message and a cut encrypted one fails the tag check.
 *
 * Buffers returned by the parsers are views into the datagram (no copies), except the plaintext
 * returned by decryptUdp, which is new memory.
 */
import { isUtf8 } from 'node:buffer';
import { createCipheriv, createDecipheriv, type CipherGCMTypes } from 'node:crypto';
import {
  CONTROL_HEADER_BYTE_1,
  HEADER_BYTE_0,
  OP_PUBLISH,
  OP_PUBLISH_NO_ACK,
  PROTOCOL_VERSION,
  RESPONSE_ERR,
  UDP_AUTH_AES_128_GCM,
  UDP_AUTH_AES_256_GCM,
  UDP_AUTH_PLAIN,
  UDP_NONCE_LENGTH,
  UDP_TAG_LENGTH,
} from './constants.js';

/** `EE AA | 01 00 | type`: the fixed start of every datagram. */
export const UDP_ENVELOPE_HEADER_LENGTH = 5;
/** Length of a user's key in the keys file; AES-128 uses its first 16 bytes. */
export const UDP_KEY_LENGTH = 32;
/** 12 nonce + at least 1 ciphertext byte + 16 tag (§8.3 step 7). */
export const UDP_MIN_ENCRYPTED_BLOCK = UDP_NONCE_LENGTH + 1 + UDP_TAG_LENGTH;

export type UdpEncryptedType = typeof UDP_AUTH_AES_128_GCM | typeof UDP_AUTH_AES_256_GCM;
export type UdpAuthType = typeof UDP_AUTH_PLAIN | UdpEncryptedType;

export interface UdpEnvelope {
  readonly authType: UdpAuthType;
  /** Raw login (empty = anonymous for plain, key `_` for encrypted). */
  readonly login: string;
  /** Plain: `password 00 inner`. Encrypted: `nonce ciphertext tag`. */
  readonly rest: Buffer;
}

export interface UdpPlainBlock {
  readonly password: string;
  /** `op prio topic 00 message`, still to be checked by parseUdpInner. */
  readonly inner: Buffer;
}

export type UdpInner =
  /** Malformed before the op byte was known to be valid: no reply at all. */
  | { readonly kind: 'drop' }
  /** Malformed after a valid op byte: reply `FF` when `ack` (op 01), nothing for op 21. */
  | { readonly kind: 'error'; readonly ack: boolean; readonly code: typeof RESPONSE_ERR }
  | {
      readonly kind: 'publish';
      /** op 01 → true (ack wanted), op 21 → false. */
      readonly ack: boolean;
      /** Any non-zero byte (00 cannot get here, see parseUdpInner). */
      readonly priority: number;
      /** Raw topic: not normalised, not checked for wildcards (server steps 14–15). */
      readonly topic: string;
      /** Everything after the first 00 (may be empty, may contain 00). */
      readonly payload: Buffer;
    };

const DROP: UdpInner = { kind: 'drop' };
const ERROR_ACK: UdpInner = { kind: 'error', ack: true, code: RESPONSE_ERR };
const ERROR_NO_ACK: UdpInner = { kind: 'error', ack: false, code: RESPONSE_ERR };
const NUL = Buffer.from([0]);

/**
 * §8.3 steps 2–6: header, version, type byte and login. `null` = drop without reply.
 * Every check here precedes the op byte, so no ack is ever owed at this point.
 */
export function parseUdpEnvelope(datagram: Buffer): UdpEnvelope | null {
  if (datagram.length < UDP_ENVELOPE_HEADER_LENGTH) return null;
  if (datagram[0] !== HEADER_BYTE_0 || datagram[1] !== CONTROL_HEADER_BYTE_1) return null;
  if (datagram.readUInt16LE(2) !== PROTOCOL_VERSION) return null;
  const authType = datagram[4];
  if (!isUdpAuthType(authType)) return null;
  const sep = datagram.indexOf(0, UDP_ENVELOPE_HEADER_LENGTH);
  if (sep < 0) return null;
  const login = datagram.subarray(UDP_ENVELOPE_HEADER_LENGTH, sep);
  if (!isUtf8(login)) return null;
  return { authType, login: login.toString('utf8'), rest: datagram.subarray(sep + 1) };
}

/** §8.3 step 7, plain: `password 00 inner`. `null` = drop (no 00, or password not UTF-8). */
export function openUdpPlain(rest: Buffer): UdpPlainBlock | null {
  const sep = rest.indexOf(0);
  if (sep < 0) return null;
  const password = rest.subarray(0, sep);
  if (!isUtf8(password)) return null;
  return { password: password.toString('utf8'), inner: rest.subarray(sep + 1) };
}

/**
 * §8.3 step 7, encrypted: `nonce(12) ciphertext tag(16)`, no AAD. Returns the inner block, or
 * `null` (drop) when the block is shorter than 29 bytes, the key is not 32 bytes or the
 * authentication fails. Never throws: a forged datagram must not be able to raise anything.
 */
export function decryptUdp(authType: UdpEncryptedType, key: Buffer, rest: Buffer): Buffer | null {
  if (rest.length < UDP_MIN_ENCRYPTED_BLOCK) return null;
  const algorithm = gcmAlgorithm(authType);
  if (algorithm === null || key.length !== UDP_KEY_LENGTH) return null;
  const tagStart = rest.length - UDP_TAG_LENGTH;
  try {
    const decipher = createDecipheriv(
      algorithm,
      gcmKey(authType, key),
      rest.subarray(0, UDP_NONCE_LENGTH),
      { authTagLength: UDP_TAG_LENGTH },
    );
    decipher.setAuthTag(rest.subarray(tagStart));
    const head = decipher.update(rest.subarray(UDP_NONCE_LENGTH, tagStart));
    return Buffer.concat([head, decipher.final()]);
  } catch {
    return null;
  }
}

/**
 * §8.3 steps 8–11 on `op | priority | topic | 00 | message`.
 *
 * Step 8 splits at the first 00. When the block has no 00 at all, the whole block is the head
 * and the message part is missing: that is *not* a drop but step 11 ("no 00 after the topic →
 * FF"), which can only ever happen in exactly that case, since the first 00 always ends the
 * topic. So a block without any 00 is dropped only when it is shorter than 3 bytes (step 8) or
 * its op is not 01/21 (step 9); otherwise it yields an error (acked with FF for op 01). This is
 * also what the reference does (it splits in at most two parts and checks the second last).
 *
 * A priority byte of 00 makes the first 00 fall at index 1, so the head is 1 byte: dropped.
 */
export function parseUdpInner(inner: Buffer): UdpInner {
  const sep = inner.indexOf(0);
  const headEnd = sep < 0 ? inner.length : sep;
  if (headEnd < 3) return DROP;
  const op = inner[0];
  if (op !== OP_PUBLISH && op !== OP_PUBLISH_NO_ACK) return DROP;
  const ack = op === OP_PUBLISH;
  const topic = inner.subarray(2, headEnd);
  if (!isUtf8(topic)) return ack ? ERROR_ACK : ERROR_NO_ACK; // step 10
  if (sep < 0) return ack ? ERROR_ACK : ERROR_NO_ACK; // step 11
  return {
    kind: 'publish',
    ack,
    priority: inner.readUInt8(1),
    topic: topic.toString('utf8'),
    payload: inner.subarray(sep + 1),
  };
}

/** §8.4: `EE AA 01 00 code` (01 OK, FE access denied, FF other error). */
export function encodeUdpAck(code: number): Buffer {
  return Buffer.from([HEADER_BYTE_0, CONTROL_HEADER_BYTE_1, PROTOCOL_VERSION, 0, code]);
}

/**
 * Client side, §8.1: `EE AA 01 00 00 login 00 password 00 op prio topic 00 payload`.
 * op is 01 (ack wanted) or 21 (no ack). Login, password and topic must not contain NUL (it is
 * the separator); note that the server drops datagrams with priority 00 or an empty topic.
 */
export function encodeUdpPlain(
  op: number,
  priority: number,
  login: string,
  password: string,
  topic: string,
  payload: Uint8Array,
): Buffer {
  assertNoNul(login, 'login');
  assertNoNul(password, 'password');
  return Buffer.concat([
    envelopeHeader(UDP_AUTH_PLAIN),
    Buffer.from(login),
    NUL,
    Buffer.from(password),
    NUL,
    innerBlock(op, priority, topic, payload),
  ]);
}

/**
 * Client side, §8.2: `EE AA 01 00 type login 00 nonce ciphertext tag`, AES-GCM without AAD.
 * `key` is the user's 32-byte key (type 02 uses its first 16 bytes); `nonce` must be 12 fresh
 * random bytes per datagram (the server has no replay protection, nonce reuse breaks GCM).
 */
export function encodeUdpEncrypted(
  type: UdpEncryptedType,
  key: Uint8Array,
  nonce: Uint8Array,
  op: number,
  priority: number,
  login: string,
  topic: string,
  payload: Uint8Array,
): Buffer {
  const algorithm = gcmAlgorithm(type);
  if (algorithm === null) throw new RangeError(`unsupported UDP encryption type ${type}`);
  if (key.length !== UDP_KEY_LENGTH) throw new RangeError('key must be 32 bytes');
  if (nonce.length !== UDP_NONCE_LENGTH) throw new RangeError('nonce must be 12 bytes');
  assertNoNul(login, 'login');
  const cipher = createCipheriv(algorithm, gcmKey(type, key), nonce, {
    authTagLength: UDP_TAG_LENGTH,
  });
  const plaintext = innerBlock(op, priority, topic, payload);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([
    envelopeHeader(type),
    Buffer.from(login),
    NUL,
    nonce,
    ciphertext,
    cipher.getAuthTag(),
  ]);
}

function isUdpAuthType(value: number | undefined): value is UdpAuthType {
  return (
    value === UDP_AUTH_PLAIN || value === UDP_AUTH_AES_128_GCM || value === UDP_AUTH_AES_256_GCM
  );
}

/** Checked at run time too: the type may come straight from an untrusted byte. */
function gcmAlgorithm(type: number): CipherGCMTypes | null {
  if (type === UDP_AUTH_AES_128_GCM) return 'aes-128-gcm';
  if (type === UDP_AUTH_AES_256_GCM) return 'aes-256-gcm';
  return null;
}

/** AES-128 uses only the first half of the same 32-byte key (§8.2). */
function gcmKey(type: UdpEncryptedType, key: Uint8Array): Uint8Array {
  return type === UDP_AUTH_AES_128_GCM ? key.subarray(0, 16) : key;
}

function envelopeHeader(type: UdpAuthType): Buffer {
  return Buffer.from([HEADER_BYTE_0, CONTROL_HEADER_BYTE_1, PROTOCOL_VERSION, 0, type]);
}

/** `op prio topic 00 payload`: the plain tail and the encrypted plaintext share this layout. */
function innerBlock(op: number, priority: number, topic: string, payload: Uint8Array): Buffer {
  assertNoNul(topic, 'topic');
  return Buffer.concat([Buffer.from([op, priority]), Buffer.from(topic), NUL, payload]);
}

function assertNoNul(value: string, what: string): void {
  if (value.includes('\0')) throw new RangeError(`${what} must not contain NUL`);
}
