/**
 * The pieces of the `mqtt.persistence_file` format (src/mqtt/state-codec.ts) that encode one
 * message, and the bounds-checked reader every part of the file is decoded with. Big-endian:
 *
 *   message  u8 QoS (0–2), u8 flags (which optional fields follow; other bits must be 0)
 *            [f64 expiry deadline, wall-clock ms]        flag 0x01
 *            [u8 payload format indicator]               flag 0x02
 *            u32 + topic (UTF-8), u32 + payload
 *            [u32 + content type (UTF-8)]                flag 0x04
 *            [u32 + response topic (UTF-8)]              flag 0x08
 *            [u32 + correlation data]                    flag 0x10
 *            [u32 count, then u32 + key, u32 + value]    flag 0x20 (user properties, UTF-8)
 *
 * The expiry is an absolute deadline, so a message's remaining lifetime keeps counting while
 * psrtd is down.
 */
import { DEFAULT_PRIORITY } from '../protocol/constants.js';
import { ErrorCode, PsrtError } from '../protocol/errors.js';
import type { Stamp } from '../broker/delivery.js';
import { MqttMessage, type CarriedProperties, type QoS } from './message.js';

/** QoS, flags, topic length, payload length. */
export const MIN_RECORD_BYTES = 1 + 1 + 4 + 4;

const F_EXPIRY = 0x01;
const F_FORMAT = 0x02;
const F_CONTENT_TYPE = 0x04;
const F_RESPONSE_TOPIC = 0x08;
const F_CORRELATION = 0x10;
const F_USER_PROPS = 0x20;
const KNOWN_FLAGS = 0x3f;

/** One message as saved (an MqttMessage is one). */
export interface RetainedRecord {
  readonly rawTopic: string;
  readonly payload: Buffer;
  readonly qos: QoS;
  /** Carried v5 properties; their messageExpiryInterval is not saved (expiresAtMs is). */
  readonly props: CarriedProperties | null;
  /** Wall-clock ms after which the message is gone; 0 = never. */
  readonly expiresAtMs: number;
}

// ---- encoding -------------------------------------------------------------------------------

export function flagsOf(r: RetainedRecord): number {
  const p = r.props;
  let f = r.expiresAtMs !== 0 ? F_EXPIRY : 0;
  if (p === null) return f;
  if (p.payloadFormatIndicator !== undefined) f |= F_FORMAT;
  if (p.contentType !== undefined) f |= F_CONTENT_TYPE;
  if (p.responseTopic !== undefined) f |= F_RESPONSE_TOPIC;
  if (p.correlationData !== undefined) f |= F_CORRELATION;
  if (p.userProperties !== undefined) f |= F_USER_PROPS;
  return f;
}

export function recordSize(r: RetainedRecord, flags: number): number {
  const p = r.props;
  let n = MIN_RECORD_BYTES + Buffer.byteLength(r.rawTopic) + r.payload.length;
  if ((flags & F_EXPIRY) !== 0) n += 8;
  if ((flags & F_FORMAT) !== 0) n += 1;
  if (p === null) return n;
  if (p.contentType !== undefined) n += 4 + Buffer.byteLength(p.contentType);
  if (p.responseTopic !== undefined) n += 4 + Buffer.byteLength(p.responseTopic);
  if (p.correlationData !== undefined) n += 4 + p.correlationData.length;
  if (p.userProperties !== undefined) {
    n += 4;
    for (const [k, v] of p.userProperties) n += 8 + Buffer.byteLength(k) + Buffer.byteLength(v);
  }
  return n;
}

export function writeString(buf: Buffer, at: number, s: string): number {
  const len = buf.write(s, at + 4, 'utf8');
  buf.writeUInt32BE(len, at);
  return at + 4 + len;
}

export function writeBytes(buf: Buffer, at: number, b: Buffer): number {
  buf.writeUInt32BE(b.length, at);
  b.copy(buf, at + 4);
  return at + 4 + b.length;
}

export function writeRecord(buf: Buffer, at: number, r: RetainedRecord, flags: number): number {
  const p = r.props;
  at = buf.writeUInt8(r.qos, at);
  at = buf.writeUInt8(flags, at);
  if ((flags & F_EXPIRY) !== 0) at = buf.writeDoubleBE(r.expiresAtMs, at);
  if ((flags & F_FORMAT) !== 0) at = buf.writeUInt8(p?.payloadFormatIndicator ?? 0, at);
  at = writeString(buf, at, r.rawTopic);
  at = writeBytes(buf, at, r.payload);
  if (p === null) return at;
  if (p.contentType !== undefined) at = writeString(buf, at, p.contentType);
  if (p.responseTopic !== undefined) at = writeString(buf, at, p.responseTopic);
  if (p.correlationData !== undefined) at = writeBytes(buf, at, p.correlationData);
  if (p.userProperties !== undefined) {
    at = buf.writeUInt32BE(p.userProperties.length, at);
    for (const [k, v] of p.userProperties) at = writeString(buf, writeString(buf, at, k), v);
  }
  return at;
}

