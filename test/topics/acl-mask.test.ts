import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ErrorCode, PsrtError } from '../../src/protocol/errors.js';
import { AclMask, AclMaskList, normalizeTopic } from '../../src/topics/index.js';
import { refAclMatches, refSubMatches } from './reference.js';

const acl = (m: string): AclMask => AclMask.parse(m);

test('parse rejects an empty mask with a Config error', () => {
  assert.throws(
    () => AclMask.parse(''),
    (e: unknown) => e instanceof PsrtError && e.code === ErrorCode.Config,
  );
  assert.equal(acl('a/#').source, 'a/#');
});

test('matches: §6.2 rules', () => {
  const yes: [string, string][] = [
    ['#', ''], ['#', 'a/b/c'], ['#/x', 'q'],
    ['a/#', 'a/b'], ['a/#', 'a/'], ['a/#', 'a/b/c'], ['a/#/b', 'a/zzz'],
    ['+', ''], ['+', '+'], ['+', '#'], ['+', 'abc'],
    ['data/+', 'data/#'], ['a/+/c', 'a//c'], ['a/b', 'a/b'], ['a/', 'a/'],
  ];
  const no: [string, string][] = [
    ['a/#', 'a'], ['a/#', '/a'], ['a/#', 'b/a'],
    ['+', 'a/b'], ['+', 'a/'], ['a/b', 'a/b/c'], ['a/b', 'a'], ['a/b', 'a/bb'], ['a/bb', 'a/b'],
    ['a', 'a/'], ['a/+/#', 'a/b'],
  ];
  for (const [m, s] of yes) assert.equal(acl(m).matches(s), true, `${m} should match ${s}`);
  for (const [m, s] of no) assert.equal(acl(m).matches(s), false, `${m} should not match ${s}`);
});

test('coversSubscription: Decision 2 examples', () => {
  const yes: [string, string][] = [
    ['#', '#'], ['#', 'a/b'], ['#', '+/#'], ['#', '/#'], ['#/x', '#'],
    ['data/#', 'data/#'], ['data/#', 'data/+/x'], ['data/#', 'data/a'], ['data/#', 'data/+'],
    ['data/#', 'data/#/b'], ['data/+', 'data/a'], ['data/+', 'data/+'], ['+/x', 'a/x'],
    ['plant1/+/temp', 'plant1/+/temp'], ['a/', 'a/'],
  ];
  const no: [string, string][] = [
    ['data/+', 'data/#'], ['+', '#'], ['+/x', '#/x'], ['data/#', 'data'], ['a/b', '+/b'],
    ['a/b', 'a/#'], ['a/+', 'a/+/b'], ['a/+/#', 'a/#'], ['a/b', 'a/b/c'], ['a/b/c', 'a/b'],
    // Raw vs stored: these pass a raw chunk walk but store something the ACL does not grant.
    ['+/#', '/#'], ['a/+/b', 'a//b'], ['+/a', '/a'],
    // Reference denials are kept even when the normalised form would be covered.
    ['a/#', '/a/b'],
  ];
  for (const [m, s] of yes) assert.equal(acl(m).coversSubscription(s), true, `${m} should cover ${s}`);
  for (const [m, s] of no) assert.equal(acl(m).coversSubscription(s), false, `${m} should not cover ${s}`);
});

test('AclMaskList: any mask grants, # short-circuits, empty denies', () => {
  const list = new AclMaskList([acl('a/+'), acl('b/#')]);
  assert.equal(list.matches('a/x'), true);
  assert.equal(list.matches('b/x/y'), true);
  assert.equal(list.matches('c'), false);
  assert.equal(list.coversSubscription('b/#'), true);
  assert.equal(list.coversSubscription('a/#'), false);
  assert.equal(list.masks.length, 2);
  const all = new AclMaskList([acl('x'), acl('#')]);
  assert.equal(all.matches('anything/at/all'), true);
  assert.equal(all.coversSubscription('#'), true);
  const none = new AclMaskList([]);
  assert.equal(none.matches('a'), false);
  assert.equal(none.coversSubscription('a'), false);
});

// ---- properties -----------------------------------------------------------------------------

const aclChunk = fc.constantFrom('a', 'b', '', '+', '#');
const aclMask = fc
  .array(aclChunk, { minLength: 1, maxLength: 4 })
  .map((c) => c.join('/'))
  .filter((m) => m.length > 0);
