/**
 * A small micro-benchmark harness (no dependency): warm-up, then repeated timed samples of a
 * function that performs `opsPerCall` operations per call. Reports the median rate and the
 * spread of the samples, so a regression shows as a shift larger than the spread.
 */

export interface MicroResult {
  readonly name: string;
  /** Median operations per second over the samples. */
  readonly opsPerSec: number;
  /** Median nanoseconds per operation. */
  readonly nsPerOp: number;
  /** (max - min) / median of the sample rates, %. */
  readonly spreadPct: number;
  readonly samples: number;
}

export interface HarnessOptions {
  readonly warmupMs: number;
  readonly sampleMs: number;
  readonly samples: number;
}

export const FULL: HarnessOptions = { warmupMs: 300, sampleMs: 200, samples: 10 };
export const QUICK: HarnessOptions = { warmupMs: 100, sampleMs: 100, samples: 5 };

/** Calls `fn` until `ms` elapsed (checking the clock every `batch` calls); returns ops/s. */
function rate(fn: () => void, opsPerCall: number, ms: number, batch: number): number {
  let calls = 0;
  const start = performance.now();
  let elapsed = 0;
  // Bounded: at most 10^7 batches even if the clock stalled.
  for (let guard = 0; elapsed < ms && guard < 10_000_000; guard++) {
    for (let i = 0; i < batch; i++) fn();
    calls += batch;
    elapsed = performance.now() - start;
  }
  return ((calls * opsPerCall) / elapsed) * 1000;
}

/** Picks a batch size so one clock check covers roughly 1 ms of work. */
function calibrate(fn: () => void): number {
  let batch = 1;
  for (let i = 0; i < 20; i++) {
    const t = performance.now();
    for (let j = 0; j < batch; j++) fn();
    if (performance.now() - t >= 1) break;
    batch *= 2;
  }
  return batch;
}

export function measure(name: string, fn: () => void, opsPerCall: number, o: HarnessOptions): MicroResult {
  const batch = calibrate(fn);
  rate(fn, opsPerCall, o.warmupMs, batch);
  const rates: number[] = [];
  for (let i = 0; i < o.samples; i++) rates.push(rate(fn, opsPerCall, o.sampleMs, batch));
  rates.sort((a, b) => a - b);
  const med = rates[Math.floor(rates.length / 2)] ?? NaN;
  const spread = ((rates[rates.length - 1] ?? NaN) - (rates[0] ?? NaN)) / med;
  return { name, opsPerSec: med, nsPerOp: 1e9 / med, spreadPct: spread * 100, samples: rates.length };
}

export function formatMicro(rs: readonly MicroResult[]): string {
  const w = Math.max(...rs.map((r) => r.name.length));
  const lines = rs.map(
    (r) =>
      `${r.name.padEnd(w)} | ${Math.round(r.opsPerSec).toLocaleString('en-US').padStart(13)} ops/s | ` +
      `${r.nsPerOp.toFixed(1).padStart(9)} ns/op | ±${(r.spreadPct / 2).toFixed(1).padStart(5)} %`,
  );
  return [`${'benchmark'.padEnd(w)} | ${'median'.padStart(19)} | ${'per op'.padStart(15)} | spread`, ...lines].join('\n');
}
