/**
 * Topic normalisation, the PSRT delivery index and ACL masks against the spec-text oracles of
 * spec-oracle.ts, on edge-case levels (empty, `+`, `#`, `$`, wildcard-looking literals,
 * non-ASCII, `%u`), deep topics around the default max_topic_depth (32) and long
 * subscribe/unsubscribe histories. Seeded, each property bounded to well under a second.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { makeAclEntry } from '../../src/auth/acl.js';
import { AclMask, AclMaskList, normalizeTopic, SubscriptionIndex, topicDepth } from '../../src/topics/index.js';
import { edgeLevel, instantiate, literalLevel, picks, rawOf, specAclMatch, specBind, specNormalize, specPsrtMatch } from './spec-oracle.js';

class Sub {
  matchStamp = 0;
  constructor(readonly id: number) {}
}

const rawEdge = rawOf(edgeLevel, 6);
/** 20..45 levels of a small alphabet: both sides of max_topic_depth 32. */
const deep = fc.array(fc.constantFrom('a', '', '+', '$'), { minLength: 20, maxLength: 45 }).map((l) => l.join('/'));
const anyRaw = fc.oneof({ weight: 4, arbitrary: rawEdge }, { weight: 1, arbitrary: deep });

test('property: normalizeTopic is §9.1 (runs of / collapse, one leading / goes), idempotent; depth counts /', () => {
  fc.assert(
    fc.property(fc.oneof(anyRaw, fc.string({ unit: 'binary' })), (raw) => {
      const n = normalizeTopic(raw);
      assert.equal(n, specNormalize(raw));
      assert.equal(normalizeTopic(n), n);
      assert.equal(topicDepth(n), n.split('/').length - 1);
    }),
    { seed: 0x9101, numRuns: 3000 },
  );
});

/** The tree slot a normalised mask lands in: §9.2 ignores everything after `#`. */
function slotOf(mask: string): string {
  const levels = mask.split('/');
  const hash = levels.indexOf('#');
  return hash < 0 ? mask : levels.slice(0, hash + 1).join('/');
}

const SUBSCRIBERS = 5;
const op = fc.record({ who: fc.nat(SUBSCRIBERS - 1), raw: anyRaw, remove: fc.boolean() });

test('property: PSRT index delivers to exactly the §9.2 subscribers, each once, after any history; no stale entry', () => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 60 }), fc.array(fc.tuple(fc.nat(59), picks), { maxLength: 12 }), fc.array(anyRaw, { maxLength: 6 }), (ops, targets, randomTopics) => {
      const index = new SubscriptionIndex<Sub>();
      const subs = Array.from({ length: SUBSCRIBERS }, (_, i) => new Sub(i));
      const slots = subs.map(() => new Set<string>());
      for (const { who, raw, remove } of ops) {
        const mask = specNormalize(raw);
        // Unsubscribing removes the slot (`a/#/b` takes `a/#` with it, the reference quirk).
        if (remove) {
          index.unsubscribe(mask, subs[who]!);
          slots[who]!.delete(slotOf(mask));
        } else {
          index.subscribe(mask, subs[who]!);
          slots[who]!.add(slotOf(mask));
        }
      }
      // Topics built from the masks subscribed (so most of them match something), plus random ones.
      const subscribed = ops.map((o) => specNormalize(o.raw));
      const topics = [...targets.map(([i, p]) => instantiate(subscribed[i % Math.max(1, subscribed.length)] ?? 'a', p)), ...randomTopics];
      for (const raw of topics) {
        const topic = specNormalize(raw);
        const expected = subs.filter((_, i) => [...slots[i]!].some((m) => specPsrtMatch(m, topic))).map((s) => s.id);
        const out: Sub[] = [];
        assert.equal(index.match(topic, out), out.length);
        assert.deepEqual(out.map((s) => s.id).sort(), expected, `topic ${JSON.stringify(topic)}`);
        const anyRawMatch = slots.some((set) => [...set].some((m) => specPsrtMatch(m, raw)));
        assert.equal(index.hasMatch(raw), anyRawMatch, `hasMatch ${JSON.stringify(raw)}`);
      }
      slots.forEach((set, i) => { for (const m of set) index.unsubscribe(m, subs[i]!); });
      assert.equal(index.nodeCount, 0, 'every node pruned');
      for (const raw of topics) assert.equal(index.match(specNormalize(raw), []), 0);
    }),
    { seed: 0x9202, numRuns: 500 },
  );
});

test('property: a subscriber under many overlapping masks is reported once, and not after the last unsubscribe', () => {
  fc.assert(
    fc.property(fc.uniqueArray(anyRaw.map(specNormalize), { minLength: 1, maxLength: 15 }), picks, (masks, p) => {
      const index = new SubscriptionIndex<Sub>();
      const s = new Sub(0);
      for (const m of masks) index.subscribe(m, s);
      const topic = specNormalize(instantiate(masks[0]!, p));
      const out: Sub[] = [];
      index.match(topic, out);
      assert.equal(out.length, masks.some((m) => specPsrtMatch(m, topic)) ? 1 : 0);
      for (const m of masks) index.unsubscribe(m, s);
      assert.equal(index.match(topic, []), 0);
      assert.equal(index.nodeCount, 0);
    }),
    { seed: 0x9203, numRuns: 800 },
  );
});

