/** The bounded helpers behind the UDP listener: buckets, lanes and the throttled log. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BcryptBudget, OrderedLanes, ThrottledLog, TokenBuckets } from '../../src/transport/udp-limits.js';

describe('TokenBuckets', () => {
  it('refills at the rate, never above capacity', () => {
    let now = 0;
    const b = new TokenBuckets(2, 10, () => now);
    b.take('a');
    b.take('a');
    assert.equal(b.has('a'), false);
    now = 500; // half a second: one token back
    assert.equal(b.has('a'), true);
    b.take('a');
    assert.equal(b.has('a'), false);
    now = 60_000;
    b.take('a');
    b.take('a');
    assert.equal(b.has('a'), false); // capacity stayed 2
  });

  it('stays within maxEntries: refilled buckets are swept, then the least recent', () => {
    let now = 0;
    const b = new TokenBuckets(1, 3, () => now);
    for (const k of ['a', 'b', 'c']) b.take(k);
    b.has('d'); // full of drained buckets: the least recent (a) goes
    assert.equal(b.size, 3);
    assert.equal(b.has('b'), false); // still drained: kept
    now = 5000; // all refilled: sweeping them makes room
    for (const k of ['e', 'f', 'g', 'h']) b.has(k);
    assert.equal(b.has('b'), true);
    assert.equal([b.size].every((n) => n <= 3), true);
  });
});

describe('BcryptBudget', () => {
  it('exempts verified credentials and refunds successes', () => {
    const budget = new BcryptBudget({ perSenderRate: 1, perIpRate: 10, maxInFlight: 10, maxSources: 10, maxExempt: 2, now: () => 0 });
    const t1 = budget.admit('ip', 'ip:1', 'u', 'good', true);
    assert.equal(t1.kind, 'charged');
    budget.settle(t1, true);
    assert.equal(budget.admit('ip', 'ip:1', 'u', 'good', true).kind, 'free');
    const bad = budget.admit('ip', 'ip:1', 'u', 'bad', true);
    assert.equal(bad.kind, 'charged'); // the success refunded the token
    budget.settle(bad, false);
    assert.equal(budget.admit('ip', 'ip:1', 'u', 'bad2', true).kind, 'limited');
    assert.equal(budget.admit('ip', 'ip:1', 'u', 'good', true).kind, 'free');
    assert.equal(budget.admit('ip', 'ip:1', 'v', 'x', false).kind, 'free');
    assert.equal(budget.pending, 0);
  });
});

describe('OrderedLanes', () => {
  it('runs synchronous jobs at once and queues behind an asynchronous one, bounded', async () => {
    const errors: unknown[] = [];
    const lanes = new OrderedLanes({ maxPerLane: 2, maxQueued: 10, onError: (e) => errors.push(e) });
    const order: string[] = [];
    let release: () => void = () => undefined;
    lanes.submit('s', () => new Promise<void>((r) => { release = () => { order.push('slow'); r(); }; }));
    assert.equal(lanes.submit('s', () => { order.push('a'); }), true);
    assert.equal(lanes.submit('s', () => { throw new Error('boom'); }), true);
    assert.equal(lanes.submit('s', () => { order.push('refused'); }), false); // lane full
    assert.equal(lanes.submit('t', () => { order.push('other'); }), true);
    assert.deepEqual(order, ['other']);
    release();
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(order, ['other', 'slow', 'a']);
    assert.equal(errors.length, 1);
    assert.equal(lanes.laneCount, 0);
    assert.equal(lanes.waiting, 0);
  });
});

describe('ThrottledLog', () => {
  it('one line per second per kind, then the suppressed count', () => {
    let now = 0;
    const lines: string[] = [];
    const log = new ThrottledLog((l) => lines.push(l), () => now);
    log.log('a', 'A1');
    log.log('a', 'A2');
    log.log('b', 'B1');
    log.log('a', 'A3');
    now = 1000;
    log.log('a', 'A4');
    log.log('a', 'A5');
    now = 2500;
    log.flush();
    assert.deepEqual(lines, ['A1', 'B1', 'A4 (2 similar suppressed)', 'udp: 1 more "a" errors suppressed']);
  });
});
