import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { normalizeTopic, SubscriptionIndex } from '../../src/topics/index.js';
import { names, refSubMatches, slotKey, TestSub } from './reference.js';

const maskLevel = fc.constantFrom('a', 'b', '', '+', '#');
const topicLevel = fc.constantFrom('a', 'b', 'c', '', '+', '#');
const mask = fc.array(maskLevel, { minLength: 1, maxLength: 4 }).map((l) => normalizeTopic(l.join('/')));
const rawTopic = fc.array(topicLevel, { minLength: 1, maxLength: 5 }).map((l) => l.join('/'));

const SUBS = 4;
const op = fc.record({
  sub: fc.integer({ min: 0, max: SUBS - 1 }),
  mask,
  remove: fc.boolean(),
});

/** Expected subscribers for a topic, from the slot model and the naive matcher. */
function expected(model: readonly Set<string>[], topic: string): string[] {
  const hit: string[] = [];
  model.forEach((slots, i) => {
    if ([...slots].some((m) => refSubMatches(m, topic))) hit.push(String(i));
  });
  return hit.sort();
}

test('property: match agrees with the naive §9.2 matcher, and everything prunes away', () => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 30 }), fc.array(rawTopic, { minLength: 1, maxLength: 10 }), (ops, topics) => {
      const index = new SubscriptionIndex<TestSub>();
      const subs = Array.from({ length: SUBS }, (_, i) => new TestSub(String(i)));
      // Model by slot: unsubscribe removes the slot the mask maps to (the a/#/b quirk).
      const model = subs.map(() => new Set<string>());
      for (const { sub, mask: m, remove } of ops) {
        if (remove) {
          index.unsubscribe(m, subs[sub]!);
          model[sub]!.delete(slotKey(m));
        } else {
          index.subscribe(m, subs[sub]!);
          model[sub]!.add(slotKey(m));
        }
      }
      for (const raw of topics) {
        const topic = normalizeTopic(raw);
        const out: TestSub[] = [];
        const n = index.match(topic, out);
        assert.equal(n, out.length);
        assert.deepEqual(names(out), expected(model, topic), `topic ${JSON.stringify(topic)}`);
        // hasMatch sees the raw topic; the naive matcher on the raw string is the oracle.
        assert.equal(index.hasMatch(raw), expected(model, raw).length > 0, `raw ${JSON.stringify(raw)}`);
      }
      model.forEach((slots, i) => {
        for (const m of slots) index.unsubscribe(m, subs[i]!);
      });
      assert.equal(index.nodeCount, 0);
    }),
    { seed: 0x5eed, numRuns: 400 },
  );
});