const rawString = fc.array(fc.constantFrom('a', 'b', 'c', '', '+', '#'), { minLength: 1, maxLength: 5 }).map((c) => c.join('/'));
const rawSub = fc.array(fc.constantFrom('a', 'b', '', '+', '#'), { minLength: 1, maxLength: 4 }).map((c) => c.join('/'));

/**
 * Every normalised topic with 1..5 levels over {a, b, c, ''}. `c` never appears in masks, so it
 * is the "some other value" witness for `+`; 5 levels is one more than the longest mask, the
 * witness for "longer than a fixed-length mask". Hence the set is enough for completeness too.
 */
const UNIVERSE: readonly string[] = (() => {
  const seen = new Set<string>();
  const grow = (prefix: string[]): void => {
    if (prefix.length > 0) seen.add(normalizeTopic(prefix.join('/')));
    if (prefix.length === 5) return;
    for (const l of ['a', 'b', 'c', '']) grow([...prefix, l]);
  };
  grow([]);
  return [...seen];
})();

/** Ground truth of Decision 2 for a subscription stored as `stored`. */
function coversByEnumeration(mask: AclMask, stored: string): boolean {
  return UNIVERSE.every((t) => !refSubMatches(stored, t) || mask.matches(t));
}

test('property: matches agrees with the literal §6.2 reading', () => {
  fc.assert(
    fc.property(aclMask, rawString, (m, s) => {
      assert.equal(AclMask.parse(m).matches(s), refAclMatches(m, s));
    }),
    { seed: 0xac1, numRuns: 2000 },
  );
});

// Multi-character chunks ('ab', 'a+', '#x') catch a chunk compared by its length or first
// character only; the enumeration above knows only one-character levels, so these go against
// the literal reading and a second, independent coverage oracle.
const wideChunk = fc.constantFrom('a', 'b', 'ab', 'ba', '', '+', '#', 'a+', '#x');
const wideMask = fc
  .array(wideChunk, { minLength: 1, maxLength: 4 })
  .map((c) => c.join('/'))
  .filter((m) => m.length > 0);
const wideString = fc.array(wideChunk, { minLength: 1, maxLength: 5 }).map((c) => c.join('/'));

test('property: multi-character chunks, matches agrees with the literal §6.2 reading', () => {
  fc.assert(
    fc.property(wideMask, wideString, (m, s) => {
      assert.equal(AclMask.parse(m).matches(s), refAclMatches(m, s), `${m} vs ${s}`);
    }),
    { seed: 0xac2, numRuns: 3000 },
  );
});

test('property: multi-character chunks, covers ⇔ a literal subscription is matched and no wildcard in it', () => {
  fc.assert(
    fc.property(wideMask, wideString, (m, raw) => {
      const mask = AclMask.parse(m);
      const normalized = normalizeTopic(raw);
      const literal = !raw.split('/').some((c) => c === '+' || c === '#');
      if (literal) {
        // A subscription without wildcards matches only itself (raw and as stored).
        assert.equal(mask.coversSubscription(raw), refAclMatches(m, raw) && refAclMatches(m, normalized), `${m} vs ${raw}`);
      } else if (mask.coversSubscription(raw)) {
        assert.ok(refAclMatches(m, raw), `${m} allows ${raw} which the reference denies`);
      }
    }),
    { seed: 0xac3, numRuns: 3000 },
  );
});

test('property: on normalised subscriptions, covers ⇔ every matched topic is granted', () => {
  fc.assert(
    fc.property(aclMask, rawSub, (m, raw) => {
      const sub = normalizeTopic(raw);
      const mask = AclMask.parse(m);
      assert.equal(mask.coversSubscription(sub), coversByEnumeration(mask, sub), `${m} vs ${sub}`);
    }),
    { seed: 0xc0e5, numRuns: 1500 },
  );
});

test('property: on raw subscriptions, covers is sound and never exceeds the reference', () => {
  fc.assert(
    fc.property(aclMask, rawSub, (m, raw) => {
      const mask = AclMask.parse(m);
      if (!mask.coversSubscription(raw)) return;
      assert.ok(coversByEnumeration(mask, normalizeTopic(raw)), `${m} grants too much via ${raw}`);
      assert.ok(refAclMatches(m, raw), `${m} allows ${raw} which the reference denies`);
    }),
    { seed: 0x5afe, numRuns: 1500 },
  );
});
