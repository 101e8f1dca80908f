import type { ChunkedPublish } from '../protocol/control.js';
import { DATA_FRAME_HEADER_LENGTH } from '../protocol/constants.js';
import { encodeDataFrame, encodeDataFrameFromBody, encodeDataFrameHead, writeDataFrameFromRange } from '../protocol/encode.js';

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
 * Accepted messages, encoded once and shared by every subscriber queue they are put on.
 *
 * The frames (`01 prio LEN topic 00 payload` each) are either `bytes` bytes of `buffer` from
 * `offset` (their own buffer, or a slab shared with the frames encoded before and after them),
 * or, for one large message, `pieces` in order (the socket reads it arrived in, see
 * ChunkedPublish). Usually one message; consecutive publishes of one topic cut from the same
 * read are appended to the entry while no subscriber has written it (Broker.publish), so a
 * pipelined burst costs one object instead of one per message.
 */
export interface Delivery {
  readonly buffer: Buffer;
  /** The slab `buffer` belongs to, when it is one (its bytes are reused once nobody holds them). */
  readonly slab: Slab | null;
  readonly offset: number;
  /** Grows when a message is appended (only while the entry is the tail of every queue). */
  bytes: number;
  /** Messages (frames) in the entry, ≥ 1. */
  messages: number;
  readonly pieces: readonly Buffer[] | null;
  /** When the publishes were received (latency stats and warnings). */
  readonly received: Stamp;
  /** Normalised topic of every message in the entry (read when a latency warning is logged). */
  readonly topic: string;
}

const NO_BUFFER = Buffer.alloc(0);

/** A frame in a buffer of its own. */
export function delivery(frame: Buffer, received: Stamp, topic: string): Delivery {
  return { buffer: frame, slab: null, offset: 0, bytes: frame.length, messages: 1, pieces: null, received, topic };
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
  return { buffer: NO_BUFFER, slab: null, offset: 0, bytes: head.length + chunked.payloadLength, messages: 1, pieces, received, topic };
}

/** Slab size: frames encoded one after another share it, so a batch of them is one range. */
const SLAB_BYTES = 16 * 1024;
/** Larger frames get a buffer of their own. */
const SLAB_MAX_FRAME = 2048;
/** Written-out slabs kept for reuse (256 KB). */
const SPARE_SLABS = 16;

/**
 * A 16 KB buffer that small frames are encoded into, back to back. `holds` counts the queue
 * entries in it that are not yet written to their socket and acknowledged (DataChannel takes
 * and releases them); when it drops to 0 and the slab is full, its buffer is reused.
 */
export class Slab {
  readonly buffer = Buffer.allocUnsafeSlow(SLAB_BYTES);
  holds = 0;
  /** On the spare list (so it can never be handed out twice). */
  spare = false;

  constructor(private readonly owner: FrameSlab) {}

  hold(): void {
    this.holds++;
  }

  release(): void {
    if (this.holds > 0 && --this.holds === 0) this.owner.recycle(this);
  }
}

/**
 * Small frames are written back to back into shared slabs instead of one Buffer each: no
 * Buffer object per message (less garbage, fewer scavenges), and the frames a subscriber gets
 * in one turn usually form one contiguous range of a slab, written without a copy (see
 * DataChannel). Slabs whose frames have all been written are reused: otherwise every 16 KB of
 * messages would be a fresh allocation, freed only at the next garbage collection, and at a few
 * hundred MB/s that memory adds up to megabytes of RSS between collections. A queued frame
 * keeps its 16 KB slab in use, no worse than the 8 KB pool slice Buffer.allocUnsafe would keep.
 */
export class FrameSlab {
  private current = new Slab(this);
  private used = 0;
  private readonly spare: Slab[] = [];
  /** Slabs taken from the spare list instead of allocated (diagnostics, tests). */
  reused = 0;

