/**
 * Client-side decoding of the data socket stream (PROTOCOL.md §6.2–6.3): `00` pings and
 * `01 prio LEN topic 00 payload` message frames.
 */
import type { ByteQueue } from './byte-queue.js';
import { RESPONSE_NOP, RESPONSE_OK } from './constants.js';
import { ErrorCode, PsrtError } from './errors.js';
import { decodeUtf8 } from './handshake.js';

export interface DataMessage {
  readonly kind: 'message';
  readonly priority: number;
  readonly topic: string;
  /** A view into the received bytes; copy it to keep it beyond the callback if needed. */
  readonly payload: Buffer;
}

export type DataEvent = { readonly kind: 'ping' } | DataMessage;

const PING: DataEvent = { kind: 'ping' };

/** Topics up to this length are remembered between frames (see DataDecoder.topicOf). */
const MAX_CACHED_TOPIC = 256;

export class DataDecoder {
  private lastTopicBytes: Buffer | null = null;
  private lastTopic = '';

  constructor(
    private readonly queue: ByteQueue,
    /** Frames longer than this are a protocol violation (protects the client's memory). */
    private readonly maxFrame = 0xffffffff,
  ) {}

  next(): DataEvent | null {
    const q = this.queue;
    if (q.length === 0) return null;
    const marker = q.byteAt(0);
    if (marker === RESPONSE_NOP) {
      q.skip(1);
      return PING;
    }
    if (marker !== RESPONSE_OK) {
      throw new PsrtError(ErrorCode.ProtocolViolation, `Invalid data frame marker: ${marker}`);
    }
    if (q.length < 6) return null;
    const len = q.u32At(2);
    if (len > this.maxFrame) throw new PsrtError(ErrorCode.FrameTooLong, `Frame too long (${len})`);
    if (q.length < 6 + len) return null;
    const priority = q.byteAt(1);
    q.skip(6);
    const body = q.take(len);
    const sep = topicEnd(body);
    if (sep < 0) throw new PsrtError(ErrorCode.InvalidDataBlock, 'Invalid data block');
    return { kind: 'message', priority, topic: this.topicOf(body, sep), payload: body.subarray(sep + 1) };
  }

  /**
   * The topic string of body[0, sep). A subscription stream mostly repeats a few topics, so
   * bytes equal to the previous frame's topic reuse its (already validated) string instead of
   * paying a view, a UTF-8 check and a decode per message.
   */
  private topicOf(body: Buffer, sep: number): string {
    const last = this.lastTopicBytes;
    if (last?.length === sep) {
      let i = 0;
      while (i < sep && body[i] === last[i]) i++;
      if (i === sep) return this.lastTopic;
    }
    const topic = decodeUtf8(body.subarray(0, sep));
    if (sep <= MAX_CACHED_TOPIC) {
      this.lastTopicBytes = Buffer.from(body.subarray(0, sep)); // a copy: do not pin the read buffer
      this.lastTopic = topic;
    }
    return topic;
  }
}

/** Index of the first 00: a JS scan over the (short) topic, the native search beyond it. */
function topicEnd(body: Buffer): number {
  const n = Math.min(body.length, 64);
  for (let i = 0; i < n; i++) if (body[i] === 0) return i;
  return body.length > n ? body.indexOf(0, n) : -1;
}
