import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { parseAclText } from '../../src/auth/acl.js';
import { convertMosquittoAcl } from '../../src/auth/mosquitto-acl.js';

function loaded(text: string, users: string[] = []): ReturnType<typeof parseAclText> {
  return parseAclText(convertMosquittoAcl(text, users).yaml, 'acl.yml');
}

describe('convertMosquittoAcl', () => {
  it('maps read to sub, write to pub, readwrite and a lone filter to both; anonymous rules to _', () => {
    const acl = loaded('topic read public/#\nuser alice\ntopic write a/w\ntopic read a/r\ntopic readwrite a/rw\ntopic a/both\n');
    const alice = acl.get('alice');
    assert.ok(alice !== undefined);
    assert.deepEqual(['a/w', 'a/r', 'a/rw', 'a/both'].map((t) => [alice.canSubscribe(t), alice.canPublish(t)]), [[false, true], [true, false], [true, true], [true, true]]);
    assert.equal(acl.get('_')?.canSubscribe('public/x'), true);
    assert.equal(acl.get('_')?.canPublish('public/x'), false);
  });

  it('reads lines as Mosquitto does: comments only at the first character, spaces between words, trailing blanks dropped', () => {
    const r = convertMosquittoAcl('# comment\n\nuser  bob smith  \ntopic   read    x/y   \n  # indented\ntopic\tread z\n\n');
    assert.deepEqual(r.problems.map((p) => p.line), [5, 6]);
    assert.match(r.yaml, /"bob smith":\n {2}sub: \["x\/y"\]\n {2}pub: \[\]\n/);
  });

  it('reports deny rules, placeholders inside a level, bad access words, invalid filters and empty users', () => {
    const r = convertMosquittoAcl('user a\ntopic deny x\npattern read s/%u-x\ntopic frob x\ntopic read a/#/b\nuser\npattern write s/%c/%u\n');
    assert.deepEqual(r.problems.map((p) => p.line), [2, 3, 4, 5, 6]);
    const acl = parseAclText(r.yaml, 'acl.yml');
    // The pattern s/%c/%u, bound at a's login with client id c1.
    assert.equal(acl.get('a')?.forClient('a', 'c1').canPublish('s/c1/a'), true);
    assert.equal(acl.get('a')?.forClient('a', 'c1').canPublish('s/c2/a'), false);
    assert.equal(acl.get('a')?.forClient('a', 'c1').canSubscribe('x'), false);
  });

  it('gives users of the password file the patterns, merges repeated user blocks, keeps each mask once', () => {
    const r = convertMosquittoAcl('user a\ntopic read x\nuser b\ntopic read y\nuser a\ntopic read x\ntopic read z\npattern read p/%u\n', ['a', 'c']);
    assert.equal(r.users, 3); // a, b, c; no _: the only pattern needs a login
    assert.match(r.yaml, /"a":\n {2}sub: \["x", "z", "p\/%u"\]\n/);
    assert.match(r.yaml, /"c":\n {2}sub: \["p\/%u"\]\n {2}pub: \[\]\n/);
    assert.doesNotMatch(r.yaml, /"_"/);
  });

  it('quotes names and filters so that any of them loads back as written', () => {
    const acl = loaded('user we"ird: #name\ntopic read a/"q"/#\ntopic write b\\\\c\n');
    const entry = acl.get('we"ird: #name');
    assert.ok(entry !== undefined, [...acl.keys()].join(','));
    assert.equal(entry.canSubscribe('a/"q"/#'), true);
    assert.equal(entry.canPublish('b\\\\c'), true);
  });
});
