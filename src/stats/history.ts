/**
 * The last minutes of the counters, sampled once a second into a fixed ring, so the stats page
 * draws its charts at once on load instead of starting empty. One timer (unref'd) while the
 * stats server runs; it copies eight numbers a second and allocates nothing per sample.
 */
import type { BrokerStats } from '../broker/broker.js';

/** Counter fields of a sample, in ring order (`/history` uses these names). */
export const HISTORY_FIELDS = [
  'c_sub_ops',
  'c_pub_messages',
  'c_pub_bytes',
  'c_sent_messages',
  'c_sent_bytes',
  'c_sent_latency',
] as const;
const WIDTH = 2 + HISTORY_FIELDS.length; // time µs, CPU µs, counters

export const HISTORY_SECONDS = 300;

export class CounterHistory {
  private readonly ring: Float64Array;
  private next = 0;
  private filled = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly broker: BrokerStats,
    readonly capacity = HISTORY_SECONDS + 1,
    intervalMs = 1000,
  ) {
    this.ring = new Float64Array(capacity * WIDTH);
    this.sample();
    this.timer = setInterval(() => {
      this.sample();
    }, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Records the counters now (also called by tests). */
  sample(): void {
    const c = this.broker.counters;
    const cpu = process.cpuUsage();
    const at = this.next * WIDTH;
    const r = this.ring;
    r[at] = Date.now() * 1000;
    r[at + 1] = cpu.user + cpu.system;
    r[at + 2] = c.subOps;
    r[at + 3] = c.pubMessages;
    r[at + 4] = c.pubBytes;
    r[at + 5] = c.sentMessages;
    r[at + 6] = c.sentBytes;
    r[at + 7] = c.sentLatency;
    this.next = (this.next + 1) % this.capacity;
    this.filled = Math.min(this.filled + 1, this.capacity);
  }

  /** Samples oldest first: `{time (µs), counters}` like `/status`, which the page diffs alike. */
  samples(): { time: number; cpu_us: number; counters: Record<string, number> }[] {
    const out = [];
    for (let i = 0; i < this.filled; i++) {
      const at = ((this.next - this.filled + i + this.capacity) % this.capacity) * WIDTH;
      const counters: Record<string, number> = {};
      HISTORY_FIELDS.forEach((name, k) => {
        counters[name] = this.ring[at + 2 + k] ?? 0;
      });
      out.push({ time: this.ring[at] ?? 0, cpu_us: this.ring[at + 1] ?? 0, counters });
    }
    return out;
  }

  /** CPU share of one core over the last `seconds` of samples (0..n cores); null before two. */
  cpuShare(seconds = 5): number | null {
    const s = this.samples();
    const last = s.at(-1);
    const first = s.at(Math.max(0, s.length - 1 - seconds));
    if (last === undefined || first === undefined || last.time <= first.time) return null;
    return (last.cpu_us - first.cpu_us) / (last.time - first.time);
  }
}
