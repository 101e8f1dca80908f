/**
 * Streaming MQTT decoder: cuts packets from received chunks and decodes them, for either
 * direction (the session layer decides which packet types it accepts).
 *
 * Version: the first CONNECT decoded sets `version` from its protocol level; a client (or a test)
 * sets `version` itself before feeding server packets. Any non-CONNECT packet while `version`
 * is still null is a protocol error (0x82) — nothing but CONNECT may open a connection.
 *
 * MQTT 3.1: a 3.1 CONNECT sets `mqtt31` (a client sets it itself): its stream is version 4, but
 * the fixed-header flags of packets other than PUBLISH are not checked, since 3.1 sets DUP (and
 * QoS 1) on a retried PUBREL, SUBSCRIBE or UNSUBSCRIBE, and Mosquitto accepts any.
 *
 * After an MqttError the stream is unusable (packet boundaries are lost): every later `next()`
 * throws the same error.
 */
import { ByteQueue } from '../byte-queue.js';
import {
  decodeAck,
  decodeAuth,
  decodeConnack,
  decodeConnect,
  decodeDisconnect,
  decodePublish,
  decodeSuback,
  decodeSubscribe,
  decodeUnsuback,
  decodeUnsubscribe,
} from './decode-packets.js';
import { MqttError, malformed, protocolError } from './errors.js';
import { MQTT31_LEVEL, type MqttPacket, type MqttVersion } from './packets.js';
import { Reader } from './reader.js';
import { ReasonCode } from './reason-codes.js';

export interface MqttDecoderOptions {
  /** Largest packet accepted, fixed header included (the server's Maximum Packet Size). */
  maxPacketSize: number;
  /**
   * Largest first packet (the CONNECT), fixed header included: what an unauthenticated peer can
   * make the server buffer. Default: maxPacketSize.
   */
  maxConnectSize?: number;
  /**
   * Filters per SUBSCRIBE/UNSUBSCRIBE: a packet with more is only counted, not decoded (its
   * `tooMany` is set). Default: no limit.
   */
  maxFiltersPerPacket?: number;
}

/** Types whose fixed-header flags must be 0b0010 (§2.1.3); all others but PUBLISH need 0. */
const FLAGS_0010 = new Set([6, 8, 10]);

/** The fixed header of a packet that spans reads, copied out of the queue to be parsed. */
const HEADER = Buffer.alloc(5);

/**
 * The fixed header at buf[start, start + avail) (avail ≤ 5 is enough): total size × 8 + header
 * length, or -1 when incomplete. One number, so parsing it allocates nothing.
 */
function fixedHeader(buf: Buffer, start: number, avail: number): number {
  if (avail < 2) return -1;
  let remaining = 0;
  let mult = 1;
  for (let i = 1; ; i++) {
    if (i > 4) throw malformed('remaining length longer than 4 bytes');
    if (i >= avail) return -1;
    const b = buf[start + i] ?? 0;
    remaining += (b & 0x7f) * mult;
    mult *= 128;
    if ((b & 0x80) === 0) {
      if (b === 0 && i > 1) throw malformed('remaining length not minimally encoded');
      return (i + 1 + remaining) * 8 + i + 1;
    }
  }
}

/**
 * fixedHeader() of the queued bytes: in place when the first chunk holds it, else copied into
 * HEADER; either way HEADER[0] is the first byte.
 */
function queuedHeader(q: ByteQueue): number {
  const avail = Math.min(q.length, 5);
  const head = q.headChunk;
  const at = q.headOffset;
  if (head !== undefined && head.length - at >= avail) {
    HEADER[0] = head[at] ?? 0; // the caller reads the type from HEADER[0]
    return fixedHeader(head, at, avail);
  }
  // Only the header's own bytes: type, then the remaining length up to its last byte.
  let n = 0;
  do {
    HEADER[n] = q.byteAt(n);
    n++;
  } while (n < avail && (n < 2 || ((HEADER[n - 1] ?? 0) & 0x80) !== 0));
  return fixedHeader(HEADER, 0, n);
}

/**
 * Packets are decoded straight from the received chunk; only when one spans reads are its bytes
 * queued (a ByteQueue, dropped once empty). An idle connection thus holds no queue or chunk.
 */
export class MqttDecoder {
  version: MqttVersion | null = null;
  /** The stream speaks MQTT 3.1 (version 4 with lenient fixed-header flags). */
  mqtt31 = false;
  private readonly maxPacketSize: number;
  private readonly maxConnectSize: number;
  private readonly maxFilters: number;
  private failure: MqttError | null = null;
  /** The chunk being decoded from (no partial packet pending), null once consumed. */
  private cur: Buffer | null = null;
  private pos = 0;
  /** The bytes of a packet that spans reads (and of those after it), null when none does. */
  private partial: ByteQueue | null = null;
  /** Total size of the queued packet, -1 when its fixed header is not parsed yet. */
  private size = -1;
  private headerLen = 0;
  private first = 0;

  constructor(opts: MqttDecoderOptions) {
    this.maxPacketSize = opts.maxPacketSize;
    this.maxConnectSize = Math.min(opts.maxConnectSize ?? opts.maxPacketSize, opts.maxPacketSize);
    this.maxFilters = opts.maxFiltersPerPacket ?? Infinity;
  }

  /** Bytes received but not yet returned as packets. */
  get buffered(): number {
    if (this.partial !== null) return this.partial.length;
    return this.cur === null ? 0 : this.cur.length - this.pos;
  }

