/**
 * The file format of `mqtt.persistence_file`: the retained messages, encoded and decoded here
 * (Buffers in and out; the file I/O is src/bin/retained-file.ts). Version 1, big-endian:
 *
 *   header   8 bytes magic `PSRTRET\0`, u16 format version (1), u32 record count
 *   record   u8 QoS (0–2), u8 flags (which optional fields follow; other bits must be 0)
 *            [f64 expiry deadline, wall-clock ms]        flag 0x01
 *            [u8 payload format indicator]               flag 0x02
 *            u32 + topic (UTF-8), u32 + payload
 *            [u32 + content type (UTF-8)]                flag 0x04
 *            [u32 + response topic (UTF-8)]              flag 0x08
 *            [u32 + correlation data]                    flag 0x10
 *            [u32 count, then u32 + key, u32 + value]    flag 0x20 (user properties, UTF-8)
 *   trailer  SHA-256 of every byte before it (32 bytes)
 *
 * The expiry is an absolute deadline, so a message's remaining lifetime keeps counting while
 * psrtd is down. SHA-256 (node:crypto) rather than zlib's CRC-32: crc32 exists only from Node
 * 20.15 and the package supports every Node 20; hashing 64 MB takes ~40 ms either way.
 */
import { createHash, type Hash } from 'node:crypto';
import { DEFAULT_PRIORITY } from '../protocol/constants.js';
import { ErrorCode, PsrtError } from '../protocol/errors.js';
import type { Stamp } from '../broker/delivery.js';
import { MqttMessage, type CarriedProperties, type QoS } from './message.js';

export const RETAINED_MAGIC: Buffer = Buffer.from('PSRTRET\0', 'latin1');
export const RETAINED_FORMAT_VERSION = 1;
const HEADER_BYTES = RETAINED_MAGIC.length + 2 + 4;
const CHECKSUM_BYTES = 32;
/** QoS, flags, topic length, payload length. */
const MIN_RECORD_BYTES = 1 + 1 + 4 + 4;

const F_EXPIRY = 0x01;
const F_FORMAT = 0x02;
const F_CONTENT_TYPE = 0x04;
const F_RESPONSE_TOPIC = 0x08;
const F_CORRELATION = 0x10;
const F_USER_PROPS = 0x20;
const KNOWN_FLAGS = 0x3f;

/** One retained message as saved (an MqttMessage is one). */
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

