#!/usr/bin/env -S MALLOC_TRIM_THRESHOLD_=268435456 MALLOC_MMAP_THRESHOLD_=33554432 node --max-semi-space-size=1 --single-threaded-gc
// The runtime settings psrtd ships with (docs/performance.md, "Runtime settings"); the bench
// reads them from this line, so what it measures is what runs:
// - a 1 MB young generation (semi-space): psrtd leaves almost no garbage per message, so young
//   collections would otherwise be rare, and the socket read buffers they free pile up as RSS;
// - garbage collection on the main thread: psrtd is one thread, and V8's helper threads for
//   parallel scavenges and concurrent marking competed with it (1 MB messages ~1.4x as fast);
// - glibc keeps freed heap memory instead of returning it to the kernel after every large
//   message: on machines where a page fault is expensive (VMs), re-faulting the socket read
//   buffers of a 1 MB message cost more than reading it.
// `node bin/psrtd.js` runs with V8's and glibc's defaults.
import { missingBuildOrDependency } from './launcher-errors.js';

try {
  // First, alone: its SIGHUP handler is in place while psrtd's modules load (most of start-up),
  // so a `systemctl reload` then is applied once the server is up instead of ending it.
  await import('../dist/src/bin/early-signals.js');
  await import('../dist/src/bin/psrtd.js');
} catch (err) {
  const why = missingBuildOrDependency(err);
  if (why === null) throw err;
  process.stderr.write(`psrtd: ${why}\n`);
  process.exit(1);
}
