/** UdpKeys: the keys of a keys file in slabs of 4096 keys, a map user → slot, immutable once built. */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { makeAclEntry, parseKeysText, UdpKeys, type AclEntry } from '../../src/auth/index.js';
import { runSteps } from '../../src/auth/steps.js';
import { UdpKeysBuilder } from '../../src/auth/udp-keys.js';

/** A key of its own for each (user number, load): 32 bytes, all different across both. */
function keyHex(n: number, load: number): string {
  const word = ((n * 2654435761 + load * 40503) >>> 0).toString(16).padStart(8, '0');
  return `${word}${(n + load * 1_000_000).toString(16).padStart(8, '0')}`.repeat(4);
}

function aclFor(users: readonly string[]): Map<string, AclEntry> {
  const entry = makeAclEntry({});
  return new Map(users.map((u) => [u, entry]));
}

function parse(lines: readonly (readonly [string, string])[], acl: ReadonlyMap<string, AclEntry>): UdpKeys {
  return parseKeysText(lines.map(([u, k]) => `${u}: ${k}\n`).join(''), 'keys.yml', acl, () => undefined);
}

describe('UdpKeys', () => {
  // More than two slabs: slots 0–4095, 4096–8191 and a part-filled third.
  const COUNT = 10_000;
  const users = Array.from({ length: COUNT }, (_, i) => `sensor${i}`);
  const acl = aclFor([...users, 'spare']);

  it('keeps every user’s 32 bytes across several slabs', () => {
    const keys = parse(users.map((u, i) => [u, keyHex(i, 1)] as const), acl);
    assert.equal(keys.size, COUNT);
    assert.deepEqual([...keys.users()], users);
    for (let i = 0; i < COUNT; i++) {
      const key = keys.get(`sensor${i}`);
      assert.equal(key?.length, 32);
      assert.equal(key.toString('hex'), keyHex(i, 1), `sensor${i}`);
    }
    assert.equal(keys.has('sensor0'), true);
    assert.equal(keys.has('spare'), false);
    assert.equal(keys.get('spare'), undefined);
    assert.equal(keys.get('sensor10000'), undefined);
  });

  it('names its users with the ACL’s strings, in the ACL’s order', () => {
    const keys = parse([['b', keyHex(2, 1)], ['c', keyHex(3, 1)], ['a', keyHex(1, 1)]], aclFor(['a', 'x', 'b', 'c']));
    assert.deepEqual([...keys.users()], ['a', 'b', 'c']);
    assert.equal(keys.size, 3);
    assert.equal(keys.has('x'), false);
    assert.deepEqual(['a', 'b', 'c'].map((u) => keys.get(u)?.toString('hex')), [1, 2, 3].map((n) => keyHex(n, 1)));
    const builder = new UdpKeysBuilder();
    builder.addHex('ghost', keyHex(1, 1));
    assert.throws(() => runSteps(builder.buildNamedSteps(['a'])), /not among the names/);
  });

  it('cuts the last slab to the keys it holds (a small site keeps bytes, not a 128 KiB slab)', () => {
    const small = parse([['a', keyHex(1, 1)], ['b', keyHex(2, 1)]], aclFor(['a', 'b']));
    assert.equal(small.get('a')?.buffer.byteLength, 64);
    const big = parse(users.slice(0, 4097).map((u, i) => [u, keyHex(i, 1)] as const), acl);
    assert.equal(big.get('sensor0')?.buffer.byteLength, 4096 * 32);
    assert.equal(big.get('sensor4096')?.buffer.byteLength, 32);
    assert.equal(big.get('sensor4096')?.toString('hex'), keyHex(4096, 1));
  });

  it('a second load: changed keys are new, removed users have none, old views keep their bytes', () => {
    const first = parse(users.map((u, i) => [u, keyHex(i, 1)] as const), acl);
    const oldViews = [0, 4095, 4096, 9999].map((i) => [i, first.get(`sensor${i}`)] as const);
    // Reversed, every other user removed, `spare` first: each user's slot now held another's key.
    const kept = users.map((u, i) => [u, i] as const).filter(([, i]) => i % 2 === 1).reverse();
    const second = parse([['spare', keyHex(0, 9)], ...kept.map(([u, i]) => [u, keyHex(i, 2)] as const)], acl);
    assert.equal(second.size, COUNT / 2 + 1);
    assert.equal(second.get('spare')?.toString('hex'), keyHex(0, 9));
    for (let i = 0; i < COUNT; i++) {
      const key = second.get(`sensor${i}`);
      if (i % 2 === 0) assert.equal(key, undefined, `sensor${i} was removed`);
      else assert.equal(key?.toString('hex'), keyHex(i, 2), `sensor${i} has its new key`);
    }
    for (const [i, view] of oldViews) assert.equal(view?.toString('hex'), keyHex(i, 1), `view of sensor${i} from the first load`);
    // And the first load is untouched by the second.
    for (let i = 0; i < COUNT; i++) assert.equal(first.get(`sensor${i}`)?.toString('hex'), keyHex(i, 1));
    assert.notEqual(first.get('sensor1')?.buffer, second.get('sensor1')?.buffer, 'each load has slabs of its own');
  });

  it('filter keeps the chosen users’ keys and returns itself when it keeps all', () => {
    const keys = parse(users.map((u, i) => [u, keyHex(i, 1)] as const), acl);
    assert.equal(keys.filter(() => true), keys);
    const some = keys.filter((u) => u.endsWith('7'));
    assert.equal(some.size, COUNT / 10);
    assert.equal(some.get('sensor8'), undefined);
    assert.equal(some.get('sensor4097')?.toString('hex'), keyHex(4097, 1));
    assert.equal(keys.size, COUNT, 'the original is unchanged');
  });

  it('fromEntries copies 32-byte keys and refuses other lengths and repeats', () => {
    const raw = Buffer.from(keyHex(5, 1), 'hex');
    const keys = UdpKeys.fromEntries([['u', raw]]);
    raw.fill(0);
    assert.equal(keys.get('u')?.toString('hex'), keyHex(5, 1));
    assert.throws(() => UdpKeys.fromEntries([['u', Buffer.alloc(16)]]), RangeError);
    assert.throws(() => UdpKeys.fromEntries([['u', Buffer.alloc(32)], ['u', Buffer.alloc(32)]]), RangeError);
    assert.equal(UdpKeys.EMPTY.size, 0);
    assert.equal(UdpKeys.EMPTY.get('u'), undefined);
  });

  it('the builder refuses a repeat, restarts on clear and ends at build', () => {
    const builder = new UdpKeysBuilder();
    assert.equal(builder.addHex('a', keyHex(1, 1)), true);
    assert.equal(builder.addHex('a', keyHex(2, 1)), false);
    assert.equal(builder.has('a'), true);
    builder.clear();
    assert.equal(builder.has('a'), false);
    assert.equal(builder.addHex('b', keyHex(3, 1)), true);
    assert.throws(() => builder.addHex('c', 'zz'.repeat(32)), RangeError);
    const keys = builder.build();
    assert.deepEqual([...keys.users()], ['b']);
    assert.equal(keys.get('b')?.toString('hex'), keyHex(3, 1));
    assert.throws(() => builder.addHex('c', keyHex(4, 1)));
    assert.throws(() => builder.build());
    assert.throws(() => {
      builder.clear();
    });
    assert.equal(keys.get('b')?.toString('hex'), keyHex(3, 1), 'a builder that was used up does not touch what it built');
  });
});
