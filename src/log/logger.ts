/**
 * Server logging (SERVER.md §2.2): a stdout logger in the reference's exact line format, or
 * syslog through util-linux `logger`, plus a null logger and an in-memory logger for tests.
 *
 * Level filtering happens before any formatting so a disabled `trace` costs one comparison;
 * callers that build expensive messages should also guard with `enabled()`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { escapeLogLine } from '../protocol/log-escape.js';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug' | 'trace';

export interface Logger {
  error(msg: string): void;
  warn(msg: string): void;
  info(msg: string): void;
  debug(msg: string): void;
  trace(msg: string): void;
  enabled(level: LogLevel): boolean;
}

export interface LoggerOptions {
  /** `-v`: everything down to trace (otherwise info and above). */
  verbose: boolean;
  /** Log to syslog (falls back to the stream when syslog is not reachable). */
  syslog: boolean;
  /** Destination of the stdout logger (default `process.stdout`). */
  stream?: NodeJS.WritableStream;
  /** Force colours on/off; default: only when the stream is a TTY. */
  colors?: boolean;
  /** Include the timestamp; default: unless `INVOCATION_ID` is set (systemd adds its own). */
  timestamps?: boolean;
  /** Syslog socket whose existence is required (default `/dev/log`). */
  syslogSocket?: string;
  /** Syslog helper command (default `logger`, looked up on PATH). */
  syslogCommand?: string;
}

/** Lower number = more severe. A level is enabled when its rank ≤ the threshold. */
const RANK: Readonly<Record<LogLevel, number>> = { error: 0, warn: 1, info: 2, debug: 3, trace: 4 };

/** ANSI styles of the reference's `colored` calls; info stays plain. */
const COLOR: Readonly<Record<LogLevel, string>> = {
  trace: '\x1b[2;30m',
  debug: '\x1b[2m',
  info: '',
  warn: '\x1b[1;33m',
  error: '\x1b[31m',
};
const RESET = '\x1b[0m';

/** Syslog severities (RFC 5424 numbering), facility USER (1). */
const SYSLOG_SEVERITY: Readonly<Record<LogLevel, number>> = {
  error: 3,
  warn: 4,
  info: 6,
  debug: 7,
  trace: 7,
};
const FACILITY_USER = 1;

type Sink = (level: LogLevel, msg: string) => void;

/**
 * Longest line written: callers shorten client text (escapeForLog), this bounds the rest. Lines
 * are also stripped of control characters here, so a caller that forgot to escape a login name
 * or topic still cannot forge a line or send terminal escapes to whoever reads the log.
 */
const MAX_LINE_CHARS = 8192;

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** Local time, RFC 3339, seconds precision, numeric offset (`+00:00`, never `Z`). */
export function formatTimestamp(d: Date): string {
  const offsetMin = -d.getTimezoneOffset();
  const sign = offsetMin < 0 ? '-' : '+';
  const abs = Math.abs(offsetMin);
  return (
    `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}` +
    `T${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}` +
    `${sign}${pad2(Math.floor(abs / 60))}:${pad2(abs % 60)}`
  );
}

/** Formatting a Date per line is measurable under trace floods; the string changes once a second. */
function timestampCache(): () => string {
  let second = Number.NaN;
  let text = '';
  return () => {
    const now = Date.now();
    const s = Math.floor(now / 1000);
    if (s !== second) {
      second = s;
      text = formatTimestamp(new Date(now));
    }
    return text;
  };
}

/**
 * A failed write (EPIPE: the reader of our stdout went away, e.g. journald restarted or a shell
 * pipe closed; ENOSPC: stdout redirected to a full disk) must never take the server down: the
 * stream reports it as an 'error' event, which would otherwise be an uncaught exception. A
 * failed stream is destroyed by Node, so from then on lines are dropped.
 */
function streamSink(stream: NodeJS.WritableStream, colors: boolean, timestamps: boolean, batched: boolean): Sink {
  const stamp = timestampCache();
  let failed = false;
  stream.on('error', () => {
    failed = true;
  });
  const write = (text: string): void => {
    try {
      stream.write(text);
    } catch {
      failed = true; // a synchronous file stream may throw instead of emitting
    }
  };
  const out = batched ? batchedWriter(write) : write;
  return (level, msg) => {
    if (failed) return;
    const safe = escapeLogLine(msg, MAX_LINE_CHARS);
    const line = timestamps ? `${stamp()}  ${safe}` : safe;
    const color = colors ? COLOR[level] : '';
    out(color === '' ? `${line}\n` : `${color}${line}${RESET}\n`);
  };
}

/**
 * Lines go out together, in one write at most every FLUSH_MS (or at once when FLUSH_BYTES are
 * pending): stdout is a pipe or the journal's socket, written synchronously, and a reconnect
 * storm logs four lines per PSRT session; one write per event-loop turn still cost 20–30 µs of
 * the 200–260 µs a new PSRT session costs the server. Pending lines are flushed at exit too (an
 * uncaught exception or process.exit included), so nothing is held longer than FLUSH_MS.
 */
const FLUSH_MS = 20;
const FLUSH_BYTES = 64 * 1024;

