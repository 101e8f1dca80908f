/**
 * Resource readings of a spawned psrtd: open file descriptors and RSS from /proc, live heap
 * from the SIGUSR2 heap probe (heap-probe.ts), and a wait for them to settle back.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Psrtd } from '../../../test/helpers/psrtd.js';

const PROBE = join(dirname(fileURLToPath(import.meta.url)), 'heap-probe.js');

/** Environment for startPsrtd({ env }) that enables the heap probe. */
export function heapProbeEnv(): Record<string, string> {
  const inherited = process.env.NODE_OPTIONS ?? '';
  return { NODE_OPTIONS: `${inherited} --expose-gc --import ${PROBE}`.trim() };
}

export function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

export function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

export interface HeapReading {
  /** V8 heap in use after a full GC, bytes. */
  readonly heapUsed: number;
  /** Buffers and other memory outside the V8 heap, bytes. */
  readonly external: number;
  readonly rss: number;
}

/** Sends SIGUSR2 and reads the probe's next line (the server must run with heapProbeEnv()). */
export async function heapProbe(server: Psrtd, timeoutMs = 10_000): Promise<HeapReading> {
  const from = server.output.length;
  server.proc.kill('SIGUSR2');
  const t0 = performance.now();
  for (;;) {
    const line = server.output.slice(from).find((l) => l.startsWith('HEAP-PROBE '));
    if (line !== undefined) {
      const field = (name: string): number => Number(new RegExp(`${name}=(\\d+)`).exec(line)?.[1] ?? NaN);
      return { heapUsed: field('heapUsed'), external: field('external'), rss: field('rss') };
    }
    if (performance.now() - t0 > timeoutMs) throw new Error('no HEAP-PROBE line: is the server running with heapProbeEnv()?');
    await sleep(20);
  }
}

export interface Snapshot {
  readonly fds: number;
  readonly heap: HeapReading;
}

export async function snapshot(server: Psrtd): Promise<Snapshot> {
  const pid = server.proc.pid ?? 0;
  return { fds: fdCount(pid), heap: await heapProbe(server) };
}

/**
 * Polls until the open fd count is back within `fdTolerance` of the baseline (connections
 * the server closes on a timeout need up to T) and returns the last snapshot either way.
 */
export async function settle(server: Psrtd, baseline: Snapshot, fdTolerance: number, timeoutMs: number): Promise<Snapshot> {
  const pid = server.proc.pid ?? 0;
  const t0 = performance.now();
  while (fdCount(pid) > baseline.fds + fdTolerance && performance.now() - t0 < timeoutMs) await sleep(100);
  return snapshot(server);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Samples RSS every `everyMs` until stopped; returns the peak in MB. */
export function rssSampler(pid: number, everyMs = 100): { stop(): number } {
  let peak = rssMb(pid);
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, rssMb(pid));
    } catch {
      /* the process is gone; the test notices on its own */
    }
  }, everyMs);
  return {
    stop: () => {
      clearInterval(timer);
      return peak;
    },
  };
}

export function mb(bytes: number): string {
  return (bytes / 1048576).toFixed(1);
}

export interface ClientCounts {
  readonly clients: number;
  readonly subscriptions: number;
}

/**
 * Sessions and subscriptions from `/status` (server.bind_stats must be set and `_` admin). A
 * fresh connection that is closed at once: a kept-alive one would itself count as an fd.
 */
export function clientCounts(server: Psrtd): Promise<ClientCounts> {
  const port = server.statsPort;
  if (port === null) return Promise.reject(new Error('psrtd runs without bind_stats'));
  return new Promise((resolve, reject) => {
    const req = httpGet({ host: '127.0.0.1', port, path: '/status', agent: false, headers: { connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => {
        try {
          const parsed = JSON.parse(body) as { clients: { client_count: number; subscription_count: number } };
          resolve({ clients: parsed.clients.client_count, subscriptions: parsed.clients.subscription_count });
        } catch (e) {
          reject(e instanceof Error ? e : new Error(String(e)));
        }
      });
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('/status timed out')));
  });
}
