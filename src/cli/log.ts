/**
 * CLI log lines. They go to stderr (the reference writes them to stdout): stdout carries only
 * messages and tables so that it can be piped. Format after env_logger, which the reference
 * uses: `[2026-01-01T10:00:00Z INFO  psrt_cli] Listening to test/#...`.
 */
export interface CliLog {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

export function createCliLog(stream: NodeJS.WritableStream, quiet = false): CliLog {
  const write = (level: string, msg: string): void => {
    const time = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    stream.write(`[${time} ${level.padEnd(5)} psrt_cli] ${msg}\n`);
  };
  return {
    info: (m) => {
      if (!quiet) write('INFO', m);
    },
    warn: (m) => {
      write('WARN', m);
    },
    error: (m) => {
      write('ERROR', m);
    },
  };
}
