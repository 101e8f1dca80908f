/**
 * SmallMap (an MQTT session's subscriptions) and the shared subscription option sets.
 * Pass criteria: SmallMap agrees with a Map over a generated sequence of set/get/delete/keys
 * across the one-entry and many-entry forms; option sets without an identifier are shared
 * and equal to what was asked, those with one are kept as given.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SmallMap } from '../../src/mqtt/small-map.js';
import { internOptions, type SubscriptionOptions } from '../../src/mqtt/subscription.js';

interface Entry {
  readonly key: string;
  readonly value: number;
}

describe('SmallMap', () => {
  test('behaves as a Map through the one-entry and many-entry forms', () => {
    const small = new SmallMap<Entry>();
    const ref = new Map<string, number>();
    let seed = 11;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    for (let step = 0; step < 5000; step++) {
      const key = `k${rand(4)}`;
      const op = rand(3);
      if (op === 0) {
        small.set({ key, value: step });
        ref.set(key, step);
      } else if (op === 1) {
        assert.equal(small.delete(key), ref.delete(key));
      }
      assert.equal(small.get(key)?.value, ref.get(key));
      assert.equal(small.size, ref.size);
      assert.deepEqual(small.keys().sort(), [...ref.keys()].sort());
    }
  });

  test('keys() is a snapshot: deleting while iterating it visits every key', () => {
    const m = new SmallMap<Entry>();
    m.set({ key: 'a', value: 1 });
    m.set({ key: 'b', value: 2 });
    m.set({ key: 'c', value: 3 });
    const seen: string[] = [];
    for (const k of m.keys()) {
      seen.push(k);
      m.delete(k);
    }
    assert.deepEqual(seen.sort(), ['a', 'b', 'c']);
    assert.equal(m.size, 0);
  });
});

describe('internOptions', () => {
  const opts = (qos: 0 | 1 | 2, identifier = 0): SubscriptionOptions =>
    ({ qos, noLocal: qos === 1, retainAsPublished: true, retainHandling: 2, identifier });

  test('sets without an identifier are shared and unchanged', () => {
    const a = internOptions(opts(1));
    const b = internOptions(opts(1));
    assert.equal(a, b);
    assert.deepEqual(a, opts(1));
    assert.ok(Object.isFrozen(a));
    assert.notEqual(internOptions(opts(2)), a);
    assert.deepEqual(internOptions(opts(2)), opts(2));
  });

  test('a set with a subscription identifier is kept as given', () => {
    const o = opts(0, 7);
    assert.equal(internOptions(o), o);
  });
});

describe('SmallMap.clear', () => {
  test('empties both forms', () => {
    for (const n of [1, 3]) {
      const m = new SmallMap<Entry>();
      for (let i = 0; i < n; i++) m.set({ key: `k${i}`, value: i });
      m.clear();
      assert.equal(m.size, 0);
      assert.deepEqual(m.keys(), []);
      assert.equal(m.get('k0'), undefined);
      m.set({ key: 'x', value: 1 });
      assert.deepEqual([m.size, m.get('x')?.value], [1, 1]);
    }
  });
});
