/**
 * MQTT matching and fan-out against the spec-text oracle (test/topics/spec-oracle.ts): the index
 * in MQTT mode on edge-case levels (`$` topics, empty levels, non-ASCII), and MqttRouter over
 * random histories of plain and shared subscriptions, option changes, unsubscribes and publishes
 * interleaved (its per-topic match cache must never go stale). Per message and session (MQTT
 * 5.0 §3.3.4, §4.8.2): at most one copy; a copy whenever a non-shared subscription matches
 * (no-local honoured); every matching shared group hands it to one of its members; the QoS is
 * the highest granted among the subscriptions it came by, and every subscription identifier of
 * the matching non-shared subscriptions is there.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { FULL_ACCESS, makeAclEntry } from '../../src/auth/acl.js';
import { Broker } from '../../src/broker/broker.js';
import { stampNow } from '../../src/broker/delivery.js';
import { nullLogger } from '../../src/log/logger.js';
import { MqttMessage, type QoS } from '../../src/mqtt/message.js';
import { MqttRouter } from '../../src/mqtt/router.js';
import type { MqttSession } from '../../src/mqtt/session.js';
import { isValidMqttTopicFilter, isValidMqttTopicName, mqttTopicMatches, parseSharedSubscription, SubscriptionIndex } from '../../src/topics/index.js';
import { literalLevel, specAclMatch, specMqttMatch, specNormalize } from '../topics/spec-oracle.js';

/** Valid filters over `level`: `+` as whole levels anywhere, `#` optionally as the whole last level. */
function filterOf(level: fc.Arbitrary<string>, maxLevels: number): fc.Arbitrary<string> {
  return fc
    .tuple(fc.array(fc.oneof({ weight: 3, arbitrary: level }, { weight: 1, arbitrary: fc.constant('+') }), { maxLength: maxLevels }), fc.boolean())
    .map(([levels, hash]) => (hash ? [...levels, '#'] : levels).join('/'))
    .filter((f) => f.length > 0);
}
function topicOf(level: fc.Arbitrary<string>, maxLevels: number): fc.Arbitrary<string> {
  return fc.array(level, { minLength: 1, maxLength: maxLevels }).map((l) => l.join('/')).filter((t) => t.length > 0);
}
const filter = filterOf(literalLevel, 4);
const topicName = topicOf(literalLevel, 5);
/** The router test repeats topics and overlaps filters often: few levels, small alphabet. */
const smallLevel = fc.constantFrom('a', 'b', '', '$x', '$SYS');
const smallFilter = filterOf(smallLevel, 3);
const smallTopic = topicOf(smallLevel, 3);

class Entry {
  matchStamp = 0;
  constructor(readonly client: number) {}
}

test('property (MQTT index): match is MQTT §4.7 ($ topics, empty levels, # and its parent), each subscriber once', () => {
  const op = fc.record({ client: fc.nat(4), filter, remove: fc.boolean() });
  fc.assert(
    fc.property(fc.array(op, { maxLength: 40 }), fc.array(topicName, { minLength: 1, maxLength: 10 }), (ops, topics) => {
      const index = new SubscriptionIndex<Entry>({ semantics: 'mqtt' });
      const clients = Array.from({ length: 5 }, (_, i) => new Entry(i));
      const model = clients.map(() => new Set<string>());
      for (const { client, filter: f, remove } of ops) {
        assert.ok(isValidMqttTopicFilter(f), f);
        if (remove) index.unsubscribe(f, clients[client]!);
        else index.subscribe(f, clients[client]!);
        model[client]![remove ? 'delete' : 'add'](f);
      }
      for (const t of topics) {
        assert.ok(isValidMqttTopicName(t), t);
        const expected = clients.filter((_, i) => [...model[i]!].some((f) => specMqttMatch(f, t))).map((c) => c.client);
        const out: Entry[] = [];
        index.match(t, out);
        assert.deepEqual(out.map((c) => c.client).sort(), expected, `topic ${JSON.stringify(t)}`);
        assert.equal(index.hasMatch(t), expected.length > 0);
        // The naive matcher the retained store uses must agree too.
        for (const f of new Set(ops.map((o) => o.filter))) assert.equal(mqttTopicMatches(f, t), specMqttMatch(f, t), `${f} vs ${t}`);
      }
      model.forEach((set, i) => { for (const f of set) index.unsubscribe(f, clients[i]!); });
      assert.equal(index.nodeCount, 0);
    }),
    { seed: 0x4702, numRuns: 600 },
  );
});

