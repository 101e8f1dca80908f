import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isValidMqttTopicFilter, isValidMqttTopicName, mqttTopicMatches, SubscriptionIndex } from '../../src/topics/index.js';
import { names, TestSub } from './reference.js';

// A small alphabet so that collisions (and so matches) are frequent; '$x' exercises §4.7.2.
const literal = fc.constantFrom('', 'a', 'b', '$x');
const filterLevel = fc.oneof(literal, fc.constant('+'));
/** Valid filters only: `+` as whole levels anywhere, `#` optionally as the whole last level. */
const filter = fc
  .tuple(fc.array(filterLevel, { minLength: 0, maxLength: 4 }), fc.boolean())
  .map(([levels, hash]) => (hash ? [...levels, '#'] : levels))
  .map((levels) => levels.join('/'))
  .filter((f) => f.length > 0); // also drops [''], which joins to the (invalid) empty filter
/** Valid topic names: at least one character (a lone empty level is the empty string). */
const topic = fc
  .array(literal, { minLength: 1, maxLength: 5 })
  .map((levels) => levels.join('/'))
  .filter((t) => t.length > 0);

const CLIENTS = 4;
const op = fc.record({ client: fc.integer({ min: 0, max: CLIENTS - 1 }), filter, remove: fc.boolean() });

test('property (MQTT): match equals the subscribers whose filter mqttTopicMatches; all prunes away', () => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 30 }), fc.array(topic, { minLength: 1, maxLength: 10 }), (ops, topics) => {
      const index = new SubscriptionIndex<TestSub>({ semantics: 'mqtt' });
      // One object per client, shared by all of its filters: exercises the matchStamp dedupe.
      const clients = Array.from({ length: CLIENTS }, (_, i) => new TestSub(String(i)));
      const model = clients.map(() => new Set<string>());
      for (const { client, filter: f, remove } of ops) {
        assert.equal(isValidMqttTopicFilter(f), true, f);
        if (remove) {
          index.unsubscribe(f, clients[client]!);
          model[client]!.delete(f);
        } else {
          index.subscribe(f, clients[client]!);
          model[client]!.add(f);
        }
      }
      for (const t of topics) {
        assert.equal(isValidMqttTopicName(t), true, t);
        const expected = clients
          .filter((_, i) => [...model[i]!].some((f) => mqttTopicMatches(f, t)))
          .map((c) => c.name)
          .sort();
        const out: TestSub[] = [];
        assert.equal(index.match(t, out), out.length);
        assert.deepEqual(names(out), expected, `topic ${JSON.stringify(t)}`);
        assert.equal(index.hasMatch(t), expected.length > 0, `hasMatch ${JSON.stringify(t)}`);
      }
      model.forEach((filters, i) => {
        for (const f of filters) index.unsubscribe(f, clients[i]!);
      });
      assert.equal(index.nodeCount, 0);
    }),
    { seed: 0x6d717474, numRuns: 400 },
  );
});

test('property (MQTT): one object per subscription reports every matching subscription', () => {
  fc.assert(
    fc.property(fc.uniqueArray(filter, { maxLength: 12 }), fc.array(topic, { minLength: 1, maxLength: 8 }), (filters, topics) => {
      const index = new SubscriptionIndex<TestSub>({ semantics: 'mqtt' });
      const subs = filters.map((f) => new TestSub(f));
      subs.forEach((s) => { index.subscribe(s.name, s); });
      for (const t of topics) {
        const out: TestSub[] = [];
        index.match(t, out);
        assert.deepEqual(names(out), filters.filter((f) => mqttTopicMatches(f, t)).sort(), t);
      }
      subs.forEach((s) => { index.unsubscribe(s.name, s); });
      assert.equal(index.nodeCount, 0);
    }),
    { seed: 0x73756273, numRuns: 300 },
  );
});
