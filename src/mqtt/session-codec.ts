/**
 * A persistent MQTT session as `mqtt.persistence_file` keeps it (src/mqtt/state-codec.ts):
 * its subscriptions and its QoS 1/2 state. A queued or in-flight message is an index into the
 * messages defined so far; the index one past the last defines a new message, whose record
 * (record-codec.ts) follows at once. So a message queued for 10,000 sessions is saved once, and
 * sessions can be encoded one at a time, each when its turn comes (no table built up front).
 * Big-endian:
 *
 *   session       u32 + client id, u32 + user (UTF-8)
 *                 u32 session expiry interval (s), f64 wall-clock ms the session ends at
 *                 (0: connected at the save, or never expires)
 *                 u8 flags (0x01: QoS state follows, 0x02: a will follows; other bits must be 0)
 *                 u32 subscription count, then each: u32 + key (the filter as subscribed,
 *                 `$share/…` included), u8 options (QoS | no local 0x04 | retain as
 *                 published 0x08 | retain handling << 4), u32 subscription identifier (0 none)
 *   QoS state     u16 next packet id
 *                 u32 in-flight count, then each: u16 packet id, u8 (QoS | retain 0x04 |
 *                 released 0x08), message, identifiers
 *                 u32 queued count, then each: u8 (QoS | retain 0x04), message, identifiers
 *                 u32 count of inbound QoS 2 packet ids not yet released, then each u16
 *   will          (a will waiting for its Will Delay Interval) u8 flags (retain 0x01, message
 *                 expiry interval follows 0x02), u32 will delay (s), [u32 message expiry
 *                 interval (s)], f64 wall-clock ms it is due, the message's record
 *   message       u32 index; when it is the number of messages defined so far, the message's
 *                 record follows (a new one), else it is one defined before
 *   identifiers   u32 count (0: none), then each u32 (the delivery's subscription identifiers)
 */
import type { QoS } from './message.js';
import { bad, flagsOf, readRecord, recordSize, writeRecord, writeString, type Reader, type RetainedRecord } from './record-codec.js';
import type { SubscriptionOptions } from './subscription.js';

/** A QoS 1/2 delivery waiting for its turn; `M` is the message (an index in a decoded file). */
export interface SavedDelivery<M> {
  readonly msg: M;
  readonly qos: 1 | 2;
  readonly retain: boolean;
  readonly subIds: readonly number[] | null;
}

export interface SavedInFlight<M> extends SavedDelivery<M> {
  readonly packetId: number;
  /** PUBREC received: PUBREL sent, waiting for PUBCOMP. */
  readonly released: boolean;
}

export interface SavedQos<M> {
  readonly nextPacketId: number;
  readonly inflight: readonly SavedInFlight<M>[];
  readonly queue: readonly SavedDelivery<M>[];
  /** QoS 2 publishes received and answered with PUBREC, not yet released. */
  readonly inboundQos2: readonly number[];
}

export interface SavedSubscription {
  readonly key: string;
  readonly options: SubscriptionOptions;
}

export interface SavedSession<M> {
  readonly clientId: string;
  readonly user: string;
  readonly expiryInterval: number;
  /** Wall-clock ms the session ends at; 0: it was connected at the save, or never expires. */
  readonly endsAtMs: number;
  readonly subscriptions: readonly SavedSubscription[];
  readonly qos: SavedQos<M> | null;
  /** A will waiting for its delay when the session was taken (an offline session's). */
  readonly will: SavedWill | null;
}

export interface SavedWill {
  /** Topic, payload, QoS and properties; its expiry deadline is not used (see messageExpiry). */
  readonly record: RetainedRecord;
  readonly retain: boolean;
  /** The Will Delay Interval, seconds. */
  readonly delay: number;
  /** The will's Message Expiry Interval (counted from when it is published); null: none. */
  readonly messageExpiry: number | null;
  /** Wall-clock ms it is due. */
  readonly atMs: number;
}

const S_QOS = 0x01;
const S_WILL = 0x02;
const W_RETAIN = 0x01;
const W_EXPIRY = 0x02;
const D_RETAIN = 0x04;
const D_RELEASED = 0x08;

