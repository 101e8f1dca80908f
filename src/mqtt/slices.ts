/**
 * The filters of one SUBSCRIBE/UNSUBSCRIBE worked off a slice per event-loop turn. A packet may
 * carry up to server.max_topics_per_subscribe (10,000) filters; subscribing them in one go
 * stalled every other client for tens of milliseconds (8 pipelined packets: ~200 ms). Meanwhile
 * the connection reads no further packet, so the SUBACK and everything after it keep their
 * order; matching messages may arrive before the SUBACK, which both MQTT versions permit.
 */

/** Filters per turn at most: about a millisecond of index work. */
export const FILTERS_PER_TURN = 256;
/**
 * A slice also ends after this long (the clock is read every 16 filters): a filter may cost far
 * more than the index insert (a wildcard is matched against every retained message).
 */
export const SLICE_BUDGET_MS = 2;

/** What the slicing needs of the connection (src/mqtt/connection.ts). */
export interface SliceHost {
  /** Read no further packet until release(). */
  hold(): void;
  release(): void;
  /** False once the work is pointless (connection closing, session ended): it stops. */
  live(): boolean;
  /** A filter threw (a protocol error) in a later slice: the connection fails. */
  fail(e: unknown): void;
}

export interface SliceLimits {
  readonly perTurn: number;
  readonly budgetMs: number;
}

const DEFAULT_LIMITS: SliceLimits = { perTurn: FILTERS_PER_TURN, budgetMs: SLICE_BUDGET_MS };

/**
 * Calls `each(i)` for i = 0 … count − 1 in order, then `finish()`. The first slice runs now (a
 * small packet is done at once, and its errors reach the caller); the rest run one per turn
 * while `host` is held.
 */
export function workInSlices(count: number, each: (i: number) => void, finish: () => void, host: SliceHost, limits = DEFAULT_LIMITS): void {
  let next = 0;
  const slice = (): boolean => {
    const end = Math.min(count, next + limits.perTurn);
    const deadline = performance.now() + limits.budgetMs;
    while (next < end) {
      each(next++);
      if ((next & 15) === 0 && performance.now() > deadline) break;
    }
    return next >= count;
  };
  if (slice()) {
    finish();
    return;
  }
  host.hold();
  const step = (): void => {
    if (!host.live()) {
      host.release();
      return;
    }
    try {
      if (!slice()) {
        setImmediate(step);
        return;
      }
      finish();
    } catch (e) {
      host.fail(e);
    }
    host.release();
  };
  setImmediate(step);
}