  /** Queues a received chunk. Dropped once the stream has failed: it can only be closed. */
  push(chunk: Buffer): void {
    if (this.failure !== null || chunk.length === 0) return;
    if (this.partial !== null) {
      this.partial.push(chunk);
    } else if (this.cur === null) {
      this.cur = chunk;
      this.pos = 0;
    } else {
      // A packet spans reads: from now on its bytes are queued.
      const partial = new ByteQueue();
      partial.push(this.pos === 0 ? this.cur : this.cur.subarray(this.pos));
      partial.push(chunk);
      this.partial = partial;
      this.cur = null;
    }
  }

  /** The next complete packet, or null when more bytes are needed. Throws MqttError. */
  next(): MqttPacket | null {
    if (this.failure !== null) throw this.failure;
    try {
      if (this.partial !== null) return this.fromQueue(this.partial);
      return this.cur === null ? null : this.fromChunk(this.cur);
    } catch (e) {
      if (e instanceof MqttError) this.failure = e;
      throw e;
    }
  }

  /**
   * A packet inside the current chunk (the body a view of it). The fixed header alone decides
   * size, type and flags, so an oversized body is never waited for.
   */
  private fromChunk(buf: Buffer): MqttPacket | null {
    const pos = this.pos;
    const avail = buf.length - pos;
    const h = fixedHeader(buf, pos, Math.min(avail, 5));
    if (h < 0) return null;
    const headerLen = h & 7;
    const total = h >>> 3;
    const first = buf[pos] ?? 0;
    this.check(total, first);
    if (avail < total) return null;
    this.pos = pos + total;
    if (this.pos === buf.length) this.cur = null;
    return this.dispatch(new Reader(buf, pos + headerLen, pos + total), first >> 4, first & 0x0f);
  }

  private fromQueue(q: ByteQueue): MqttPacket | null {
    if (this.size < 0) {
      const h = queuedHeader(q);
      if (h < 0) return null;
      this.headerLen = h & 7;
      this.first = HEADER[0] ?? 0;
      this.check(h >>> 3, this.first);
      this.size = h >>> 3;
    }
    if (q.length < this.size) return null;
    const bodyLen = this.size - this.headerLen;
    q.skip(this.headerLen);
    // The received chunk itself when the body lies inside it, else one joined copy.
    const buf = q.takeRange(bodyLen);
    const start = q.takenStart;
    this.size = -1;
    if (q.length === 0) this.partial = null;
    return this.dispatch(new Reader(buf, start, start + bodyLen), this.first >> 4, this.first & 0x0f);
  }

  private check(total: number, first: number): void {
    // Until a CONNECT is decoded the peer is unauthenticated: it gets the smaller limit.
    if (this.version === null && total > this.maxConnectSize) {
      this.checkTypeAndFlags(first >> 4, first & 0x0f); // not a CONNECT: say so instead
      throw new MqttError(ReasonCode.PacketTooLarge, `CONNECT of ${total} bytes exceeds ${this.maxConnectSize}`);
    }
    if (total > this.maxPacketSize) {
      throw new MqttError(ReasonCode.PacketTooLarge, `packet of ${total} bytes exceeds ${this.maxPacketSize}`);
    }
    this.checkTypeAndFlags(first >> 4, first & 0x0f);
  }

  private checkTypeAndFlags(type: number, flags: number): void {
    if (type === 0) throw malformed('reserved packet type 0');
    if (this.version === null && type !== 1) throw protocolError('first packet is not CONNECT');
    if (type === 15 && this.version === 4) throw protocolError('AUTH in MQTT 3.1.1');
    if (type === 3) {
      if ((flags & 0x06) === 0x06) throw malformed('PUBLISH with QoS 3');
      return;
    }
    const expected = FLAGS_0010.has(type) ? 0x02 : 0x00;
    if (flags !== expected && !this.mqtt31) throw malformed(`packet type ${type} with reserved flags ${flags}`);
  }

  private dispatch(r: Reader, type: number, flags: number): MqttPacket {
    if (type === 1) {
      const connect = decodeConnect(r);
      // A later CONNECT (a protocol error the session layer reports) does not switch versions.
      if (this.version === null) {
        this.version = connect.protocolLevel === 5 ? 5 : 4;
        this.mqtt31 = connect.protocolLevel === MQTT31_LEVEL;
      }
      return connect;
    }
    const v = this.version ?? 4; // never null here: checked with the fixed header
    switch (type) {
      case 2:
        return decodeConnack(r, v);
      case 3:
        return decodePublish(r, flags, v);
      case 4:
        return decodeAck(r, 'puback', v);
      case 5:
        return decodeAck(r, 'pubrec', v);
      case 6:
        return decodeAck(r, 'pubrel', v);
      case 7:
        return decodeAck(r, 'pubcomp', v);
      case 8:
        return decodeSubscribe(r, v, this.maxFilters);
      case 9:
        return decodeSuback(r, v);
      case 10:
        return decodeUnsubscribe(r, v, this.maxFilters);
      case 11:
        return decodeUnsuback(r, v);
      case 12:
      case 13:
        if (r.remaining !== 0) throw malformed('PINGREQ/PINGRESP with a body');
        return type === 12 ? { type: 'pingreq' } : { type: 'pingresp' };
      case 14:
        return decodeDisconnect(r, v);
      default:
        return decodeAuth(r);
    }
  }
}
