/** The bounded helpers behind the UDP listener: buckets, lanes and the throttled log. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BcryptBudget, OrderedLanes, ThrottledLog, TokenBuckets } from '../../src/transport/udp-limits.js';

describe('TokenBuckets', () => {
  it('refills at the rate up to one second of capacity; admits only a positive balance', () => {
    let now = 0;
    const b = new TokenBuckets(20, 10, () => now);
    b.take('a', 15);
    assert.equal(b.has('a'), true);
    b.take('a', 15); // debt: costs are known only afterwards
    assert.equal(b.has('a'), false);
    now = 400; // +8: balance −2
    assert.equal(b.has('a'), false);
    now = 600; // +4 more: balance 2
    assert.equal(b.has('a'), true);
    b.take('a', -100); // giving back never exceeds capacity
    b.take('a', 20);
    assert.equal(b.has('a'), false);
  });

  it('stays within maxEntries: refilled buckets are swept, then the least recent', () => {
    let now = 0;
    const b = new TokenBuckets(1, 3, () => now);
    for (const k of ['a', 'b', 'c']) b.take(k, 1);
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
  const options = { perSenderMsPerS: 30, perIpMsPerS: 100, globalMsPerS: 60, maxInFlight: 4, maxSources: 100, maxExempt: 2 };

  /** Admits, runs a 20 ms "bcrypt" and settles; returns what admit said. */
  function attempt(budget: BcryptBudget, clock: { now: number }, port: number, password: string, ok: boolean): string {
    const ticket = budget.admit('ip', `ip:${port}`, 'u', password, true);
    budget.begin(ticket);
    clock.now += 20;
    budget.settle(ticket, ok);
    return ticket.kind;
  }

  it('charges measured bcrypt time; successes are refunded and then exempt', () => {
    const clock = { now: 0 };
    const budget = new BcryptBudget({ ...options, now: () => clock.now });
    assert.equal(attempt(budget, clock, 1, 'good', true), 'charged');
    assert.equal(budget.bcryptEstimateMs, 8); // 5 + (20 − 5) × 0.2
    assert.equal(attempt(budget, clock, 1, 'good', true), 'free');
    assert.equal(attempt(budget, clock, 1, 'bad1', false), 'charged');
    assert.equal(attempt(budget, clock, 1, 'bad2', false), 'charged'); // 30 ms/s: balance > 0 still
    assert.equal(attempt(budget, clock, 1, 'bad3', false), 'limited'); // 40 ms spent: in debt
    assert.equal(attempt(budget, clock, 1, 'good', true), 'free'); // known credentials always pass
    assert.equal(attempt(budget, clock, 2, 'bad4', false), 'charged'); // another sender, same IP
    assert.equal(budget.pending, 0);
  });

  it('the global bucket is never refunded; after a second everything recovers', () => {
    const clock = { now: 0 };
    const budget = new BcryptBudget({ ...options, now: () => clock.now });
    // Five successful first-time checks of 20 ms each: 80 ms > 60 ms/s even though they succeed.
    const kinds = [1, 2, 3, 4, 5].map((port) => attempt(budget, clock, port, `x${port}`, true));
    assert.deepEqual(kinds, ['charged', 'charged', 'charged', 'charged', 'limited']);
    clock.now += 1000;
    assert.equal(attempt(budget, clock, 6, 'y', false), 'charged');
  });

  it('caps verifications in flight; anonymous/unknown users never need the budget', () => {
    const budget = new BcryptBudget({ ...options, maxInFlight: 1, now: () => 0 });
    const first = budget.admit('ip', 'ip:1', 'u', 'a', true);
    assert.equal(first.kind, 'charged');
    assert.equal(budget.admit('ip2', 'ip2:1', 'v', 'b', true).kind, 'limited');
    assert.equal(budget.admit('ip2', 'ip2:1', '', '', false).kind, 'free');
    budget.settle(first, false);
    const second = budget.admit('ip2', 'ip2:1', 'v', 'b', true);
    assert.equal(second.kind, 'charged');
    budget.cancel(second); // never ran: frees the slot
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
