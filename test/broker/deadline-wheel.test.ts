/**
 * The deadline wheel behind every connection deadline (greeting, login, keep-alive, pings).
 * Pass criteria: a deadline never fires early and fires at most about one resolution late;
 * re-arming postpones, disarming cancels; a callback may arm or disarm any deadline, the other
 * deadlines of the same tick included; delays longer than one round of the wheel and event-loop
 * stalls longer than a round lose nothing; with nothing armed no timer is left running; a tick
 * with more due callbacks than fit a slice of a turn fires them over several turns, other work
 * running in between, each exactly once, and one disarmed meanwhile not at all.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DeadlineWheel, type Deadline, type Expiring } from '../../src/broker/deadline-wheel.js';

const RES = 5;
/** Generous for a loaded CI machine; the point is "not a whole round late", not precision. */
const LATE_SLACK_MS = 250;

class Recorder implements Expiring {
  readonly fired: number[] = [];
  onFire: (() => void) | null = null;
  onExpired(): void {
    this.fired.push(performance.now());
    this.onFire?.();
  }
}

function until(cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const start = performance.now();
  return new Promise((resolve, reject) => {
    const poll = (): void => {
      if (cond()) resolve();
      else if (performance.now() - start > timeoutMs) reject(new Error('timed out'));
      else setTimeout(poll, 2);
    };
    poll();
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('DeadlineWheel', () => {
  test('fires once, never early, at most about a resolution late', async () => {
    const wheel = new DeadlineWheel(RES, 16);
    const r = new Recorder();
    const d = wheel.deadline(r);
    const start = performance.now();
    d.arm(30);
    assert.equal(d.armed, true);
    assert.equal(wheel.armed, 1);
    await until(() => r.fired.length === 1);
    const at = (r.fired[0] ?? 0) - start;
    assert.ok(at >= 30, `fired after ${at} ms`);
    assert.ok(at < 30 + LATE_SLACK_MS, `fired after ${at} ms`);
    assert.equal(d.armed, false);
    assert.equal(wheel.armed, 0);
    await sleep(40);
    assert.equal(r.fired.length, 1);
  });

  test('re-arming postpones, disarming cancels', async () => {
    const wheel = new DeadlineWheel(RES, 16);
    const postponed = new Recorder();
    const cancelled = new Recorder();
    const p = wheel.deadline(postponed);
    const c = wheel.deadline(cancelled);
    const start = performance.now();
    p.arm(20);
    c.arm(20);
    await sleep(10);
    p.arm(60);
    c.disarm();
    c.disarm(); // twice is harmless
    assert.equal(wheel.armed, 1);
    await until(() => postponed.fired.length === 1);
    assert.ok((postponed.fired[0] ?? 0) - start >= 70);
    await sleep(30);
    assert.equal(cancelled.fired.length, 0);
    assert.equal(postponed.fired.length, 1);
    assert.equal(wheel.armed, 0);
  });

  test('a callback may disarm a deadline of the same tick and re-arm itself', async () => {
    const wheel = new DeadlineWheel(RES, 16);
    const a = new Recorder();
    const b = new Recorder();
    const da = wheel.deadline(a);
    const db = wheel.deadline(b);
    // Whichever fires first disarms the other one; the survivor is re-armed once.
    let rearmed = false;
    a.onFire = (): void => {
      db.disarm();
      if (!rearmed) {
        rearmed = true;
        da.arm(10);
      }
    };
    b.onFire = (): void => {
      da.disarm();
      if (!rearmed) {
        rearmed = true;
        db.arm(10);
      }
    };
    db.arm(15);
    da.arm(15);
    await until(() => a.fired.length + b.fired.length === 2);
    await sleep(40);
    assert.equal(a.fired.length + b.fired.length, 2, 'one deadline fired twice, the other never');
    assert.ok(a.fired.length === 0 || b.fired.length === 0);
    assert.equal(wheel.armed, 0);
  });

  test('delays longer than one round of the wheel wait their round', async () => {
    const wheel = new DeadlineWheel(RES, 4); // a round is 20 ms
    const r = new Recorder();
    const keepTicking = wheel.deadline(new Recorder());
    const start = performance.now();
    wheel.deadline(r).arm(75);
    keepTicking.arm(10);
    await until(() => r.fired.length === 1);
    const at = (r.fired[0] ?? 0) - start;
    assert.ok(at >= 75, `fired after ${at} ms`);
    assert.ok(at < 75 + LATE_SLACK_MS, `fired after ${at} ms`);
  });

  test('an event-loop stall longer than a round loses no deadline', async () => {
    const wheel = new DeadlineWheel(RES, 4);
    const recorders = Array.from({ length: 20 }, () => new Recorder());
    const start = performance.now();
    recorders.forEach((r, i) => {
      wheel.deadline(r).arm(1 + i * 3);
    });
    const busyUntil = performance.now() + 120;
    while (performance.now() < busyUntil) {
      // stall the loop for six rounds of the wheel
    }
    await until(() => recorders.every((r) => r.fired.length === 1));
    recorders.forEach((r, i) => {
      assert.ok((r.fired[0] ?? 0) - start >= 1 + i * 3);
    });
    assert.equal(wheel.armed, 0);
  });

  test('many deadlines with mixed delays each fire exactly once and never early', async () => {
    const wheel = new DeadlineWheel(RES, 8);
    let seed = 7;
    const rand = (): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    const entries: { r: Recorder; due: number; d: Deadline }[] = [];
    for (let i = 0; i < 300; i++) {
      const r = new Recorder();
      const d = wheel.deadline(r);
      const delay = Math.floor(rand() * 120);
      d.arm(delay);
      entries.push({ r, d, due: performance.now() + delay });
    }
    // Re-arm a third of them while armed, disarm another sixth.
    for (const [i, e] of entries.entries()) {
      if (i % 3 === 0) {
        const delay = Math.floor(rand() * 60);
        e.d.arm(delay);
        e.due = performance.now() + delay;
      } else if (i % 6 === 1) {
        e.d.disarm();
        e.due = Infinity;
      }
    }
    await until(() => wheel.armed === 0);
    await sleep(20);
    for (const e of entries) {
      if (e.due === Infinity) {
        assert.equal(e.r.fired.length, 0);
      } else {
        assert.equal(e.r.fired.length, 1);
        assert.ok((e.r.fired[0] ?? 0) >= e.due, 'fired early');
      }
    }
  });

  test('stop() keeps deadlines armed; the next arm catches up', async () => {
    const wheel = new DeadlineWheel(RES, 16);
    const held = new Recorder();
    const start = performance.now();
    wheel.deadline(held).arm(10);
    wheel.stop();
    await sleep(40);
    assert.equal(held.fired.length, 0);
    assert.equal(wheel.armed, 1);
    wheel.deadline(new Recorder()).arm(5);
    await until(() => held.fired.length === 1);
    assert.ok((held.fired[0] ?? 0) - start >= 10);
  });

  test('a bunched tick fires in slices of a turn with other work in between', async () => {
    const wheel = new DeadlineWheel(RES, 16);
    const spin = (us: number): void => {
      const until = performance.now() + us / 1000;
      while (performance.now() < until) {
        // a callback's work, e.g. a ping write
      }
    };
    const fireTurns: number[] = [];
    const recorders = Array.from({ length: 200 }, () => new Recorder());
    const deadlines = recorders.map((r) => wheel.deadline(r));
    let turn = 0;
    let probing = true;
    const spoke: { recorder: Recorder | null } = { recorder: null };
    // Another client's work: one immediate per loop turn, as reads are. Its first turn after
    // the firing began finds a client still waiting in the firing list that just spoke: the
    // client's deadline is disarmed and must not fire.
    const probe = (): void => {
      turn++;
      if (spoke.recorder === null && fireTurns.length > 0) {
        const waiting = recorders.findIndex((r) => r.fired.length === 0);
        assert.ok(waiting >= 0, 'everything fired in one turn');
        spoke.recorder = recorders[waiting] ?? null;
        deadlines[waiting]?.disarm();
      }
      if (probing) setImmediate(probe);
    };
    for (const r of recorders) {
      r.onFire = (): void => {
        fireTurns.push(turn);
        spin(50); // 200 x 50 us = 10 ms in all: twenty slices of 0.5 ms
      };
    }
    for (const d of deadlines) d.arm(10);
    setImmediate(probe);
    await until(() => wheel.armed === 0);
    probing = false;
    await sleep(20);
    assert.ok(spoke.recorder !== null);
    assert.equal(spoke.recorder.fired.length, 0, 'disarmed while waiting in the firing list, yet fired');
    assert.equal(recorders.filter((r) => r.fired.length === 1).length, 199);
    assert.ok(recorders.every((r) => r.fired.length <= 1));
    const turns = new Set(fireTurns).size;
    assert.ok(turns >= 5, `199 callbacks of 50 us fired in ${turns} loop turns: not sliced`);
  });
});
