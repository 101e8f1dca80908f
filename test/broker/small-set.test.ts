/** SmallSet: a session's subscription masks, one in a field, a Set from the second on. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { SmallSet } from '../../src/broker/small-set.js';

describe('SmallSet', () => {
  it('behaves as a Set<string> under any sequence of add, delete and clear', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('add' as const), value: fc.constantFrom('a', 'b', 'c', 'd', '') }),
      fc.record({ kind: fc.constant('delete' as const), value: fc.constantFrom('a', 'b', 'c', 'd', '') }),
      fc.record({ kind: fc.constant('clear' as const), value: fc.constant('') }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const small = new SmallSet();
        const model = new Set<string>();
        for (const o of ops) {
          if (o.kind === 'add') {
            small.add(o.value);
            model.add(o.value);
          } else if (o.kind === 'delete') {
            assert.equal(small.delete(o.value), model.delete(o.value));
          } else {
            small.clear();
            model.clear();
          }
          assert.equal(small.size, model.size);
          for (const v of ['a', 'b', 'c', 'd', '', 'x']) assert.equal(small.has(v), model.has(v));
          assert.deepEqual([...small].sort(), [...model].sort());
          assert.deepEqual([...small.keys()].sort(), [...model].sort());
        }
      }),
      { numRuns: 300, seed: 19 },
    );
  });

  it('an empty string is a member like any other (the empty mask is not "nothing")', () => {
    const s = new SmallSet();
    s.add('');
    assert.equal(s.size, 1);
    assert.equal(s.has(''), true);
    assert.deepEqual([...s], ['']);
    assert.equal(s.delete(''), true);
    assert.equal(s.size, 0);
  });
});
