import type { ChunkedPublish } from '../protocol/control.js';
import { encodeDataFrameHead } from '../protocol/encode.js';

/** One accepted message, encoded once and shared by every subscriber queue it is put on. */
export interface Delivery {
  /**
   * The complete data-socket frame `01 prio LEN topic 00 payload`: one buffer, or for a large
   * message its pieces in order (the socket reads it arrived in, see ChunkedPublish).
   */
  readonly frame: Buffer | readonly Buffer[];
  /** Length of the frame in bytes. */
  readonly bytes: number;
  /** Wall-clock time the publish started, in µs since the Unix epoch (for latency stats). */
  readonly timestampUs: number;
  /** Normalised topic (only read when a latency warning is logged). */
  readonly topic: string;
}

export function delivery(frame: Buffer, timestampUs: number, topic: string): Delivery {
  return { frame, bytes: frame.length, timestampUs, topic };
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
  timestampUs: number,
): Delivery {
  const head = topicAsSent ? chunked.head : encodeDataFrameHead(priority, topic, chunked.payloadLength);
  const frame = [head, ...chunked.payload];
  return { frame, bytes: head.length + chunked.payloadLength, timestampUs, topic };
}

/** Read once: the `performance.timeOrigin` getter is costly on a per-message path. */
const TIME_ORIGIN_MS = performance.timeOrigin;

/** Wall clock in µs since the epoch, with sub-ms resolution from the monotonic clock. */
export function nowUs(): number {
  return (TIME_ORIGIN_MS + performance.now()) * 1000;
}

export const PING_FRAME: Buffer = Buffer.from([0]);