test('a 5,000-level subscription and topic match without recursion', () => {
  const index = new SubscriptionIndex<Sub>();
  const s = new Sub(1);
  const levels = Array.from({ length: 5000 }, (_, i) => (i % 7 === 0 ? '+' : `l${i}`));
  index.subscribe(levels.join('/'), s);
  const topic = levels.map((l) => (l === '+' ? '' : l)).join('/');
  assert.equal(specPsrtMatch(levels.join('/'), topic), true);
  assert.equal(index.match(topic, []), 1);
  assert.equal(index.match(`${topic}/x`, []), 0);
  index.unsubscribe(levels.join('/'), s);
  assert.equal(index.nodeCount, 0);
});

// ---- ACL masks --------------------------------------------------------------------------------

const maskText = rawOf(fc.constantFrom('a', 'b', '', '+', '#', '$', 'é', '%u', '%c'), 5).filter((m) => m.length > 0);
const maskList = fc.array(maskText, { minLength: 1, maxLength: 3 });

test('property: AclMask/AclMaskList.matches and canPublish are §6.2 on any string', () => {
  fc.assert(
    fc.property(maskList, fc.oneof(rawEdge, deep), (masks, s) => {
      const expected = masks.some((m) => specAclMatch(m, s));
      assert.equal(new AclMaskList(masks.map((m) => AclMask.parse(m))).matches(s), expected);
      if (masks.length === 1) assert.equal(AclMask.parse(masks[0]!).matches(s), expected);
      const entry = makeAclEntry({ pub: masks.filter((m) => !/(^|\/)%[uc](\/|$)/.test(m)) });
      assert.equal(entry.canPublish(s), masks.some((m) => !/(^|\/)%[uc](\/|$)/.test(m) && specAclMatch(m, s)));
    }),
    { seed: 0x6201, numRuns: 4000 },
  );
});

/**
 * Decision 2, sound side: an allowed subscription is allowed by the reference's check on the
 * string as sent (§6.2 on it), and one single mask grants every topic the stored (normalised)
 * subscription can deliver, sampled by instantiating its wildcards.
 */
test('property: canSubscribe never lets a topic through that no single sub mask grants', () => {
  fc.assert(
    fc.property(maskList, anyRaw, fc.array(picks, { minLength: 8, maxLength: 8 }), (masks, raw, samples) => {
      const entry = makeAclEntry({ sub: masks });
      if (!entry.canSubscribe(raw)) return;
      assert.ok(masks.some((m) => specAclMatch(m, raw)), `${JSON.stringify(masks)} allows ${raw}, the reference does not`);
      const stored = specNormalize(raw);
      const topics = samples.map((p) => specNormalize(instantiate(stored, p))).filter((t) => specPsrtMatch(stored, t));
      assert.ok(masks.some((m) => topics.every((t) => specAclMatch(m, t))), `${JSON.stringify(masks)} allows ${raw}: delivers ${JSON.stringify(topics)}`);
    }),
    { seed: 0x6202, numRuns: 6000 },
  );
});

/** Decision 2, complete side: a subscription without wildcard levels is allowed iff a mask grants it as sent and as stored. */
test('property: a literal subscription is allowed iff one mask matches it as sent and as stored', () => {
  fc.assert(
    fc.property(maskList, rawOf(literalLevel, 6), (masks, raw) => {
      const entry = makeAclEntry({ sub: masks });
      const expected = masks.some((m) => specAclMatch(m, raw) && specAclMatch(m, specNormalize(raw)));
      assert.equal(entry.canSubscribe(raw), expected, `${JSON.stringify(masks)} / ${raw}`);
    }),
    { seed: 0x6203, numRuns: 4000 },
  );
});

const identity = fc.constantFrom('u1', 'dev', '_', '', 'a/b', '+', '#', 'x#', '%c', '$SYS', 'é', 'a\u0000');

test('property: %u/%c levels bind to the login and client id, or the mask grants nothing', () => {
  fc.assert(
    fc.property(maskList, identity, fc.option(identity, { nil: undefined }), rawEdge, (masks, user, clientId, s) => {
      const entry = makeAclEntry({ pub: masks, sub: masks }).forClient(user, clientId);
      const bound = masks.map((m) => specBind(m, user, clientId)).filter((m): m is string => m !== undefined);
      assert.equal(entry.canPublish(s), bound.some((m) => specAclMatch(m, s)), `${JSON.stringify(masks)} ${user}/${String(clientId)} pub ${s}`);
      if (entry.canSubscribe(s)) assert.ok(bound.some((m) => specAclMatch(m, s)), `${JSON.stringify(masks)} ${user}/${String(clientId)} sub ${s}`);
    }),
    { seed: 0x6204, numRuns: 4000 },
  );
});