// ---- encoding -------------------------------------------------------------------------------

function idsSize(ids: readonly number[] | null): number {
  return 4 + 4 * (ids?.length ?? 0);
}

function optionsByte(o: SubscriptionOptions): number {
  return o.qos | (o.noLocal ? 0x04 : 0) | (o.retainAsPublished ? 0x08 : 0) | (o.retainHandling << 4);
}

function writeIds(buf: Buffer, at: number, ids: readonly number[] | null): number {
  at = buf.writeUInt32BE(ids?.length ?? 0, at);
  for (const id of ids ?? []) at = buf.writeUInt32BE(id, at);
  return at;
}

function willRecord(w: SavedWill): RetainedRecord {
  return w.record.expiresAtMs === 0 ? w.record : { ...w.record, expiresAtMs: 0 };
}

/** `withDue`: the will waits for its delay and its due time is written (not for an open connection's). */
export function willSize(w: SavedWill, withDue = true): number {
  const record = willRecord(w);
  return 1 + 4 + (w.messageExpiry === null ? 0 : 4) + (withDue ? 8 : 0) + recordSize(record, flagsOf(record));
}

export function writeWill(buf: Buffer, at: number, w: SavedWill, withDue = true): number {
  at = buf.writeUInt8((w.retain ? W_RETAIN : 0) | (w.messageExpiry === null ? 0 : W_EXPIRY), at);
  at = buf.writeUInt32BE(w.delay, at);
  if (w.messageExpiry !== null) at = buf.writeUInt32BE(w.messageExpiry, at);
  if (withDue) at = buf.writeDoubleBE(w.atMs, at);
  const record = willRecord(w);
  return writeRecord(buf, at, record, flagsOf(record));
}

/**
 * Encodes sessions one after another, each message the first time a session refers to it
 * (the writer remembers which it has defined: one file's worth, then it is dropped).
 */
export class SessionWriter<M extends RetainedRecord> {
  private readonly index = new Map<M, number>();
  /** Messages whose record has been written (the next new one gets this index). */
  private defined = 0;

  /** One session record. */
  encode(s: SavedSession<M>): Buffer {
    const buf = Buffer.allocUnsafe(this.size(s));
    let at = writeString(buf, writeString(buf, 0, s.clientId), s.user);
    at = buf.writeUInt32BE(s.expiryInterval, at);
    at = buf.writeDoubleBE(s.endsAtMs, at);
    at = buf.writeUInt8((s.qos === null ? 0 : S_QOS) | (s.will === null ? 0 : S_WILL), at);
    at = buf.writeUInt32BE(s.subscriptions.length, at);
    for (const sub of s.subscriptions) {
      at = buf.writeUInt8(optionsByte(sub.options), writeString(buf, at, sub.key));
      at = buf.writeUInt32BE(sub.options.identifier, at);
    }
    if (s.qos !== null) at = this.writeQos(buf, at, s.qos);
    if (s.will !== null) at = writeWill(buf, at, s.will);
    if (at !== buf.length) throw new Error(`session record: wrote ${at} of ${buf.length} bytes`);
    return buf;
  }

  /** The record's size; gives each message not seen before the next index (in write order). */
  private size(s: SavedSession<M>): number {
    let n = 8 + Buffer.byteLength(s.clientId) + Buffer.byteLength(s.user) + 4 + 8 + 1 + 4;
    for (const sub of s.subscriptions) n += 4 + Buffer.byteLength(sub.key) + 1 + 4;
    if (s.will !== null) n += willSize(s.will);
    const q = s.qos;
    if (q === null) return n;
    n += 2 + 4 + 4 + 4 + 2 * q.inboundQos2.length;
    for (const f of q.inflight) n += 2 + 1 + this.messageSize(f.msg) + idsSize(f.subIds);
    for (const d of q.queue) n += 1 + this.messageSize(d.msg) + idsSize(d.subIds);
    return n;
  }

  private messageSize(m: M): number {
    if (this.index.has(m)) return 4;
    this.index.set(m, this.index.size);
    return 4 + recordSize(m, flagsOf(m));
  }

