/** The repeated-line rate limit without a server: a fake clock runs the window timers by hand. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LOG_LIMIT_WINDOW_MS, LogLimiter, type LimiterClock } from '../../src/broker/log-limiter.js';
import type { BrokerLogger } from '../../src/broker/ports.js';

class FakeClock implements LimiterClock {
  t = 0;
  private timers: { at: number; fn: () => void; live: boolean }[] = [];
  now(): number {
    return this.t;
  }
  schedule(fn: () => void, ms: number): () => void {
    const timer = { at: this.t + ms, fn, live: true };
    this.timers.push(timer);
    return () => {
      timer.live = false;
    };
  }
  get pending(): number {
    return this.timers.filter((x) => x.live).length;
  }
  advance(ms: number): void {
    this.t += ms;
    for (;;) {
      const due = this.timers.find((x) => x.live && x.at <= this.t);
      if (due === undefined) return;
      due.live = false;
      due.fn();
    }
  }
}

function recorder(): { log: BrokerLogger; lines: string[] } {
  const lines: string[] = [];
  const rec = (level: string) => (msg: string): void => {
    lines.push(`${level} ${msg}`);
  };
  return {
    lines,
    log: { error: rec('error'), warn: rec('warn'), info: rec('info'), debug: rec('debug'), trace: rec('trace'), enabled: () => true },
  };
}

describe('LogLimiter', () => {
  test('the first line passes, the rest of the second are summed in one line, then no timer', () => {
    const clock = new FakeClock();
    const { log, lines } = recorder();
    const denied = new LogLimiter(log, clock).line('pub access deneid');
    assert.equal(denied.admit(), true);
    for (let i = 0; i < 4999; i++) assert.equal(denied.admit(), false);
    assert.equal(denied.pending, 4999);
    assert.deepEqual(lines, []);
    clock.advance(LOG_LIMIT_WINDOW_MS);
    assert.deepEqual(lines, ["error ... and 4,999 more 'pub access deneid' lines in the last 1.0 s"]);
    assert.equal(clock.pending, 0, 'no timer after the summary');
    assert.equal(denied.admit(), true, 'the next line opens a new window and is logged as it is');
    clock.advance(LOG_LIMIT_WINDOW_MS);
    assert.equal(lines.length, 1, 'a window without repeats logs no summary');
    assert.equal(clock.pending, 0, 'and leaves no timer: an idle kind holds none');
  });

  test('kinds are independent, the same label is the same kind, the level is the kind\'s', () => {
    const clock = new FakeClock();
    const { log, lines } = recorder();
    const limiter = new LogLimiter(log, clock);
    assert.equal(limiter.line('a'), limiter.line('a'));
    assert.equal(limiter.line('a').admit(), true);
    assert.equal(limiter.line('b', 'warn').admit(), true, 'another kind is not held back by a');
    limiter.line('a').admit();
    limiter.line('b', 'warn').admit();
    limiter.line('b', 'warn').admit();
    clock.advance(LOG_LIMIT_WINDOW_MS);
    assert.deepEqual(lines.sort(), ["error ... and 1 more 'a' lines in the last 1.0 s", "warn ... and 2 more 'b' lines in the last 1.0 s"]);
  });

  test('flush (shutdown) logs what is counted and drops the timers', () => {
    const clock = new FakeClock();
    const { log, lines } = recorder();
    const limiter = new LogLimiter(log, clock);
    limiter.line('x').admit();
    limiter.line('x').admit();
    clock.advance(250);
    limiter.flush();
    assert.deepEqual(lines, ["error ... and 1 more 'x' lines in the last 0.3 s"]);
    assert.equal(clock.pending, 0);
  });
});
