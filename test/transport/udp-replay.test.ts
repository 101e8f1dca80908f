/**
 * The AES-GCM replay window (udp-replay.ts) on its own: which nonces it refuses, and what it
 * costs per key owner. Pass criteria: a nonce is refused while among the owner's last `window`
 * nonces and admitted again once pushed out or forgotten; key types and owners have separate windows; a
 * thousand owners with one datagram each at the default window of 65,536 stay within a few MB
 * of heap (the memory follows the datagrams received, not the window size).
 */
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, it } from 'node:test';
import { ReplayGuard } from '../../src/transport/udp-replay.js';

function nonce(i: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt32LE(i);
  return b;
}

/** A full garbage collection, for heap comparisons (the test runner starts without --expose-gc). */
function collect(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

describe('ReplayGuard', () => {
  it('refuses a nonce within the window and forgets the oldest beyond it', () => {
    const g = new ReplayGuard(3);
    for (const i of [1, 2, 3]) assert.equal(g.fresh('u', 3, nonce(i)), true);
    assert.equal(g.fresh('u', 3, nonce(1)), false);
    assert.equal(g.fresh('u', 3, nonce(4)), true); // pushes 1 out
    assert.equal(g.fresh('u', 3, nonce(1)), true);
    assert.equal(g.fresh('u', 3, nonce(3)), false);
    assert.equal(g.fresh('u', 3, nonce(4)), false);
  });

  it('forget: a forgotten nonce is admitted again and keeps its full window afterwards', () => {
    const g = new ReplayGuard(3);
    assert.equal(g.fresh('u', 3, nonce(1)), true);
    g.forget('u', 3, nonce(1)); // refused datagram: not remembered
    g.forget('v', 3, nonce(1)); // unknown owner: nothing to do
    assert.equal(g.fresh('u', 3, nonce(1)), true); // slot 1 (slot 0 is stale)
    assert.equal(g.fresh('u', 3, nonce(2)), true);
    assert.equal(g.fresh('u', 3, nonce(3)), true); // evicts the stale slot 0, not nonce 1
    assert.equal(g.fresh('u', 3, nonce(1)), false);
    assert.equal(g.fresh('u', 3, nonce(4)), true); // now nonce 1 goes
    assert.equal(g.fresh('u', 3, nonce(1)), true);
  });

  it('keeps key types and owners apart; window 0 admits everything', () => {
    const g = new ReplayGuard(8);
    assert.equal(g.fresh('u', 3, nonce(1)), true);
    assert.equal(g.fresh('u', 2, nonce(1)), true);
    assert.equal(g.fresh('v', 3, nonce(1)), true);
    const off = new ReplayGuard(0);
    assert.equal(off.fresh('u', 3, nonce(1)), true);
    assert.equal(off.fresh('u', 3, nonce(1)), true);
  });

  it('costs memory per datagram received, not per window slot', () => {
    collect();
    const before = process.memoryUsage().heapUsed;
    const g = new ReplayGuard(65_536);
    for (let i = 0; i < 1000; i++) g.fresh(`sensor${i}`, 3, nonce(i));
    collect();
    const grown = process.memoryUsage().heapUsed - before;
    assert.equal(g.fresh('sensor1', 3, nonce(1)), false);
    // One preallocated window of 65,536 slots was 512 KB: 1,000 owners were half a gigabyte.
    assert.ok(grown < 16 * 1024 * 1024, `heap grew ${(grown / 1e6).toFixed(1)} MB for 1,000 owners`);
  });
});
