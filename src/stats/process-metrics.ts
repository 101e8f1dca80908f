/**
 * Process metrics for /metrics, sampled only when scraped. The event-loop delay histogram is the
 * one thing that must run continuously (a libuv timer); it is started by the first scrape, so
 * a psrtd nobody scrapes pays nothing for it.
 */
import { readdir } from 'node:fs/promises';
import { monitorEventLoopDelay, performance, type EventLoopUtilization, type IntervalHistogram } from 'node:perf_hooks';

export interface ProcessSample {
  readonly cpuUserSeconds: number;
  readonly cpuSystemSeconds: number;
  readonly residentBytes: number;
  readonly heapUsedBytes: number;
  readonly heapTotalBytes: number;
  readonly externalBytes: number;
  readonly startTimeSeconds: number;
  /** null where /proc is not available. */
  readonly openFds: number | null;
  /** Event-loop delay since the previous scrape (seconds); null on the first scrape. */
  readonly loopDelay: { readonly mean: number; readonly max: number; readonly p50: number; readonly p99: number } | null;
  /** Share of time the loop was busy since the previous scrape (since start on the first). */
  readonly loopUtilization: number;
  /** Busy seconds since process start (a counter: rate() of it is the utilisation). */
  readonly loopActiveSeconds: number;
}

const NS_PER_S = 1e9;
/** 20 ms: fine enough to see stalls that matter for a latency-oriented broker, cheap enough. */
const DELAY_RESOLUTION_MS = 20;
const DELAY_RESOLUTION_NS = DELAY_RESOLUTION_MS * 1e6;

async function countOpenFds(): Promise<number | null> {
  try {
    return (await readdir('/proc/self/fd')).length - 1; // minus the fd readdir itself holds
  } catch {
    return null;
  }
}

export class ProcessMetrics {
  private delay: IntervalHistogram | null = null;
  private lastElu: EventLoopUtilization | null = null;

  async sample(): Promise<ProcessSample> {
    const cpu = process.cpuUsage();
    const mem = process.memoryUsage();
    const elu = performance.eventLoopUtilization();
    const since = this.lastElu === null ? elu : performance.eventLoopUtilization(elu, this.lastElu);
    this.lastElu = elu;
    const openFds = await countOpenFds();
    return {
      cpuUserSeconds: cpu.user / 1e6,
      cpuSystemSeconds: cpu.system / 1e6,
      residentBytes: mem.rss,
      heapUsedBytes: mem.heapUsed,
      heapTotalBytes: mem.heapTotal,
      externalBytes: mem.external,
      startTimeSeconds: Math.floor(performance.timeOrigin / 1000),
      openFds,
      loopDelay: this.takeDelay(),
      loopUtilization: since.utilization,
      loopActiveSeconds: elu.active / 1000,
    };
  }

  /** Stops the delay monitor (server stop). */
  stop(): void {
    this.delay?.disable();
    this.delay = null;
  }

  private takeDelay(): ProcessSample['loopDelay'] {
    const h = this.delay;
    if (h === null) {
      this.delay = monitorEventLoopDelay({ resolution: DELAY_RESOLUTION_MS });
      this.delay.enable();
      return null;
    }
    // The histogram records whole timer intervals; the lag is what exceeds the resolution.
    const lag = (ns: number): number => (Number.isFinite(ns) ? Math.max(0, ns - DELAY_RESOLUTION_NS) / NS_PER_S : 0);
    const s = { mean: lag(h.mean), max: lag(h.max), p50: lag(h.percentile(50)), p99: lag(h.percentile(99)) };
    h.reset();
    return s;
  }
}