  /** The data frame for a PUBLISH body (body[start, end)) whose topic needed no normalisation. */
  fromBody(priority: number, body: Buffer, start: number, end: number, received: Stamp, topic: string): Delivery {
    const bytes = DATA_FRAME_HEADER_LENGTH + end - start;
    if (bytes > SLAB_MAX_FRAME) return delivery(encodeDataFrameFromBody(priority, body, start, end), received, topic);
    if (this.used + bytes > SLAB_BYTES) this.next();
    const slab = this.current;
    const offset = this.used;
    writeDataFrameFromRange(slab.buffer, offset, priority, body, start, end);
    this.used += bytes;
    return { buffer: slab.buffer, slab, offset, bytes, messages: 1, pieces: null, received, topic };
  }

  /**
   * Appends the frame of this body to `d` when `d` ends where the slab's free space begins and
   * the frame fits: the frame's length if it did, else 0 (the caller makes sure no subscriber
   * has written `d` yet).
   */
  appendTo(d: Delivery, priority: number, body: Buffer, start: number, end: number): number {
    const bytes = DATA_FRAME_HEADER_LENGTH + end - start;
    if (bytes > SLAB_MAX_FRAME || d.slab !== this.current || d.offset + d.bytes !== this.used) return 0;
    if (this.used + bytes > SLAB_BYTES) return 0;
    writeDataFrameFromRange(this.current.buffer, this.used, priority, body, start, end);
    this.used += bytes;
    d.bytes += bytes;
    d.messages++;
    return bytes;
  }

  /** The data frame `01 prio LEN topic 00 payload` for a message that came without one (UDP, MQTT, bridges). */
  fromParts(priority: number, topic: string, payload: Buffer, received: Stamp): Delivery {
    const topicLength = Buffer.byteLength(topic);
    const bytes = DATA_FRAME_HEADER_LENGTH + topicLength + 1 + payload.length;
    const offset = this.reserve(bytes);
    if (offset < 0) return delivery(encodeDataFrame(priority, topic, payload), received, topic);
    const slab = this.current;
    const b = slab.buffer;
    b[offset] = 1;
    b[offset + 1] = priority;
    b.writeUInt32LE(topicLength + 1 + payload.length, offset + 2);
    b.write(topic, offset + DATA_FRAME_HEADER_LENGTH, topicLength, 'utf8');
    b[offset + DATA_FRAME_HEADER_LENGTH + topicLength] = 0;
    payload.copy(b, offset + DATA_FRAME_HEADER_LENGTH + topicLength + 1);
    return { buffer: b, slab, offset, bytes, messages: 1, pieces: null, received, topic };
  }

  /**
   * Room for a `bytes`-long frame of another wire format (MQTT) in the current slab: the offset
   * to write it at in `currentSlab`, the space counted as used; -1 when the frame is too large
   * for a slab (give it a buffer of its own).
   */
  reserve(bytes: number): number {
    if (bytes > SLAB_MAX_FRAME) return -1;
    if (this.used + bytes > SLAB_BYTES) this.next();
    const offset = this.used;
    this.used += bytes;
    return offset;
  }

  /** The slab the last reserve() handed out space in. */
  get currentSlab(): Slab {
    return this.current;
  }

  /** A slab nobody holds any more: kept for reuse unless it is still being filled. */
  recycle(slab: Slab): void {
    if (slab === this.current || slab.holds !== 0 || slab.spare || this.spare.length >= SPARE_SLABS) return;
    slab.spare = true;
    this.spare.push(slab);
  }

  private next(): void {
    const full = this.current;
    const spare = this.spare.pop();
    if (spare !== undefined) {
      spare.spare = false;
      this.reused++;
    }
    this.current = spare ?? new Slab(this);
    this.used = 0;
    this.recycle(full); // nothing queued in it (no subscriber, or all written): reuse at once
  }
}

/** Read once: the `performance.timeOrigin` getter is costly on a per-message path. */
const TIME_ORIGIN_MS = performance.timeOrigin;

/** Wall clock in µs since the epoch, with sub-ms resolution from the monotonic clock. */
export function nowUs(): number {
  return (TIME_ORIGIN_MS + performance.now()) * 1000;
}

export const PING_FRAME: Buffer = Buffer.from([0]);
