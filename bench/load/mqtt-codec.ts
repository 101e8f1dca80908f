/**
 * The few MQTT 3.1.1 packets the baseline driver needs (CONNECT, SUBSCRIBE, PUBLISH at QoS 0,
 * PINGREQ, DISCONNECT) and a packet decoder over the project's ByteQueue. Numbers in MQTT are
 * big-endian; the remaining length is a 1-4 byte varint.
 */
import type { ByteQueue } from '../../src/protocol/index.js';

export const CONNACK = 2;
export const PUBLISH = 3;
export const SUBACK = 9;
export const PINGRESP = 13;

export const PINGREQ_PACKET = Buffer.from([0xc0, 0x00]);
export const DISCONNECT_PACKET = Buffer.from([0xe0, 0x00]);

function varintLength(n: number): number {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : 4;
}

/** Fixed header (type/flags byte + remaining length) followed by `rest` bytes to fill. */
function packet(first: number, remaining: number): { buf: Buffer; at: number } {
  const buf = Buffer.allocUnsafe(1 + varintLength(remaining) + remaining);
  buf[0] = first;
  let at = 1;
  let n = remaining;
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n > 0) b |= 0x80;
    buf[at++] = b;
  } while (n > 0);
  return { buf, at };
}

function writeString(buf: Buffer, at: number, s: Buffer): number {
  buf.writeUInt16BE(s.length, at);
  s.copy(buf, at + 2);
  return at + 2 + s.length;
}

/** CONNECT with a clean session and no credentials. */
export function encodeConnect(clientId: string, keepAliveS: number): Buffer {
  const id = Buffer.from(clientId);
  const { buf, at } = packet(0x10, 10 + 2 + id.length);
  let p = writeString(buf, at, Buffer.from('MQTT'));
  buf[p++] = 4; // protocol level 3.1.1
  buf[p++] = 0x02; // clean session
  buf.writeUInt16BE(keepAliveS, p);
  writeString(buf, p + 2, id);
  return buf;
}

/** SUBSCRIBE to every filter at `qos`. */
export function encodeSubscribe(packetId: number, filters: readonly string[], qos: 0 | 1 = 0): Buffer {
  const bytes = filters.map((f) => Buffer.from(f));
  const { buf, at } = packet(0x82, 2 + bytes.reduce((n, b) => n + 3 + b.length, 0));
  buf.writeUInt16BE(packetId, at);
  let p = at + 2;
  for (const b of bytes) {
    p = writeString(buf, p, b);
    buf[p++] = qos;
  }
  return buf;
}

export const PUBACK = 4;

/** PUBACKs for the given packet ids, back to back in one buffer. */
export function encodePubacks(ids: readonly number[]): Buffer {
  const buf = Buffer.allocUnsafe(4 * ids.length);
  for (let i = 0; i < ids.length; i++) {
    buf[4 * i] = 0x40;
    buf[4 * i + 1] = 2;
    buf.writeUInt16BE(ids[i] ?? 1, 4 * i + 2);
  }
  return buf;
}

/**
 * PUBLISH at QoS 1 with packet id 1 (the publisher patches it at `packetIdAt` per message).
 */
export function encodePublishQos1(topic: string, payload: Buffer): { frame: Buffer; packetIdAt: number } {
  const t = Buffer.from(topic);
  const { buf, at } = packet(0x32, 2 + t.length + 2 + payload.length);
  const idAt = writeString(buf, at, t);
  buf.writeUInt16BE(1, idAt);
  payload.copy(buf, idAt + 2);
  return { frame: buf, packetIdAt: idAt };
}

/** PUBLISH at QoS 0 (no packet id); the payload is copied in. */
export function encodePublish(topic: string, payload: Buffer): Buffer {
  const t = Buffer.from(topic);
  const { buf, at } = packet(0x30, 2 + t.length + payload.length);
  payload.copy(buf, writeString(buf, at, t));
  return buf;
}

export interface MqttPacket {
  readonly type: number;
  readonly flags: number;
  /** Everything after the fixed header (a view into the received bytes when possible). */
  readonly body: Buffer;
}

export class MqttDecoder {
  constructor(private readonly queue: ByteQueue) {}

  /** The next complete packet, or null when more bytes are needed. */
  next(): MqttPacket | null {
    const q = this.queue;
    if (q.length < 2) return null;
    let remaining = 0;
    let multiplier = 1;
    let i = 1;
    for (;;) {
      if (i >= q.length) return null;
      if (i > 4) throw new Error('malformed remaining length');
      const b = q.byteAt(i++);
      remaining += (b & 0x7f) * multiplier;
      multiplier *= 128;
      if ((b & 0x80) === 0) break;
    }
    if (q.length < i + remaining) return null;
    const first = q.byteAt(0);
    q.skip(i);
    return { type: first >> 4, flags: first & 0x0f, body: q.take(remaining) };
  }
}

/** The payload of a PUBLISH body (topic length, topic, packet id when QoS > 0, payload). */
export function publishPayload(body: Buffer, flags = 0): Buffer {
  return body.subarray(2 + body.readUInt16BE(0) + ((flags & 0x06) === 0 ? 0 : 2));
}

/** The packet id of a QoS 1/2 PUBLISH body. */
export function publishPacketId(body: Buffer): number {
  return body.readUInt16BE(2 + body.readUInt16BE(0));
}
