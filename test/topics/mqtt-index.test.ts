import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isValidMqttTopicFilter, isValidMqttTopicName, mqttTopicMatches, SubscriptionIndex } from '../../src/topics/index.js';
import { names, TestSub } from './reference.js';

/**
 * [filter, topic, matches] — MQTT §4.7 semantics, mostly the spec's own examples. Every row is
 * checked with the reference matcher and with the index in MQTT mode.
 */
const TABLE: readonly [string, string, boolean][] = [
  // §4.7.1.2 multi-level wildcard
  ['sport/tennis/player1/#', 'sport/tennis/player1', true],
  ['sport/tennis/player1/#', 'sport/tennis/player1/ranking', true],
  ['sport/tennis/player1/#', 'sport/tennis/player1/score/wimbledon', true],
  ['sport/tennis/player1/#', 'sport/tennis/player2', false],
  ['sport/tennis/player1/#', 'sport/tennis', false],
  ['sport/#', 'sport', true],
  ['sport/#', 'sport/', true],
  ['sport/#', 'sports', false],
  ['sport/tennis/#', 'sport/tennis/player1', true],
  ['a/#', 'a', true],
  ['a/+/#', 'a/b', true],
  ['a/+/#', 'a', false],
  ['+/#', 'a', true],
  // §4.7.1.3 single-level wildcard
  ['sport/+', 'sport', false],
  ['sport/+', 'sport/', true],
  ['sport/+', 'sport/tennis', true],
  ['sport/+', 'sport/tennis/player1', false],
  ['sport/+/player1', 'sport/tennis/player1', true],
  ['sport/+/player1', 'sport//player1', true],
  ['sport/+/player1', 'sport/tennis/player2', false],
  ['+/+', '/finance', true],
  ['/+', '/finance', true],
  ['+', '/finance', false],
  ['+', 'finance', true],
  ['+/tennis/#', 'sport/tennis/player1', true],
  ['+/tennis/#', 'sport/tennis', true],
  ['+/+', 'a', false],
  ['+/+', 'a/b/c', false],
  ['#', 'sport/tennis', true],
  ['#', '/', true],
  ['#', 'a$', true],
  ['#', 'a/$SYS', true],
  // §4.7.2 topics beginning with $
  ['#', '$SYS/monitor/Clients', false],
  ['#', '$SYS', false],
  ['#', '$', false],
  ['+', '$SYS', false],
  ['+/monitor/Clients', '$SYS/monitor/Clients', false],
  ['+/#', '$SYS/x', false],
  ['+/+', '$SYS/x', false],
  ['$SYS/#', '$SYS/monitor/Clients', true],
  ['$SYS/#', '$SYS', true],
  ['$SYS/#', '$SYSX/a', false],
  ['$SYS/monitor/+', '$SYS/monitor/Clients', true],
  ['$SYS/+', '$SYS/monitor/Clients', false],
  ['$SYS', '$SYS', true],
  ['$SYS/monitor/Clients', '$SYS/monitor/Clients', true],
  ['+/$y', 'x/$y', true],
  ['x/#', 'x/$y', true],
  // empty levels and leading / trailing '/': byte-exact, nothing normalised
  ['/', '/', true],
  ['/#', '/', true],
  ['/#', '/finance', true],
  ['/#', 'finance', false],
  ['+/#', '/finance', true],
  ['a//', 'a//', true],
  ['a//', 'a/', false],
  ['a/+/+', 'a//', true],
  ['a/b', 'a/b/', false],
  ['a/b/', 'a/b', false],
  ['a/+', 'a/', true],
  ['a//b', 'a/b', false],
  ['/a', 'a', false],
  ['Sport/#', 'sport', false],
];

function matchNames(index: SubscriptionIndex<TestSub>, topic: string): string[] {
  const out: TestSub[] = [];
  const n = index.match(topic, out);
  assert.equal(n, out.length);
  return names(out);
}

