/**
 * Mosquitto's `$SYS/broker/load/.../1min|5min|15min` figures: the per-minute rate of a counter,
 * as exponentially weighted moving averages with time constants of 1, 5 and 15 minutes (the
 * way Unix load averages are smoothed), computed exactly as Mosquitto does at each update.
 */

/** Topic suffix and time constant in seconds. */
export const LOAD_WINDOWS = [
  ['1min', 60],
  ['5min', 300],
  ['15min', 900],
] as const;

export class LoadAverage {
  /** One average per LOAD_WINDOWS entry, in events per minute. */
  readonly averages: number[] = LOAD_WINDOWS.map(() => 0);
  private previous: number;

  /** `start`: the counter now; the averages start at 0 (no rate is known yet). */
  constructor(start: number) {
    this.previous = start;
  }

  /**
   * Folds in the counter's growth over the last `seconds`: its rate r (per minute) moves each
   * average a towards itself, a' = r + e^(-seconds / T) × (a − r).
   */
  update(counter: number, seconds: number): void {
    if (!(seconds > 0)) return;
    const perMinute = (Math.max(0, counter - this.previous) * 60) / seconds;
    this.previous = counter;
    for (const [i, [, constant]] of LOAD_WINDOWS.entries()) {
      const average = this.averages[i] ?? 0;
      this.averages[i] = perMinute + Math.exp(-seconds / constant) * (average - perMinute);
    }
  }
}