// MQTT §1.5.4, §4.7.1, §4.7.3, §4.8.2: what a topic name, a filter and a share may be.
/** No lone surrogate: the string survives a UTF-8 round trip. */
const wellFormed = (s: string): boolean => Buffer.from(s, 'utf8').toString('utf8') === s;
/** A UTF-8 Encoded String that may be a topic: non-empty, no U+0000, well-formed, 65,535 bytes at most. */
const encodable = (s: string): boolean => s !== '' && !s.includes('\u0000') && wellFormed(s) && Buffer.byteLength(s) <= 65535;
const specValidName = (t: string): boolean => encodable(t) && !t.includes('+') && !t.includes('#');
function specValidFilter(f: string): boolean {
  const levels = f.split('/');
  return encodable(f) && levels.every((l, i) => l === '+' || (l === '#' && i === levels.length - 1) || (!l.includes('+') && !l.includes('#')));
}

test('property (MQTT): topic name, filter and $share validity are the spec rules', () => {
  const piece = fc.constantFrom('a', '/', '+', '#', '$', '$share/', 'é', '🙂', '\ud800', '\u0000', '');
  fc.assert(
    fc.property(fc.array(piece, { maxLength: 8 }).map((p) => p.join('')), (s) => {
      assert.equal(isValidMqttTopicName(s), specValidName(s), JSON.stringify(s));
      assert.equal(isValidMqttTopicFilter(s), specValidFilter(s), JSON.stringify(s));
      const shared = parseSharedSubscription(s);
      if (!s.startsWith('$share/')) {
        assert.equal(shared, null);
        return;
      }
      const rest = s.slice('$share/'.length);
      const slash = rest.indexOf('/');
      const group = slash < 0 ? '' : rest.slice(0, slash);
      const ok = slash > 0 && !/[+#]/.test(group) && encodable(s) && specValidFilter(rest.slice(slash + 1));
      assert.deepEqual(shared, ok ? { ok: true, group, filter: rest.slice(slash + 1) } : { ok: false }, JSON.stringify(s));
    }),
    { seed: 0x4871, numRuns: 5000 },
  );
});

// ---- MqttRouter fan-out -----------------------------------------------------------------------

const SESSIONS = 4;
const GROUPS = [null, null, 'g1', 'g2'] as const;
type Action =
  | { kind: 'sub'; who: number; group: string | null; filter: string; qos: QoS; noLocal: boolean; id: number }
  | { kind: 'unsub'; who: number; group: string | null; filter: string }
  | { kind: 'pub'; topic: string; qos: QoS; origin: number | null };

const qos = fc.constantFrom<QoS>(0, 1, 2);
const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('sub' as const), who: fc.nat(SESSIONS - 1), group: fc.constantFrom(...GROUPS), filter: smallFilter, qos, noLocal: fc.boolean(), id: fc.nat(3) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('unsub' as const), who: fc.nat(SESSIONS - 1), group: fc.constantFrom(...GROUPS), filter: smallFilter }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('pub' as const), topic: smallTopic, qos, origin: fc.option(fc.nat(SESSIONS - 1), { nil: null }) }) },
);

interface Held { group: string | null; filter: string; qos: QoS; noLocal: boolean; id: number }
interface Copy { qos: QoS; ids: readonly number[] }

