/** psrt-cli: parse, dispatch to the mode, turn every failure into one line and an exit code. */
import { CommanderError } from 'commander';
import { parseArgs, type CliOptions } from './args.js';
import { runBenchmark } from './benchmark.js';
import { CliError, EXIT, runError } from './errors.js';
import { createCliLog } from './log.js';
import { runPublish } from './publish.js';
import type { CliIo } from './session.js';
import { runSubscribe } from './subscribe.js';
import { runTop } from './top.js';

function dispatch(o: CliOptions, io: CliIo): Promise<void> {
  switch (o.mode) {
    case 'benchmark':
      return runBenchmark(o, io);
    case 'top':
      return runTop(o, io);
    case 'publish':
      return runPublish(o, io);
    case 'subscribe':
      return runSubscribe(o, io);
  }
}

/** Runs the CLI; returns the exit status (documented in --help). */
export async function run(argv: readonly string[]): Promise<number> {
  let options: CliOptions;
  try {
    options = parseArgs(argv);
  } catch (err) {
    // commander has already printed its own message (or the help/version text).
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    if (err instanceof CliError) {
      process.stderr.write(`psrt-cli: ${err.message}\n`);
      return err.exitCode;
    }
    throw err;
  }
  const io: CliIo = {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    log: createCliLog(process.stderr, options.quiet),
  };
  if (options.tlsCa !== undefined && !options.tls) io.log.warn('--tls-ca has no effect without --tls');
  try {
    await dispatch(options, io);
    return EXIT.ok;
  } catch (err) {
    const e = runError(err);
    process.stderr.write(`psrt-cli: ${e.message}\n`);
    return e.exitCode;
  }
}
