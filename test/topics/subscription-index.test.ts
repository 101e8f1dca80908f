import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normalizeTopic, SubscriptionIndex } from '../../src/topics/index.js';
import { names, TestSub } from './reference.js';

function matchNames(index: SubscriptionIndex<TestSub>, topic: string): string[] {
  const out: TestSub[] = [];
  const n = index.match(normalizeTopic(topic), out);
  assert.equal(n, out.length);
  return names(out);
}

/** One row of the SERVER.md §9.2 table: the mask alone in an index. */
function row(mask: string, matches: readonly string[], nonMatches: readonly string[]): void {
  test(`§9.2 table: ${JSON.stringify(mask)}`, () => {
    const index = new SubscriptionIndex<TestSub>();
    const s = new TestSub('s');
    index.subscribe(normalizeTopic(mask), s);
    for (const t of matches) {
      assert.deepEqual(matchNames(index, t), ['s'], `${mask} should match ${JSON.stringify(t)}`);
      assert.equal(index.hasMatch(normalizeTopic(t)), true);
    }
    for (const t of nonMatches) {
      assert.deepEqual(matchNames(index, t), [], `${mask} should not match ${JSON.stringify(t)}`);
      assert.equal(index.hasMatch(normalizeTopic(t)), false);
    }
  });
}

row('#', ['a', 'a/b/c', 'a/', ''], []);
row('a/#', ['a/b', 'a/b/c', 'a/'], ['a', 'b/a', '']);
row('a/+', ['a/b', 'a/'], ['a', 'a/b/c']);
row('+', ['a', ''], ['a/b', 'a/']);
row('+/#', ['a/b', 'a/b/c'], ['a']);
// `a//c` is normalised to `a/c` before matching, so it does not match either.
row('a/+/c', ['a/b/c'], ['a/c', 'a//c', 'a/b/c/d']);
row('+/+/+', ['a/b/c', 'x/y/z', 'a//b/c', 'a/b/'], ['a/b', 'a/b/c/d']);
row('a/#/b', ['a/b', 'a/b/c', 'a/', 'a/x'], ['a', 'b/a']);
row('#/x', ['a', 'a/b/c', 'a/', '', 'y'], []);
row('a+', ['a+'], ['a', 'ab', 'a/b']);
row('a#', ['a#'], ['a', 'ab', 'a/b']);
row('/a', ['a', '/a'], ['a/', 'b']);
row('a/', ['a/'], ['a', 'a/b']);

test('a subscriber appears once however many of its masks match', () => {
  const index = new SubscriptionIndex<TestSub>();
  const s = new TestSub('s');
  const other = new TestSub('o');
  for (const m of ['#', 'a/#', 'a/+', 'a/b']) index.subscribe(m, s);
  index.subscribe('a/b', other);
  assert.deepEqual(matchNames(index, 'a/b'), ['o', 's']);
  // Again, to make sure the stamp from the previous call does not hide anyone.
  assert.deepEqual(matchNames(index, 'a/b'), ['o', 's']);
  assert.deepEqual(matchNames(index, 'z'), ['s']);
});

test('match appends to out and returns only the number added', () => {
  const index = new SubscriptionIndex<TestSub>();
  const s = new TestSub('s');
  index.subscribe('a', s);
  const keep = new TestSub('keep');
  const out: TestSub[] = [keep];
  assert.equal(index.match('a', out), 1);
  assert.deepEqual(names(out), ['keep', 's']);
});

test('subscribe is idempotent', () => {
  const index = new SubscriptionIndex<TestSub>();
  const s = new TestSub('s');
  index.subscribe('a/b', s);
  index.subscribe('a/b', s);
  assert.equal(index.nodeCount, 2);
  index.unsubscribe('a/b', s);
  assert.deepEqual(matchNames(index, 'a/b'), []);
});

test('unsubscribe quirk: a/# and a/#/b share one slot', () => {
  const index = new SubscriptionIndex<TestSub>();
  const s = new TestSub('s');
  index.subscribe('a/#', s);
  index.subscribe('a/#/b', s);
  index.unsubscribe('a/#/b', s);
  assert.deepEqual(matchNames(index, 'a/x'), [], 'removing a/#/b also removed a/#');
  index.subscribe('#/x', s);
  index.unsubscribe('#', s);
  assert.deepEqual(matchNames(index, 'q'), []);
  assert.equal(index.nodeCount, 0);
});

test('unsubscribing what was never subscribed is a no-op', () => {
  const index = new SubscriptionIndex<TestSub>();
  const s = new TestSub('s');
  const t = new TestSub('t');
  index.subscribe('a/b', s);
  index.unsubscribe('a/b', t);
  index.unsubscribe('a/c', s);
  index.unsubscribe('x/y/z', s);
  index.unsubscribe('a/+', s);
  index.unsubscribe('a', s); // exact slot of an interior node that has no subscribers
  assert.deepEqual(matchNames(index, 'a/b'), ['s']);
  assert.equal(index.nodeCount, 2);
});

test('empty nodes are pruned: node count returns to zero', () => {
  const index = new SubscriptionIndex<TestSub>();
  const subs = [new TestSub('0'), new TestSub('1'), new TestSub('2')];
  const masks = ['a/b/c', 'a/+/c', 'a/#', '+/+', '#', 'a', 'a/', '', 'x/y/z/w', '+/#'];
  for (const s of subs) for (const m of masks) index.subscribe(m, s);
  assert.ok(index.nodeCount > 0);
  // Removing one of several subscribers of a slot keeps the path alive.
  const full = index.nodeCount;
  index.unsubscribe('x/y/z/w', subs[0]!);
  assert.equal(index.nodeCount, full);
  // Removing the last one prunes exactly the now-empty branch x/y/z/w.
  index.unsubscribe('x/y/z/w', subs[1]!);
  index.unsubscribe('x/y/z/w', subs[2]!);
  assert.equal(index.nodeCount, full - 4);
  for (const s of subs) for (const m of masks) index.unsubscribe(m, s);
  assert.equal(index.nodeCount, 0);
  assert.deepEqual(matchNames(index, 'a/b/c'), []);
  assert.equal(index.hasMatch(''), false);
});

test('hasMatch walks the topic as given (no normalisation)', () => {
  const index = new SubscriptionIndex<TestSub>();
  const s = new TestSub('s');
  index.subscribe('a/+/c', s);
  assert.equal(index.hasMatch('a//c'), true, 'raw a//c has an empty middle level');
  assert.equal(index.hasMatch('a/c'), false);
  index.unsubscribe('a/+/c', s);
  index.subscribe('a/b', s);
  assert.equal(index.hasMatch('/a/b'), false, 'leading slash is an empty first level');
});

test('two indexes sharing a subscriber dedupe independently', () => {
  const one = new SubscriptionIndex<TestSub>();
  const two = new SubscriptionIndex<TestSub>();
  const s = new TestSub('s');
  one.subscribe('a', s);
  two.subscribe('a', s);
  assert.deepEqual(matchNames(one, 'a'), ['s']);
  assert.deepEqual(matchNames(two, 'a'), ['s']);
});

test('very deep subscription does not overflow the stack', () => {
  const index = new SubscriptionIndex<TestSub>();
  const s = new TestSub('s');
  const deep = Array.from({ length: 50_000 }, () => '+').join('/');
  index.subscribe(deep, s);
  const topic = Array.from({ length: 50_000 }, () => 'x').join('/');
  assert.deepEqual(matchNames(index, topic), ['s']);
  index.unsubscribe(deep, s);
  assert.equal(index.nodeCount, 0);
});
