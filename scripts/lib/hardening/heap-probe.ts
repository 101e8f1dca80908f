/**
 * Preloaded into a spawned psrtd with NODE_OPTIONS="--expose-gc --import <this file>" (see
 * proc.ts): on SIGUSR2 it runs a full garbage collection and prints one line with the heap
 * and RSS, so tests compare live memory instead of RSS (which V8 rarely gives back). Nothing in
 * psrtd itself changes.
 */
import { writeSync } from 'node:fs';

interface GcHost {
  gc?: () => void;
}

process.on('SIGUSR2', () => {
  const host = globalThis as GcHost;
  host.gc?.();
  host.gc?.(); // the second pass frees what the first one's finalizers released
  const m = process.memoryUsage();
  // Synchronous and on stderr: stdout may be the thing under test (EPIPE, full disk).
  try {
    writeSync(2, `HEAP-PROBE heapUsed=${m.heapUsed} external=${m.external} arrayBuffers=${m.arrayBuffers} rss=${m.rss}\n`);
  } catch {
    /* stderr gone: the probe's caller times out and says so */
  }
});