  private writeMessage(buf: Buffer, at: number, m: M): number {
    const i = this.index.get(m) as number;
    at = buf.writeUInt32BE(i, at);
    if (i !== this.defined) return at;
    this.defined++;
    return writeRecord(buf, at, m, flagsOf(m));
  }

  private writeQos(buf: Buffer, at: number, q: SavedQos<M>): number {
    at = buf.writeUInt16BE(q.nextPacketId, at);
    at = buf.writeUInt32BE(q.inflight.length, at);
    for (const f of q.inflight) {
      at = buf.writeUInt16BE(f.packetId, at);
      at = buf.writeUInt8(f.qos | (f.retain ? D_RETAIN : 0) | (f.released ? D_RELEASED : 0), at);
      at = writeIds(buf, this.writeMessage(buf, at, f.msg), f.subIds);
    }
    at = buf.writeUInt32BE(q.queue.length, at);
    for (const d of q.queue) {
      at = buf.writeUInt8(d.qos | (d.retain ? D_RETAIN : 0), at);
      at = writeIds(buf, this.writeMessage(buf, at, d.msg), d.subIds);
    }
    at = buf.writeUInt32BE(q.inboundQos2.length, at);
    for (const id of q.inboundQos2) at = buf.writeUInt16BE(id, at);
    return at;
  }
}

// ---- decoding -------------------------------------------------------------------------------

/** A count read from the file, refused when its smallest items could not fit the bytes left. */
function count(r: Reader, what: string, minItemBytes: number): number {
  const at = r.at;
  const n = r.u32(`${what} count`);
  if (n * minItemBytes > r.left) throw bad(`${n} ${what} at byte ${at} cannot fit in the ${r.left} bytes left`);
  return n;
}

function readIds(r: Reader): number[] | null {
  const n = count(r, 'subscription identifier', 4);
  if (n === 0) return null;
  const ids: number[] = [];
  for (let i = 0; i < n; i++) {
    const id = r.u32('subscription identifier');
    if (id === 0 || id > 268_435_455) throw bad(`subscription identifier ${id} at byte ${r.at - 4}`);
    ids.push(id);
  }
  return ids;
}

function readOptions(r: Reader, at: number): SubscriptionOptions {
  const b = r.u8('subscription options');
  const qos = b & 0x03;
  const retainHandling = (b >> 4) & 0x03;
  if (qos > 2 || retainHandling > 2 || (b & 0xc0) !== 0) throw bad(`subscription at byte ${at}: options 0x${b.toString(16)}`);
  const identifier = r.u32('subscription identifier');
  if (identifier > 268_435_455) throw bad(`subscription at byte ${at}: identifier ${identifier}`);
  return { qos: qos as QoS, noLocal: (b & 0x04) !== 0, retainAsPublished: (b & 0x08) !== 0, retainHandling: retainHandling as 0 | 1 | 2, identifier };
}

function readSubscriptions(r: Reader): SavedSubscription[] {
  const subs: SavedSubscription[] = [];
  const n = count(r, 'subscription', 4 + 1 + 4);
  for (let i = 0; i < n; i++) {
    const at = r.at;
    const key = r.text('subscription filter');
    if (key === '') throw bad(`subscription at byte ${at}: empty filter`);
    subs.push({ key, options: readOptions(r, at) });
  }
  return subs;
}

function packetId(r: Reader, what: string): number {
  const id = r.u16(what);
  if (id === 0) throw bad(`${what} 0 at byte ${r.at - 2}`);
  return id;
}

interface ReadDelivery extends SavedDelivery<number> {
  readonly released: boolean;
}

/** A message reference, or a new message defined here (added to `messages`). */
function readMessage(r: Reader, messages: RetainedRecord[], at: number): number {
  const i = r.u32('message index');
  if (i === messages.length) messages.push(readRecord(r));
  else if (i > messages.length) throw bad(`delivery at byte ${at}: message ${i}, but ${messages.length} defined so far`);
  return i;
}