function batchedWriter(write: (text: string) => void): (text: string) => void {
  let pending = '';
  let timer: NodeJS.Timeout | null = null;
  const flush = (): void => {
    if (timer !== null) clearTimeout(timer);
    timer = null;
    if (pending === '') return;
    const text = pending;
    pending = '';
    write(text);
  };
  process.once('exit', flush);
  return (text) => {
    pending += text;
    if (pending.length >= FLUSH_BYTES) flush();
    // Unref'd: a pending line never keeps the process alive ('exit' writes it).
    else timer ??= setTimeout(flush, FLUSH_MS).unref();
  };
}

function isTty(stream: NodeJS.WritableStream): boolean {
  return (stream as { isTTY?: boolean }).isTTY === true;
}

function findOnPath(cmd: string): string | undefined {
  if (cmd.includes('/')) return existsSync(cmd) ? cmd : undefined;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const full = join(dir, cmd);
    if (existsSync(full)) return full;
  }
  return undefined;
}

/**
 * Node cannot send datagrams to /dev/log, so lines go to a long-lived `logger` child reading
 * stdin; `--prio-prefix` lets every line carry its own severity. Returns the reason when
 * syslog cannot be used.
 */
function syslogSink(socket: string, command: string, onFail: (why: string) => void): Sink | string {
  if (!existsSync(socket)) return `${socket} does not exist`;
  const exe = findOnPath(command);
  if (exe === undefined) return `${command} not found on PATH`;
  let child: ChildProcess | undefined = spawn(
    exe,
    ['-t', 'psrtd', `--id=${process.pid}`, '--rfc3164', '--prio-prefix', '-u', socket],
    { stdio: ['pipe', 'ignore', 'ignore'] },
  );
  const fail = (why: string): void => {
    if (child === undefined) return;
    child = undefined;
    onFail(why);
  };
  child.on('error', (e) => {
    fail(e.message);
  });
  child.on('exit', (code, signal) => {
    fail(`${command} exited (${signal ?? String(code)})`);
  });
  child.stdin?.on('error', (e) => {
    fail(e.message);
  });
  // The helper must not keep the process alive on its own (tests, CLI exits).
  child.unref();
  (child.stdin as { unref?: () => void } | null)?.unref?.();
  return (level, msg) => {
    const prio = FACILITY_USER * 8 + SYSLOG_SEVERITY[level];
    // One syslog record per message: newlines and other controls are escaped.
    child?.stdin?.write(`<${prio}>${escapeLogLine(msg, MAX_LINE_CHARS)}\n`);
  };
}

function makeLogger(threshold: number, sink: () => Sink): Logger {
  const log = (level: LogLevel, msg: string): void => {
    if (RANK[level] <= threshold) sink()(level, msg);
  };
  return {
    error: (msg) => {
      log('error', msg);
    },
    warn: (msg) => {
      log('warn', msg);
    },
    info: (msg) => {
      log('info', msg);
    },
    debug: (msg) => {
      log('debug', msg);
    },
    trace: (msg) => {
      log('trace', msg);
    },
    enabled: (level) => RANK[level] <= threshold,
  };
}

export function createLogger(opts: LoggerOptions): Logger {
  const stream = opts.stream ?? process.stdout;
  const colors = opts.colors ?? isTty(stream);
  const timestamps = opts.timestamps ?? process.env.INVOCATION_ID === undefined;
  const threshold = opts.verbose ? RANK.trace : RANK.info;
  // Only the process's own stdout is batched: a given stream (tests) sees each line at once.
  const stdout = streamSink(stream, colors, timestamps, opts.stream === undefined);
  if (!opts.syslog) return makeLogger(threshold, () => stdout);

  let current: Sink = stdout;
  const fallBack = (why: string): void => {
    current = stdout;
    stdout('error', `syslog is not reachable (${why}), logging to stdout`);
  };
  const sys = syslogSink(opts.syslogSocket ?? '/dev/log', opts.syslogCommand ?? 'logger', fallBack);
  if (typeof sys === 'string') fallBack(sys);
  else current = sys;
  return makeLogger(threshold, () => current);
}

/** Discards everything; `enabled` is false so callers skip building messages. */
export const nullLogger: Logger = {
  error: () => undefined,
  warn: () => undefined,
  info: () => undefined,
  debug: () => undefined,
  trace: () => undefined,
  enabled: () => false,
};

export interface LogRecord {
  readonly level: LogLevel;
  readonly msg: string;
}

export interface MemoryLogger extends Logger {
  /** Every recorded line, oldest first. */
  readonly records: LogRecord[];
  /** Messages, optionally only those of one level. */
  messages(level?: LogLevel): string[];
  clear(): void;
}

/** Records lines at `level` and above (default: everything) for assertions in tests. */
export function createMemoryLogger(level: LogLevel = 'trace'): MemoryLogger {
  const records: LogRecord[] = [];
  const threshold = RANK[level];
  const sink: Sink = (lvl, msg) => {
    records.push({ level: lvl, msg });
  };
  const base = makeLogger(threshold, () => sink);
  return {
    ...base,
    records,
    messages: (lvl) => records.filter((r) => lvl === undefined || r.level === lvl).map((r) => r.msg),
    clear: () => {
      records.length = 0;
    },
  };
}