// ---- decoding -------------------------------------------------------------------------------

export function bad(problem: string): PsrtError {
  return new PsrtError(ErrorCode.BadStateFile, problem);
}

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Reads the records part; every read checks the bytes are there first. */
export class Reader {
  constructor(
    private readonly buf: Buffer,
    public at: number,
    readonly end: number,
  ) {}

  get left(): number {
    return this.end - this.at;
  }

  private need(n: number, what: string): void {
    if (this.end - this.at < n) throw bad(`record data ends inside ${what} at byte ${this.at}`);
  }

  u8(what: string): number {
    this.need(1, what);
    return this.buf.readUInt8(this.at++);
  }

  u16(what: string): number {
    this.need(2, what);
    const v = this.buf.readUInt16BE(this.at);
    this.at += 2;
    return v;
  }

  u32(what: string): number {
    this.need(4, what);
    const v = this.buf.readUInt32BE(this.at);
    this.at += 4;
    return v;
  }

  f64(what: string): number {
    this.need(8, what);
    const v = this.buf.readDoubleBE(this.at);
    this.at += 8;
    return v;
  }

  /** A u32-prefixed byte string, as a view into the file's buffer. */
  bytes(what: string): Buffer {
    const len = this.u32(what);
    this.need(len, what);
    const b = this.buf.subarray(this.at, this.at + len);
    this.at += len;
    return b;
  }

  text(what: string): string {
    const at = this.at;
    try {
      return UTF8.decode(this.bytes(what));
    } catch (e) {
      if (e instanceof PsrtError) throw e;
      throw bad(`${what} at byte ${at} is not valid UTF-8`);
    }
  }
}

function readProps(r: Reader, flags: number, format: number | undefined): CarriedProperties | null {
  if ((flags & ~(F_EXPIRY | F_FORMAT)) === 0 && format === undefined) return null;
  const props: { -readonly [K in keyof CarriedProperties]: CarriedProperties[K] } = {};
  if (format !== undefined) props.payloadFormatIndicator = format;
  if ((flags & F_CONTENT_TYPE) !== 0) props.contentType = r.text('content type');
  if ((flags & F_RESPONSE_TOPIC) !== 0) props.responseTopic = r.text('response topic');
  // Copied: the file's buffer must not stay alive for one small property.
  if ((flags & F_CORRELATION) !== 0) props.correlationData = Buffer.from(r.bytes('correlation data'));
  if ((flags & F_USER_PROPS) !== 0) {
    const n = r.u32('user property count');
    const pairs: [string, string][] = [];
    for (let i = 0; i < n; i++) pairs.push([r.text('user property name'), r.text('user property value')]);
    props.userProperties = pairs;
  }
  return props;
}

export function readRecord(r: Reader): RetainedRecord {
  const at = r.at;
  const qos = r.u8('QoS');
  if (qos > 2) throw bad(`record at byte ${at}: QoS ${qos}`);
  const flags = r.u8('flags');
  if ((flags & ~KNOWN_FLAGS) !== 0) throw bad(`record at byte ${at}: unknown flags 0x${flags.toString(16)}`);
  let expiresAtMs = 0;
  if ((flags & F_EXPIRY) !== 0) {
    expiresAtMs = r.f64('expiry');
    if (!Number.isFinite(expiresAtMs) || expiresAtMs <= 0) throw bad(`record at byte ${at}: expiry ${expiresAtMs}`);
  }
  const format = (flags & F_FORMAT) !== 0 ? r.u8('payload format indicator') : undefined;
  const rawTopic = r.text('topic');
  if (rawTopic === '') throw bad(`record at byte ${at}: empty topic`);
  const payload = r.bytes('payload');
  return { rawTopic, payload, qos: qos as QoS, props: readProps(r, flags, format), expiresAtMs };
}

/** A loaded record's properties, its expiry interval the remaining lifetime (as a v5 subscriber is told it). */
function loadedProps(r: RetainedRecord, nowMs: number): CarriedProperties | null {
  if (r.expiresAtMs === 0) return r.props;
  return { ...r.props, messageExpiryInterval: Math.max(0, Math.ceil((r.expiresAtMs - nowMs) / 1000)) };
}

/** The retained MqttMessage of a loaded record, received `stamp` (latency counts from the load). */
export function retainedMessageOf(r: RetainedRecord, stamp: Stamp, nowMs: number): MqttMessage {
  return new MqttMessage(r.rawTopic, r.payload, r.qos, true, DEFAULT_PRIORITY, stamp, loadedProps(r, nowMs), null, r.expiresAtMs);
}

/**
 * The MqttMessage of a message queued or in flight for a saved session: not retained (whether
 * a delivery carries the retain flag is the delivery's), its payload copied out of the file.
 */
export function queuedMessageOf(r: RetainedRecord, stamp: Stamp, nowMs: number): MqttMessage {
  return new MqttMessage(r.rawTopic, r.payload, r.qos, false, DEFAULT_PRIORITY, stamp, loadedProps(r, nowMs), null, r.expiresAtMs).own();
}