function newRouter(): MqttRouter {
  const broker = new Broker(
    { maxTopicDepth: 32, dataQueue: 1024, dataQueueBytes: 1 << 30, drainTimeoutMs: 1000, latencyWarnUs: 1e15, pingFloorMs: 100 },
    nullLogger,
  );
  return new MqttRouter(broker, { queue: { maxQueued: 100, maxQueuedBytes: 0, pauseAt: 50, drainTimeoutMs: 1000 }, retainedMaxCount: 10, retainedMaxBytes: 1e6, maxTopicDepth: 32 }, nullLogger);
}

const keyOf = (group: string | null, f: string): string => (group === null ? f : `$share/${group}/${f}`);

/** Checks the copies of one publish against the model (see the file comment). */
function checkCopies(held: readonly Map<string, Held>[], a: Extract<Action, { kind: 'pub' }>, copies: readonly (readonly Copy[])[]): void {
  // `$SYS` is the broker's own tree: a message there from anywhere else reaches no MQTT subscriber.
  const system = a.topic.startsWith('$SYS');
  const matching = held.map((subs) => [...subs.values()].filter((h) => !system && specMqttMatch(h.filter, a.topic)));
  const plain = matching.map((hs, i) => hs.filter((h) => h.group === null && !(h.noLocal && a.origin === i)));
  const groups = new Map<string, number[]>();
  matching.forEach((hs, i) => { for (const h of hs) if (h.group !== null) groups.set(keyOf(h.group, h.filter), [...(groups.get(keyOf(h.group, h.filter)) ?? []), i]); });
  const at = `${a.topic} (qos ${a.qos}, origin ${String(a.origin)})`;
  for (let i = 0; i < SESSIONS; i++) {
    const got = copies[i]!;
    assert.ok(got.length <= 1, `session ${i} got ${got.length} copies of ${at}`);
    const inGroup = [...groups.values()].some((members) => members.includes(i));
    if (plain[i]!.length > 0) assert.equal(got.length, 1, `session ${i} missed ${at}`);
    else if (!inGroup) assert.equal(got.length, 0, `session ${i} got ${at} by no subscription`);
    const copy = got[0];
    if (copy === undefined) continue;
    const most = (hs: readonly Held[]): number => Math.min(a.qos, Math.max(-1, ...hs.map((h) => h.qos)));
    assert.ok(copy.qos >= most(plain[i]!) && copy.qos <= most(matching[i]!), `session ${i}: qos ${copy.qos} for ${at}`);
    const wanted = plain[i]!.map((h) => h.id).filter((id) => id !== 0);
    const possible = matching[i]!.map((h) => h.id);
    for (const id of wanted) assert.ok(copy.ids.includes(id), `session ${i}: identifier ${id} missing for ${at}`);
    for (const id of copy.ids) assert.ok(possible.includes(id), `session ${i}: identifier ${id} of no matching subscription`);
  }
  for (const [group, members] of groups) assert.ok(members.some((i) => copies[i]!.length === 1), `group ${group} delivered ${at} to nobody`);
  const sharedOnly = copies.filter((c, i) => c.length === 1 && plain[i]!.length === 0).length;
  assert.ok(sharedOnly <= groups.size, `${sharedOnly} copies by ${groups.size} shared group(s) for ${at}`);
}

