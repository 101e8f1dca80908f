/**
 * Streaming MQTT decoder: cuts packets from received chunks and decodes them, for either
 * direction (the session layer decides which packet types it accepts).
 *
 * Version: the first CONNECT decoded sets `version` from its protocol level; a client (or a test)
 * sets `version` itself before feeding server packets. Any non-CONNECT packet while `version`
 * is still null is a protocol error (0x82) — nothing but CONNECT may open a connection.
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
import type { MqttPacket, MqttVersion } from './packets.js';
import { Reader } from './reader.js';
import { ReasonCode } from './reason-codes.js';

export interface MqttDecoderOptions {
  /** Largest packet accepted, fixed header included (the server's Maximum Packet Size). */
  maxPacketSize: number;
  /**
   * Filters per SUBSCRIBE/UNSUBSCRIBE: a packet with more is only counted, not decoded (its
   * `tooMany` is set). Default: no limit.
   */
  maxFiltersPerPacket?: number;
}

/** Types whose fixed-header flags must be 0b0010 (§2.1.3); all others but PUBLISH need 0. */
const FLAGS_0010 = new Set([6, 8, 10]);

export class MqttDecoder {
  version: MqttVersion | null = null;
  private readonly queue = new ByteQueue();
  private readonly maxPacketSize: number;
  private readonly maxFilters: number;
  private failure: MqttError | null = null;
  /** Fixed header of the packet being waited for: total size, -1 when not parsed yet. */
  private total = -1;
  private headerLen = 0;
  private first = 0;

  constructor(opts: MqttDecoderOptions) {
    this.maxPacketSize = opts.maxPacketSize;
    this.maxFilters = opts.maxFiltersPerPacket ?? Infinity;
  }

  /** Bytes received but not yet returned as packets. */
  get buffered(): number {
    return this.queue.length;
  }

  /** Lets go of buffer bookkeeping while nothing is buffered (called on quiet connections). */
  releaseIdle(): void {
    this.queue.releaseIfEmpty();
  }

  /** Queues a received chunk. Dropped once the stream has failed: it can only be closed. */
  push(chunk: Buffer): void {
    if (this.failure === null) this.queue.push(chunk);
  }

  /** The next complete packet, or null when more bytes are needed. Throws MqttError. */
  next(): MqttPacket | null {
    if (this.failure !== null) throw this.failure;
    try {
      if (this.total < 0 && !this.readFixedHeader()) return null;
      if (this.queue.length < this.total) return null;
      return this.decodeBody();
    } catch (e) {
      if (e instanceof MqttError) this.failure = e;
      throw e;
    }
  }

  /**
   * Parses the fixed header once it is complete and rejects the packet from it alone — size,
   * type and flags — so an oversized body is never buffered waiting to be refused.
   */
  private readFixedHeader(): boolean {
    const q = this.queue;
    if (q.length < 2) return false;
    let remaining = 0;
    let mult = 1;
    for (let i = 1; ; i++) {
      if (i > 4) throw malformed('remaining length longer than 4 bytes');
      if (i >= q.length) return false;
      const b = q.byteAt(i);
      remaining += (b & 0x7f) * mult;
      mult *= 128;
      if ((b & 0x80) === 0) {
        if (b === 0 && i > 1) throw malformed('remaining length not minimally encoded');
        this.headerLen = i + 1;
        break;
      }
    }
    const total = this.headerLen + remaining;
    if (total > this.maxPacketSize) {
      throw new MqttError(ReasonCode.PacketTooLarge, `packet of ${total} bytes exceeds ${this.maxPacketSize}`);
    }
    this.first = q.byteAt(0);
    this.checkTypeAndFlags(this.first >> 4, this.first & 0x0f);
    this.total = total;
    return true;
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
    if (flags !== expected) throw malformed(`packet type ${type} with reserved flags ${flags}`);
  }

  private decodeBody(): MqttPacket {
    const q = this.queue;
    const bodyLen = this.total - this.headerLen;
    q.skip(this.headerLen);
    // The received chunk itself when the body lies inside it (PUBLISH payloads stay views),
    // else one joined copy.
    const buf = q.takeRange(bodyLen);
    const start = q.takenStart;
    this.total = -1;
    return this.dispatch(new Reader(buf, start, start + bodyLen), this.first >> 4, this.first & 0x0f);
  }

  private dispatch(r: Reader, type: number, flags: number): MqttPacket {
    if (type === 1) {
      const connect = decodeConnect(r);
      // A later CONNECT (a protocol error the session layer reports) does not switch versions.
      this.version ??= connect.protocolLevel === 5 ? 5 : 4;
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