function flagsOf(r: RetainedRecord): number {
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

function recordSize(r: RetainedRecord, flags: number): number {
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

function writeString(buf: Buffer, at: number, s: string): number {
  const len = buf.write(s, at + 4, 'utf8');
  buf.writeUInt32BE(len, at);
  return at + 4 + len;
}

function writeBytes(buf: Buffer, at: number, b: Buffer): number {
  buf.writeUInt32BE(b.length, at);
  b.copy(buf, at + 4);
  return at + 4 + b.length;
}

function writeRecord(buf: Buffer, at: number, r: RetainedRecord, flags: number): number {
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

function header(count: number): Buffer {
  const h = Buffer.alloc(HEADER_BYTES);
  RETAINED_MAGIC.copy(h, 0);
  h.writeUInt16BE(RETAINED_FORMAT_VERSION, RETAINED_MAGIC.length);
  h.writeUInt32BE(count, RETAINED_MAGIC.length + 2);
  return h;
}

function hashed(hash: Hash, chunk: Buffer): Buffer {
  hash.update(chunk);
  return chunk;
}

/**
 * The file as chunks of about `chunkBytes` (a record is never split; a larger one is a chunk of
 * its own), so a writer can hand each to the disk and let the event loop run in between: 64 MB
 * encoded in one go would hold every client for tens of milliseconds.
 */
export function* encodeRetainedChunks(records: readonly RetainedRecord[], chunkBytes = 256 * 1024): Generator<Buffer, void, undefined> {
  const hash = createHash('sha256');
  yield hashed(hash, header(records.length));
  let i = 0;
  while (i < records.length) {
    const start = i;
    const flags: number[] = [];
    let size = 0;
    while (i < records.length && (size === 0 || size < chunkBytes)) {
      const r = records[i] as RetainedRecord;
      const f = flagsOf(r);
      flags.push(f);
      size += recordSize(r, f);
      i++;
    }
    const chunk = Buffer.allocUnsafe(size);
    let at = 0;
    for (let j = start; j < i; j++) at = writeRecord(chunk, at, records[j] as RetainedRecord, flags[j - start] as number);
    yield hashed(hash, chunk);
  }
  yield hash.digest();
}

/** The whole file in one Buffer (tests, small stores). */
export function encodeRetained(records: readonly RetainedRecord[]): Buffer {
  return Buffer.concat([...encodeRetainedChunks(records)]);
}

// ---- decoding -------------------------------------------------------------------------------

function bad(problem: string): PsrtError {
  return new PsrtError(ErrorCode.BadStateFile, problem);
}

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Reads the records part; every read checks the bytes are there first. */
class Reader {
  at = HEADER_BYTES;

  constructor(
    private readonly buf: Buffer,
    private readonly end: number,
  ) {}

  private need(n: number, what: string): void {
    if (this.end - this.at < n) throw bad(`record data ends inside ${what} at byte ${this.at}`);
  }

  u8(what: string): number {
    this.need(1, what);
    return this.buf.readUInt8(this.at++);
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

function readRecord(r: Reader): RetainedRecord {
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

/**
 * The records of a file, checked (magic, version, checksum, every length) before anything is
 * used; payloads are views into `file`. Throws only PsrtError(BadStateFile) naming the problem.
 */
export function decodeRetained(file: Buffer): RetainedRecord[] {
  if (file.length < RETAINED_MAGIC.length || !file.subarray(0, RETAINED_MAGIC.length).equals(RETAINED_MAGIC)) {
    throw bad(file.length < RETAINED_MAGIC.length ? `truncated: ${file.length} bytes` : 'not a psrtd retained messages file (bad magic bytes)');
  }
  if (file.length < HEADER_BYTES + CHECKSUM_BYTES) throw bad(`truncated: ${file.length} bytes`);
  const version = file.readUInt16BE(RETAINED_MAGIC.length);
  if (version !== RETAINED_FORMAT_VERSION) throw bad(`unsupported format version ${version} (this psrtd reads version ${RETAINED_FORMAT_VERSION})`);
  const end = file.length - CHECKSUM_BYTES;
  const digest = createHash('sha256').update(file.subarray(0, end)).digest();
  if (!digest.equals(file.subarray(end))) throw bad('checksum mismatch (truncated or corrupted)');
  const count = file.readUInt32BE(RETAINED_MAGIC.length + 2);
  if (count > (end - HEADER_BYTES) / MIN_RECORD_BYTES) throw bad(`${count} records cannot fit in ${file.length} bytes`);
  const reader = new Reader(file, end);
  const records: RetainedRecord[] = [];
  for (let i = 0; i < count; i++) records.push(readRecord(reader));
  if (reader.at !== end) throw bad(`${end - reader.at} bytes after the last record`);
  return records;
}

/**
 * The MqttMessage of a loaded record, received `stamp` (latency counts from the load), its
 * expiry interval the remaining lifetime, as a v5 subscriber is told it.
 */
export function retainedMessageOf(r: RetainedRecord, stamp: Stamp, nowMs: number): MqttMessage {
  let props = r.props;
  if (r.expiresAtMs !== 0) props = { ...props, messageExpiryInterval: Math.max(0, Math.ceil((r.expiresAtMs - nowMs) / 1000)) };
  return new MqttMessage(r.rawTopic, r.payload, r.qos, true, DEFAULT_PRIORITY, stamp, props, null, r.expiresAtMs);
}
