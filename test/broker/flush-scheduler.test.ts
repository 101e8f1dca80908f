/**
 * FlushScheduler: deferred flushes once per turn, and the immediate flush of a small read
 * (hold/release). Pass criteria: marks are flushed once each, in marking order; release(true)
 * flushes before it returns; a second immediate flush within the minimum gap, release(false)
 * and marks outside a hold are deferred to setImmediate; marks inside a hold schedule nothing
 * until the release.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FlushScheduler, type Flushable } from '../../src/broker/flush-scheduler.js';

function target(name: string, log: string[]): Flushable {
  return {
    dirty: false,
    flush(): void {
      log.push(name);
    },
  };
}

const nextTurn = (): Promise<void> => new Promise((res) => setImmediate(res));

describe('FlushScheduler', () => {
  test('marks outside a hold are flushed once, in order, in the check phase', async () => {
    const log: string[] = [];
    const s = new FlushScheduler();
    const a = target('a', log);
    const b = target('b', log);
    s.mark(a);
    s.mark(b);
    s.mark(a);
    assert.deepEqual(log, []);
    await nextTurn();
    assert.deepEqual(log, ['a', 'b']);
    assert.equal(a.dirty, false);
  });

  test('release(true) flushes at once; a second one within the gap is deferred', async () => {
    const log: string[] = [];
    const s = new FlushScheduler(60_000); // a gap no scheduling delay can exceed
    s.hold();
    s.mark(target('data', log));
    s.mark(target('reply', log));
    s.release(true);
    assert.deepEqual(log, ['data', 'reply'], 'flushed before release returned, in marking order');
    s.hold();
    s.mark(target('second', log));
    s.release(true);
    assert.deepEqual(log, ['data', 'reply'], 'within the minimum gap: batched, not flushed yet');
    await nextTurn();
    assert.deepEqual(log, ['data', 'reply', 'second']);
  });

  test('release(false) defers; marks inside a hold schedule nothing before the release', async () => {
    const log: string[] = [];
    const s = new FlushScheduler();
    s.hold();
    s.mark(target('x', log));
    await nextTurn();
    assert.deepEqual(log, [], 'nothing scheduled while held');
    s.release(false);
    assert.deepEqual(log, []);
    await nextTurn();
    assert.deepEqual(log, ['x']);
  });

  test('an already scheduled flush takes the marks of a later small read', async () => {
    const log: string[] = [];
    const s = new FlushScheduler();
    s.mark(target('earlier', log));
    s.hold();
    s.mark(target('later', log));
    s.release(true);
    assert.deepEqual(log, [], 'not flushed ahead of the scheduled batch');
    await nextTurn();
    assert.deepEqual(log, ['earlier', 'later']);
  });
});