test('property (MqttRouter): one copy per session, shared groups one member, QoS and identifiers per §3.3.4; cache never stale', () => {
  fc.assert(
    fc.property(fc.array(action, { minLength: 1, maxLength: 60 }), (actions) => {
      const router = newRouter();
      const sessions: MqttSession[] = [];
      const copies: Copy[][] = [];
      for (let i = 0; i < SESSIONS; i++) {
        const s = router.openSession(`c${i}`, true, 'u', FULL_ACCESS).session;
        const got: Copy[] = [];
        s.deliver = (_msg, q, _retain, ids) => { got.push({ qos: q, ids: [...(ids ?? [])] }); };
        sessions.push(s);
        copies.push(got);
      }
      const held = sessions.map(() => new Map<string, Held>());
      for (const a of actions) {
        if (a.kind === 'sub') {
          const noLocal = a.group === null && a.noLocal; // no-local on a shared subscription is a protocol error
          router.subscribe(sessions[a.who]!, keyOf(a.group, a.filter), { qos: a.qos, noLocal, retainAsPublished: false, retainHandling: 0, identifier: a.id });
          held[a.who]!.set(keyOf(a.group, a.filter), { group: a.group, filter: a.filter, qos: a.qos, noLocal, id: a.id });
        } else if (a.kind === 'unsub') {
          assert.equal(router.unsubscribe(sessions[a.who]!, keyOf(a.group, a.filter)), held[a.who]!.delete(keyOf(a.group, a.filter)));
        } else {
          for (const c of copies) c.length = 0;
          const origin = a.origin === null ? null : sessions[a.origin]!;
          router.publish(new MqttMessage(a.topic, Buffer.from('x'), a.qos, false, 0x7f, stampNow(), null, origin), null);
          checkCopies(held, a, copies);
        }
      }
      assert.equal(router.subscriptionCount, held.reduce((n, m) => n + m.size, 0));
      for (const s of sessions) router.endSession(s, false);
      assert.equal(router.subscriptionCount, 0);
    }),
    { seed: 0x3304, numRuns: 400 },
  );
});

test('a shared group takes turns: n members, k·n messages, k each; a member that leaves gets no more', () => {
  const router = newRouter();
  const got = [0, 0, 0];
  const members = got.map((_, i) => {
    const s = router.openSession(`m${i}`, true, 'u', FULL_ACCESS).session;
    s.deliver = () => { got[i]!++; };
    router.subscribe(s, '$share/g/job/+', { qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0, identifier: 0 });
    return s;
  });
  const send = (n: number): void => {
    for (let k = 0; k < n; k++) router.publish(new MqttMessage('job/x', Buffer.from('j'), 1, false, 0x7f, stampNow(), null, null), null);
  };
  send(30);
  assert.deepEqual(got, [10, 10, 10]);
  router.unsubscribe(members[1]!, '$share/g/job/+');
  send(10);
  assert.deepEqual(got, [15, 10, 15]);
});

/**
 * SUBSCRIBE over MQTT is checked as PSRT checks it (the filter as sent, Decision 2), but MQTT
 * matches byte-exact and `P/#` also delivers `P`. Apart from that parent topic, which §6.2's
 * `P/#` does not grant, every topic an allowed filter delivers is granted by a `sub` mask, as
 * published or as normalised (`+/b` delivers `/b`: `+` matches its empty first level).
 */
test('property (MQTT SUBSCRIBE ACL): an allowed filter delivers only granted topics, but for the # parent', () => {
  const level = fc.constantFrom('a', 'b', '', '$x');
  const mask = fc.array(fc.constantFrom('a', 'b', '', '+', '#', '$x'), { minLength: 1, maxLength: 4 }).map((l) => l.join('/')).filter((m) => m.length > 0);
  fc.assert(
    fc.property(fc.array(mask, { minLength: 1, maxLength: 2 }), filterOf(level, 3), topicOf(level, 4), (masks, f, t) => {
      if (!makeAclEntry({ sub: masks }).canSubscribe(f) || !specMqttMatch(f, t)) return;
      const parentOfHash = f.endsWith('#') && t.split('/').length === f.split('/').length - 1;
      if (parentOfHash) return;
      assert.ok(masks.some((m) => specAclMatch(m, t) || specAclMatch(m, specNormalize(t))), `${JSON.stringify(masks)} allow ${f}, which delivers ${t}`);
    }),
    { seed: 0x4ac1, numRuns: 20000 },
  );
});
