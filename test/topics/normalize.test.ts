import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hasWildcardChar, normalizeTopic, topicDepth } from '../../src/topics/index.js';

test('normalizeTopic follows SERVER.md §9.1', () => {
  const cases: [string, string][] = [
    ['a//b', 'a/b'],
    ['a///', 'a/'],
    ['/a/b', 'a/b'],
    ['/', ''],
    ['//', ''],
    ['///a', 'a'],
    ['a/', 'a/'],
    ['a//b//c', 'a/b/c'],
    ['', ''],
    ['a', 'a'],
    ['a/b/c', 'a/b/c'],
    ['/a//', 'a/'],
  ];
  for (const [raw, want] of cases) assert.equal(normalizeTopic(raw), want, `normalize(${raw})`);
});

test('topicDepth counts slashes', () => {
  assert.equal(topicDepth(''), 0);
  assert.equal(topicDepth('a'), 0);
  assert.equal(topicDepth('a/'), 1);
  assert.equal(topicDepth('a/b/c'), 2);
});

test('hasWildcardChar finds + or # anywhere', () => {
  assert.equal(hasWildcardChar('a/b'), false);
  assert.equal(hasWildcardChar(''), false);
  assert.equal(hasWildcardChar('a+b'), true);
  assert.equal(hasWildcardChar('x/#'), true);
  assert.equal(hasWildcardChar('+'), true);
});
