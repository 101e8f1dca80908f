/**
 * Codec fuzzing in the normal test run (issue 7 item 1): every property of properties.ts with
 * a fixed seed and a bounded number of inputs (a few seconds in all). The long run with random
 * seeds and ≥ 1,000,000 inputs is scripts/fuzz.ts (`npm run fuzz`).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatFailure } from '../../scripts/lib/fuzz/define.js';
import { PROPERTIES } from '../../scripts/lib/fuzz/properties.js';

const SEED = 0x7a5eed;

describe('codec fuzzing (fixed seed)', () => {
  for (const p of PROPERTIES) {
    it(`${p.name}: ${p.testRuns} inputs`, () => {
      const r = p.check({ seed: SEED, numRuns: p.testRuns });
      assert.ok(!r.failed, formatFailure(r));
    });
  }
});
