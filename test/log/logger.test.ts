import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, describe, it } from 'node:test';
import { createLogger, createMemoryLogger, formatTimestamp, nullLogger, type LoggerOptions } from '../../src/log/index.js';

const STAMPED = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2} {2}(.*)$/;

function capture(opts: Partial<LoggerOptions> = {}, stream: PassThrough = new PassThrough()) {
  const chunks: string[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c.toString('utf8')));
  const log = createLogger({ verbose: false, syslog: false, stream, ...opts });
  return { log, lines: () => chunks.join('').split('\n').filter((l) => l !== '') };
}

function setEnv(name: 'TZ' | 'INVOCATION_ID', value: string | undefined): void {
  if (value === undefined) Reflect.deleteProperty(process.env, name);
  else process.env[name] = value;
}

function withEnv<T>(name: 'TZ' | 'INVOCATION_ID', value: string | undefined, fn: () => T): T {
  const old = process.env[name];
  setEnv(name, value);
  try {
    return fn();
  } finally {
    setEnv(name, old);
  }
}

async function waitFor(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('formatTimestamp', () => {
  const instant = new Date(Date.UTC(2026, 0, 25, 21, 56, 23, 999));
  const cases: [string, string][] = [
    ['Europe/Prague', '2026-01-25T22:56:23+01:00'],
    ['UTC', '2026-01-25T21:56:23+00:00'],
    ['America/St_Johns', '2026-01-25T18:26:23-03:30'],
  ];
  for (const [tz, expected] of cases) {
    it(`renders local time with a numeric offset in ${tz}`, () => {
      assert.equal(withEnv('TZ', tz, () => formatTimestamp(instant)), expected);
    });
  }
});

describe('stdout logger', () => {
  it('prints timestamp, two spaces, message (no level label)', () => {
    const { log, lines } = withEnv('INVOCATION_ID', undefined, () => capture());
    log.info('binding TCP socket to: 0.0.0.0:2873');
    const [line] = lines();
    assert.ok(line !== undefined);
    const m = STAMPED.exec(line);
    assert.ok(m, line);
    assert.equal(m[1], 'binding TCP socket to: 0.0.0.0:2873');
  });

  it('omits the timestamp when INVOCATION_ID is set (systemd)', () => {
    const { log, lines } = withEnv('INVOCATION_ID', 'abc', () => capture());
    log.warn('queue is full');
    assert.deepEqual(lines(), ['queue is full']);
  });

  it('defaults to info: debug and trace are dropped', () => {
    const { log, lines } = capture({ timestamps: false });
    log.trace('t');
    log.debug('d');
    log.info('i');
    log.warn('w');
    log.error('e');
    assert.deepEqual(lines(), ['i', 'w', 'e']);
    assert.equal(log.enabled('info'), true);
    assert.equal(log.enabled('debug'), false);
    assert.equal(log.enabled('trace'), false);
  });

  it('logs everything down to trace when verbose', () => {
    const { log, lines } = capture({ timestamps: false, verbose: true });
    log.trace('t');
    log.debug('d');
    assert.deepEqual(lines(), ['t', 'd']);
    assert.equal(log.enabled('trace'), true);
  });

  it('uses no colours on a non-TTY stream', () => {
    const { log, lines } = capture({ timestamps: false });
    log.error('e');
    log.warn('w');
    assert.deepEqual(lines(), ['e', 'w']);
  });

  it('colours by level on a TTY: error red, warn bold yellow, debug/trace dim, info plain', () => {
    const tty = Object.assign(new PassThrough(), { isTTY: true });
    const { log, lines } = capture({ timestamps: false, verbose: true }, tty);
    log.error('e');
    log.warn('w');
    log.info('i');
    log.debug('d');
    log.trace('t');
    assert.deepEqual(lines(), [
      '\x1b[31me\x1b[0m',
      '\x1b[1;33mw\x1b[0m',
      'i',
      '\x1b[2md\x1b[0m',
      '\x1b[2;30mt\x1b[0m',
    ]);
  });

  it('honours colors: false on a TTY', () => {
    const tty = Object.assign(new PassThrough(), { isTTY: true });
    const { log, lines } = capture({ timestamps: false, colors: false }, tty);
    log.error('e');
    assert.deepEqual(lines(), ['e']);
  });
});

describe('process stdout logger (batched)', () => {
  // A child process logging to its own stdout: lines of a burst go out in one write within a
  // few ms, and lines still pending when the process exits are written, not lost.
  const script = `
    const { createLogger } = await import(${JSON.stringify(new URL('../../src/log/index.js', import.meta.url).href)});
    const log = createLogger({ verbose: false, syslog: false, timestamps: false });
    for (let i = 1; i <= 3; i++) log.info('burst ' + i);
    setTimeout(() => { log.info('last'); log.error('at exit'); process.exit(0); }, 200);
  `;

  it('writes a burst in one write and flushes pending lines at exit', async () => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const chunks: string[] = [];
    child.stdout.on('data', (c: Buffer) => chunks.push(c.toString('utf8')));
    const code = await new Promise<number | null>((r) => child.once('close', r));
    assert.equal(code, 0);
    assert.equal(chunks[0], 'burst 1\nburst 2\nburst 3\n');
    assert.deepEqual(chunks.join('').split('\n'), ['burst 1', 'burst 2', 'burst 3', 'last', 'at exit', '']);
  });
});