test(`MQTT table (${TABLE.length} rows): reference matcher and index agree with the spec`, () => {
  for (const [filter, topic, expected] of TABLE) {
    const label = `${filter} vs ${topic}`;
    assert.equal(isValidMqttTopicFilter(filter), true, `row filter valid: ${label}`);
    assert.equal(isValidMqttTopicName(topic), true, `row topic valid: ${label}`);
    assert.equal(mqttTopicMatches(filter, topic), expected, `mqttTopicMatches ${label}`);
    const index = new SubscriptionIndex<TestSub>({ semantics: 'mqtt' });
    index.subscribe(filter, new TestSub('s'));
    assert.deepEqual(matchNames(index, topic), expected ? ['s'] : [], `index.match ${label}`);
    assert.equal(index.hasMatch(topic), expected, `index.hasMatch ${label}`);
  }
});

test('MQTT table: all filters in one index, one subscription object each', () => {
  const index = new SubscriptionIndex<TestSub>({ semantics: 'mqtt' });
  const filters = [...new Set(TABLE.map(([f]) => f))];
  const topics = [...new Set(TABLE.map(([, t]) => t))];
  const check = (): void => {
    for (const topic of topics) {
      const expected = filters.filter((f) => mqttTopicMatches(f, topic)).sort();
      assert.deepEqual(matchNames(index, topic), expected, topic);
    }
  };
  for (const f of filters) index.subscribe(f, new TestSub(f));
  check();
  // A fresh object is a different subscriber: unsubscribing it must not remove anything.
  for (const f of filters) index.unsubscribe(f, new TestSub(f));
  check();
});

test('MQTT mode: one object under several filters is reported once, and prunes away', () => {
  const index = new SubscriptionIndex<TestSub>({ semantics: 'mqtt' });
  const s = new TestSub('s');
  const perSub = ['sport/#', 'sport/+', 'sport/tennis', '#', '$SYS/#'].map((f) => [f, new TestSub(f)] as const);
  for (const [f, sub] of perSub) {
    index.subscribe(f, s);
    index.subscribe(f, sub);
  }
  assert.deepEqual(matchNames(index, 'sport/tennis'), ['#', 's', 'sport/#', 'sport/+', 'sport/tennis']);
  assert.deepEqual(matchNames(index, 'sport/tennis'), ['#', 's', 'sport/#', 'sport/+', 'sport/tennis']);
  assert.deepEqual(matchNames(index, 'sport'), ['#', 's', 'sport/#']);
  assert.deepEqual(matchNames(index, '$SYS'), ['$SYS/#', 's']);
  for (const [f, sub] of perSub) {
    index.unsubscribe(f, sub);
    index.unsubscribe(f, s);
  }
  assert.equal(index.nodeCount, 0);
  assert.deepEqual(matchNames(index, 'sport'), []);
  assert.equal(index.hasMatch('$SYS'), false);
});

test('semantics option: psrt is the default and keeps §9.2 behaviour', () => {
  for (const index of [new SubscriptionIndex<TestSub>(), new SubscriptionIndex<TestSub>({ semantics: 'psrt' })]) {
    index.subscribe('a/#', new TestSub('parent'));
    index.subscribe('#', new TestSub('all'));
    index.subscribe('+', new TestSub('plus'));
    assert.deepEqual(matchNames(index, 'a'), ['all', 'plus']);
    assert.deepEqual(matchNames(index, '$SYS'), ['all', 'plus']);
    assert.equal(index.hasMatch('$x/y'), true);
  }
});

test('MQTT mode: a $ topic with no literal root child matches nothing', () => {
  const index = new SubscriptionIndex<TestSub>({ semantics: 'mqtt' });
  index.subscribe('#', new TestSub('all'));
  index.subscribe('+/+', new TestSub('two'));
  assert.deepEqual(matchNames(index, '$none/x'), []);
  assert.equal(index.hasMatch('$none/x'), false);
  assert.deepEqual(matchNames(index, 'none/x'), ['all', 'two']);
});
