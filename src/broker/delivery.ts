/** One accepted message, encoded once and shared by every subscriber queue it is put on. */
export interface Delivery {
  /** The complete data-socket frame `01 prio LEN topic 00 payload`. */
  readonly frame: Buffer;
  /** Wall-clock time the publish started, in µs since the Unix epoch (for latency stats). */
  readonly timestampUs: number;
  /** Normalised topic (only read when a latency warning is logged). */
  readonly topic: string;
}

/** Read once: the `performance.timeOrigin` getter is costly on a per-message path. */
const TIME_ORIGIN_MS = performance.timeOrigin;

/** Wall clock in µs since the epoch, with sub-ms resolution from the monotonic clock. */
export function nowUs(): number {
  return (TIME_ORIGIN_MS + performance.now()) * 1000;
}

export const PING_FRAME: Buffer = Buffer.from([0]);
