/**
 * workInSlices (src/mqtt/slices.ts): a packet's filters worked off a slice per event-loop turn.
 * Pass criteria: a small job finishes at once without holding the connection; a large one does
 * perTurn items now and perTurn per later turn, in order, holds once and releases after
 * `finish`; a slice ends early once its time budget is spent; when the host is no longer live
 * the work stops without `finish`; an error in a later slice fails the host and releases it.
 */
import assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, test } from 'node:test';
import { workInSlices, type SliceHost } from '../../src/mqtt/slices.js';

function host(): SliceHost & { log: string[]; isLive: boolean; failed: unknown[] } {
  const h = {
    log: [] as string[],
    isLive: true,
    failed: [] as unknown[],
    hold: () => { h.log.push('hold'); },
    release: () => { h.log.push('release'); },
    live: () => h.isLive,
    fail: (e: unknown) => { h.failed.push(e); },
  };
  return h;
}

const NO_BUDGET = { perTurn: 10, budgetMs: 1e9 };

describe('workInSlices', () => {
  test('a job within one slice finishes at once, no hold', () => {
    const h = host();
    const seen: number[] = [];
    workInSlices(10, (i) => seen.push(i), () => h.log.push('finish'), h, NO_BUDGET);
    assert.deepEqual(seen, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.deepEqual(h.log, ['finish']);
  });

  test('a larger job: perTurn now, perTurn per turn, in order; finish before release', async () => {
    const h = host();
    const seen: number[] = [];
    workInSlices(25, (i) => seen.push(i), () => h.log.push('finish'), h, NO_BUDGET);
    assert.equal(seen.length, 10);
    assert.deepEqual(h.log, ['hold']);
    await nextTurn();
    assert.equal(seen.length, 20);
    await nextTurn();
    assert.deepEqual(seen, Array.from({ length: 25 }, (_, i) => i));
    assert.deepEqual(h.log, ['hold', 'finish', 'release']);
  });

  test('a slice ends once its time budget is spent (clock read every 16 items)', async () => {
    const h = host();
    let n = 0;
    const slow = (): void => {
      n++;
      const until = performance.now() + 0.2;
      while (performance.now() < until) { /* a costly filter */ }
    };
    workInSlices(1000, slow, () => h.log.push('finish'), h, { perTurn: 1000, budgetMs: 1 });
    assert.equal(n, 16, 'stopped at the first clock read past the budget');
    while (!h.log.includes('release')) await nextTurn();
    assert.equal(n, 1000);
  });

  test('stops without finish when the host is no longer live', async () => {
    const h = host();
    let n = 0;
    workInSlices(100, () => { n++; }, () => h.log.push('finish'), h, NO_BUDGET);
    h.isLive = false;
    await nextTurn();
    await nextTurn();
    assert.equal(n, 10);
    assert.deepEqual(h.log, ['hold', 'release']);
  });

  test('an error in a later slice fails the host and releases it; in the first it is thrown', async () => {
    const h = host();
    const boom = new Error('boom');
    workInSlices(30, (i) => { if (i === 15) throw boom; }, () => h.log.push('finish'), h, NO_BUDGET);
    await nextTurn();
    assert.deepEqual(h.failed, [boom]);
    assert.deepEqual(h.log, ['hold', 'release']);
    const h2 = host();
    assert.throws(() => { workInSlices(30, (i) => { if (i === 3) throw boom; }, () => undefined, h2, NO_BUDGET); }, /boom/);
    assert.deepEqual(h2.log, []);
  });
});
