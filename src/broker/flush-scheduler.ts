/**
 * Batches socket writes: channels that received frames are marked dirty and flushed together
 * once per event-loop turn (setImmediate runs after the current I/O phase), so a burst of
 * publishes becomes one write per subscriber instead of one per message.
 *
 * A reader that handled only a few requests may ask for its marks to be flushed at once
 * instead (hold/release): at moderate rates a read holds one message, nothing else waits to be
 * batched with it, and the hop through the check phase only delays it. Flushes done that way
 * less than SYNC_GAP_MS apart fall back to the deferred flush, so many small reads arriving
 * together (fan-in under load) are still batched into one write per subscriber.
 */
export interface Flushable {
  dirty: boolean;
  flush(): void;
}

/** Minimum distance between two immediate flushes; closer reads are batched as before. */
const SYNC_GAP_MS = 0.05;

export class FlushScheduler {
  private pending: Flushable[] = [];
  private spare: Flushable[] = [];
  private scheduled = false;
  private held = 0;
  private flushing = false;
  private lastSync = -Infinity;
  private readonly run = (): void => {
    this.flushNow();
  };

  /** `syncGapMs`: see SYNC_GAP_MS (tests use a longer one). */
  constructor(private readonly syncGapMs = SYNC_GAP_MS) {}

  mark(target: Flushable): void {
    if (target.dirty) return;
    target.dirty = true;
    this.pending.push(target);
    if (!this.scheduled && this.held === 0) this.schedule();
  }

  /** Marks from now until the matching release() wait for release to decide when to flush. */
  hold(): void {
    this.held++;
  }

  /**
   * Ends a hold. `soon`: flush now if nothing else is scheduled, no flush is running and the
   * last immediate flush was at least the minimum gap ago; otherwise (or without `soon`) the marks
   * are flushed in this turn's check phase as usual.
   */
  release(soon: boolean): void {
    if (--this.held > 0 || this.pending.length === 0 || this.scheduled) return;
    if (soon && !this.flushing) {
      const now = performance.now();
      if (now - this.lastSync >= this.syncGapMs) {
        this.lastSync = now;
        this.flushNow();
        return;
      }
    }
    this.schedule();
  }

  flushNow(): void {
    this.scheduled = false;
    this.flushing = true;
    const batch = this.pending;
    this.pending = this.spare;
    try {
      for (const target of batch) {
        target.dirty = false;
        target.flush();
      }
    } finally {
      this.flushing = false;
      batch.length = 0;
      this.spare = batch;
    }
  }

  private schedule(): void {
    this.scheduled = true;
    setImmediate(this.run);
  }
}
