import type { ChunkedPublish } from '../protocol/control.js';
import { DATA_FRAME_HEADER_LENGTH } from '../protocol/constants.js';
import { encodeDataFrameFromBody, encodeDataFrameHead, writeDataFrameFromRange } from '../protocol/encode.js';

/**
 * When a message was received: wall clock in µs since the Unix epoch (for latency stats). One
 * Stamp is shared by every publish cut from the same socket read, so a message carries a
 * pointer instead of a number of its own (a double in an object field costs a 16-byte box per
 * object in V8, and a clock call per message).
 */
export class Stamp {
  constructor(readonly us: number) {}
}

/** A Stamp for now. */
export function stampNow(): Stamp {
  return new Stamp(nowUs());
}

/**
 * One accepted message, encoded once and shared by every subscriber queue it is put on.
 *
 * The frame `01 prio LEN topic 00 payload` is either `bytes` bytes of `buffer` from `offset`
 * (its own buffer, or a slab shared with the frames encoded before and after it), or, for a
 * large message, `pieces` in order (the socket reads it arrived in, see ChunkedPublish).
 */
export interface Delivery {
  readonly buffer: Buffer;
  readonly offset: number;
  readonly bytes: number;
  readonly pieces: readonly Buffer[] | null;
  /** When the publish was received (latency stats and warnings). */
  readonly received: Stamp;
  /** Normalised topic (only read when a latency warning is logged). */
  readonly topic: string;
}

const NO_BUFFER = Buffer.alloc(0);

/** A frame in a buffer of its own. */
export function delivery(frame: Buffer, received: Stamp, topic: string): Delivery {
  return { buffer: frame, offset: 0, bytes: frame.length, pieces: null, received, topic };
}

/**
 * A chunked publish delivered from its own bytes (a PUBLISH request is the data frame), behind
 * a new head when the topic needed normalisation.
 */
export function chunkedDelivery(
  priority: number,
  topic: string,
  topicAsSent: boolean,
  chunked: ChunkedPublish,
  received: Stamp,
): Delivery {
  const head = topicAsSent ? chunked.head : encodeDataFrameHead(priority, topic, chunked.payloadLength);
  const pieces = [head, ...chunked.payload];
  return { buffer: NO_BUFFER, offset: 0, bytes: head.length + chunked.payloadLength, pieces, received, topic };
}

/** Slab size: frames encoded one after another share it, so a batch of them is one range. */
const SLAB_BYTES = 16 * 1024;
/** Larger frames get a buffer of their own. */
const SLAB_MAX_FRAME = 2048;

/**
 * Small frames are written back to back into shared slabs instead of one Buffer each: no
 * Buffer object per message (less garbage, fewer scavenges), and the frames a subscriber gets
 * in one turn usually form one contiguous range of a slab, written without a copy (see
 * DataChannel). A queued frame keeps its 16 KB slab alive, no worse than the 8 KB pool slice
 * Buffer.allocUnsafe would have kept.
 */
export class FrameSlab {
  private slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
  private used = 0;

  /** The data frame for a PUBLISH body (body[start, end)) whose topic needed no normalisation. */
  fromBody(priority: number, body: Buffer, start: number, end: number, received: Stamp, topic: string): Delivery {
    const bytes = DATA_FRAME_HEADER_LENGTH + end - start;
    if (bytes > SLAB_MAX_FRAME) return delivery(encodeDataFrameFromBody(priority, body, start, end), received, topic);
    if (this.used + bytes > SLAB_BYTES) {
      this.slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
      this.used = 0;
    }
    const offset = this.used;
    writeDataFrameFromRange(this.slab, offset, priority, body, start, end);
    this.used += bytes;
    return { buffer: this.slab, offset, bytes, pieces: null, received, topic };
  }
}

/** Read once: the `performance.timeOrigin` getter is costly on a per-message path. */
const TIME_ORIGIN_MS = performance.timeOrigin;

/** Wall clock in µs since the epoch, with sub-ms resolution from the monotonic clock. */
export function nowUs(): number {
  return (TIME_ORIGIN_MS + performance.now()) * 1000;
}

export const PING_FRAME: Buffer = Buffer.from([0]);
