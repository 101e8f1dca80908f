/**
 * How long a data channel held its publishers back over a sliding window: the measure behind
 * the slow-reader policy (see DataChannel). `start`/`stop` are called once per congestion
 * episode (publishers begin / stop waiting), never per message; the window is kept in
 * HOLD_BUCKETS buckets, rolled by a timer that runs only while the channel held someone within
 * the window (or its owner asks for ticks).
 */

/** Buckets of the window (the timer ticks once per bucket). */
const HOLD_BUCKETS = 5;

export interface HoldMeterOwner {
  /** Held more than the allowed share of the window. */
  tooSlow(heldMs: number, windowMs: number): void;
  /** A tick within the allowed share; true while the owner still wants ticks. */
  calmTick(): boolean;
  /** The window is empty and the timer has stopped: the meter holds nothing to remember. */
  meterStopped(): void;
}

export class HoldMeter {
  private heldSince = -1;
  private heldMs = 0;
  private readonly buckets = new Float64Array(HOLD_BUCKETS);
  private bucket = 0;
  private timer: NodeJS.Timeout | null = null;

  /** `windowMs` 0: never measures (no timer, tooSlow never called). */
  constructor(
    private readonly windowMs: number,
    private readonly maxHold: number,
    private readonly owner: HoldMeterOwner,
  ) {}

  /** No timer and nobody held: nothing is measured until the next start(). */
  get idle(): boolean {
    return this.timer === null && this.heldSince < 0;
  }

  /** Publishers start waiting. */
  start(): void {
    this.heldSince = performance.now();
    if (this.timer === null && this.windowMs > 0) {
      this.timer = setInterval(() => {
        this.tick();
      }, this.windowMs / HOLD_BUCKETS);
      this.timer.unref();
    }
  }

  /** Publishers released. */
  stop(): void {
    if (this.heldSince < 0) return;
    this.heldMs += performance.now() - this.heldSince;
    this.heldSince = -1;
  }

  /** Forgets the window (after the owner acted on it). */
  reset(): void {
    this.buckets.fill(0);
    this.heldMs = 0;
  }

  close(): void {
    if (this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  private tick(): void {
    const now = performance.now();
    let held = this.heldMs;
    this.heldMs = 0;
    if (this.heldSince >= 0) {
      held += now - this.heldSince;
      this.heldSince = now;
    }
    this.buckets[this.bucket] = held;
    this.bucket = (this.bucket + 1) % HOLD_BUCKETS;
    let total = 0;
    for (const b of this.buckets) total += b;
    if (total > this.maxHold * this.windowMs) this.owner.tooSlow(total, this.windowMs);
    else if (!this.owner.calmTick() && total === 0 && this.heldSince < 0) {
      this.close();
      this.owner.meterStopped();
    }
  }
}
