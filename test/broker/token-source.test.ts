/**
 * Session tokens cut from a random pool. Pass criteria: every token has the configured length
 * (as a latin1 string, one char per byte), tokens across several pool refills are distinct and
 * not all-zero, and the pool keeps no used token bytes.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TokenSource } from '../../src/broker/token-source.js';

describe('TokenSource', () => {
  test('32-byte tokens, distinct over several refills, used bytes wiped', () => {
    const src = new TokenSource(32);
    const pool = (src as unknown as { pool: Buffer }).pool;
    const seen = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const t = src.next();
      assert.equal(t.length, 32);
      assert.equal(Buffer.from(t, 'latin1').length, 32);
      assert.notEqual(t, '\0'.repeat(32));
      seen.add(t);
      // 1000 % 128: the pool is partly used; all of it up to `at` must be zero.
      const at = (src as unknown as { at: number }).at;
      assert.ok(pool.subarray(0, at).every((b) => b === 0));
    }
    assert.equal(seen.size, 1000);
  });
});