/** A delivery's flags, message and identifiers; `allowed`: the flags besides QoS it may have. */
function readDelivery(r: Reader, messages: RetainedRecord[], allowed: number): ReadDelivery {
  const at = r.at;
  const bits = r.u8('delivery flags');
  const qos = bits & 0x03;
  if ((qos !== 1 && qos !== 2) || (bits & ~(0x03 | allowed)) !== 0) throw bad(`delivery at byte ${at}: flags 0x${bits.toString(16)}`);
  const msg = readMessage(r, messages, at);
  const released = (bits & D_RELEASED) !== 0;
  if (released && qos !== 2) throw bad(`delivery at byte ${at}: a QoS 1 delivery cannot be released`);
  return { msg, qos, retain: (bits & D_RETAIN) !== 0, released, subIds: readIds(r) };
}

function readQos(r: Reader, messages: RetainedRecord[]): SavedQos<number> {
  const nextPacketId = packetId(r, 'next packet id');
  const inflight: SavedInFlight<number>[] = [];
  const seen = new Set<number>();
  for (let i = 0, n = count(r, 'in-flight delivery', 2 + 1 + 4 + 4); i < n; i++) {
    const id = packetId(r, 'packet id');
    if (seen.has(id)) throw bad(`packet id ${id} in flight twice (byte ${r.at - 2})`);
    seen.add(id);
    const d = readDelivery(r, messages, D_RETAIN | D_RELEASED);
    inflight.push({ ...d, packetId: id });
  }
  const queue: SavedDelivery<number>[] = [];
  for (let i = 0, n = count(r, 'queued delivery', 1 + 4 + 4); i < n; i++) {
    const d = readDelivery(r, messages, D_RETAIN);
    queue.push({ msg: d.msg, qos: d.qos, retain: d.retain, subIds: d.subIds });
  }
  const inboundQos2: number[] = [];
  for (let i = 0, n = count(r, 'inbound QoS 2 packet id', 2); i < n; i++) inboundQos2.push(packetId(r, 'inbound QoS 2 packet id'));
  return { nextPacketId, inflight, queue, inboundQos2 };
}

/** One session; the messages it defines are added to `messages`, which its deliveries index. */
export function readSession(r: Reader, messages: RetainedRecord[]): SavedSession<number> {
  const at = r.at;
  const clientId = r.text('client id');
  const user = r.text('user');
  const expiryInterval = r.u32('session expiry interval');
  if (expiryInterval === 0) throw bad(`session at byte ${at}: expiry interval 0 (such a session is not kept)`);
  const endsAtMs = r.f64('session end');
  if (!Number.isFinite(endsAtMs) || endsAtMs < 0) throw bad(`session at byte ${at}: end ${endsAtMs}`);
  const flags = r.u8('session flags');
  if ((flags & ~(S_QOS | S_WILL)) !== 0) throw bad(`session at byte ${at}: unknown flags 0x${flags.toString(16)}`);
  const subscriptions = readSubscriptions(r);
  const qos = (flags & S_QOS) !== 0 ? readQos(r, messages) : null;
  const will = (flags & S_WILL) !== 0 ? readWill(r) : null;
  return { clientId, user, expiryInterval, endsAtMs, subscriptions, qos, will };
}

/** A will; `withDue`: its due time follows (without it, as for an open connection's, atMs is 0). */
export function readWill(r: Reader, withDue = true): SavedWill {
  const at = r.at;
  const flags = r.u8('will flags');
  if ((flags & ~(W_RETAIN | W_EXPIRY)) !== 0) throw bad(`will at byte ${at}: unknown flags 0x${flags.toString(16)}`);
  const delay = r.u32('will delay');
  const messageExpiry = (flags & W_EXPIRY) !== 0 ? r.u32('will message expiry interval') : null;
  const atMs = withDue ? r.f64('will due time') : 0;
  if (!Number.isFinite(atMs) || atMs < 0) throw bad(`will at byte ${at}: due at ${atMs}`);
  const record = readRecord(r);
  if (record.expiresAtMs !== 0) throw bad(`will at byte ${at}: its message has an expiry deadline`);
  return { record, retain: (flags & W_RETAIN) !== 0, delay, messageExpiry, atMs };
}
