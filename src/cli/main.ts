/** Process entry of psrt-cli (bin/psrt-cli.js imports this module). */
import { run } from './run.js';

// `psrt-cli ... | head` closes stdout early: that is a normal way to stop, not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});
// `psrt-cli ... 2>&1 | head` closes stderr too: a later log line (e.g. a reconnect notice) must
// not crash the process. Logs are dropped; the exit status stays the one of the run.
process.stderr.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
});

const code = await run(process.argv.slice(2));
// Let stdout drain (it is asynchronous for TTYs on some platforms), then leave even if a
// stray handle (e.g. a half-closed socket) is still around.
process.stdout.write('', () => process.exit(code));