describe('syslog logger', () => {
  const dir = mkdtempSync(join(tmpdir(), 'psrt-log-'));
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('falls back to stdout with one error line when the socket is missing', () => {
    const { log, lines } = capture({ timestamps: false, syslog: true, syslogSocket: join(dir, 'no-such-log') });
    log.info('version: 0.3.6');
    assert.deepEqual(lines(), [
      `syslog is not reachable (${join(dir, 'no-such-log')} does not exist), logging to stdout`,
      'version: 0.3.6',
    ]);
  });

  it('falls back when the logger command is not on PATH', () => {
    const { log, lines } = capture({
      timestamps: false,
      syslog: true,
      syslogSocket: dir,
      syslogCommand: 'psrt-no-such-logger-command',
    });
    log.info('x');
    assert.deepEqual(lines(), ['syslog is not reachable (psrt-no-such-logger-command not found on PATH), logging to stdout', 'x']);
  });

  it('pipes lines with per-line priorities to `logger -t psrtd --id=<pid>`', async () => {
    const script = join(dir, 'fake-logger');
    writeFileSync(script, `#!/bin/sh\necho "$@" > "${script}.args"\nexec cat >> "${script}.out"\n`);
    chmodSync(script, 0o755);
    const { log, lines } = capture({ syslog: true, verbose: true, syslogSocket: script, syslogCommand: script });
    log.info('hello');
    log.error('bad\nthing');
    log.trace('t');
    const read = (suffix: string) => {
      try {
        return readFileSync(`${script}${suffix}`, 'utf8');
      } catch {
        return '';
      }
    };
    await waitFor(() => read('.out').includes('<15>t\n'), 'syslog output');
    assert.equal(read('.out'), '<14>hello\n<11>bad\\nthing\n<15>t\n'); // a newline in a message is escaped (log forging)
    assert.match(read('.args'), new RegExp(`-t psrtd --id=${process.pid} `));
    assert.deepEqual(lines(), []);
  });

  it('falls back to stdout when the logger process dies', async () => {
    const script = join(dir, 'dying-logger');
    writeFileSync(script, '#!/bin/sh\nexit 3\n');
    chmodSync(script, 0o755);
    const { log, lines } = capture({ timestamps: false, syslog: true, syslogSocket: script, syslogCommand: script });
    await waitFor(() => lines().length > 0, 'fallback line');
    assert.match(lines()[0] ?? '', /^syslog is not reachable \(.*exited \(3\)\), logging to stdout$/);
    log.info('after');
    assert.equal(lines().at(-1), 'after');
  });
});

describe('test loggers', () => {
  it('memory logger records level and message', () => {
    const log = createMemoryLogger();
    log.info('a');
    log.error('b');
    log.trace('c');
    assert.deepEqual(log.records, [
      { level: 'info', msg: 'a' },
      { level: 'error', msg: 'b' },
      { level: 'trace', msg: 'c' },
    ]);
    assert.deepEqual(log.messages('error'), ['b']);
    log.clear();
    assert.deepEqual(log.messages(), []);
  });

  it('memory logger can filter by level', () => {
    const log = createMemoryLogger('warn');
    log.info('a');
    log.warn('b');
    assert.deepEqual(log.messages(), ['b']);
    assert.equal(log.enabled('info'), false);
  });

  it('null logger discards and reports nothing enabled', () => {
    nullLogger.error('x');
    assert.equal(nullLogger.enabled('error'), false);
  });
});
