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

  it('reports placeholders inside a level, bad access words, invalid filters and empty users', () => {
    const r = convertMosquittoAcl('user a\ntopic deny x\npattern read s/%u-x\ntopic frob x\ntopic read a/#/b\nuser\npattern write s/%c/%u\n');
    // The deny rule takes nothing away (no grant overlaps it): acl.yml denies x by default.
    assert.deepEqual(r.problems.map((p) => p.line), [3, 4, 5, 6]);
    const acl = parseAclText(r.yaml, 'acl.yml');
    // The pattern s/%c/%u, bound at a's login with client id c1.
    assert.equal(acl.get('a')?.forClient('a', 'c1').canPublish('s/c1/a'), true);
    assert.equal(acl.get('a')?.forClient('a', 'c1').canPublish('s/c2/a'), false);
    assert.equal(acl.get('a')?.forClient('a', 'c1').canSubscribe('x'), false);
  });

  it('leaves out whole every grant a deny rule takes part of (acl.yml only grants): never more than Mosquitto', () => {
    const r = convertMosquittoAcl(
      'topic read public/#\ntopic deny public/secret\n' +
        'user alice\ntopic read #\ntopic readwrite plant/a/#\ntopic deny plant/a/+/secret\ntopic read other/x\n' +
        'user bob\ntopic read plant/#\n' +
        'pattern readwrite devices/%u/#\npattern deny devices/%u/locked\npattern read news/%c\n',
      ['carol'],
    );
    assert.deepEqual(r.problems.map((p) => p.line), [1, 4, 5, 10]);
    assert.match(r.problems[1]?.problem ?? '', /"#" left out for "alice": the deny rule of line 6 \("plant\/a\/\+\/secret"\)/);
    assert.match(r.problems[3]?.problem ?? '', /"devices\/%u\/#" left out for every client: the deny rule of line 11/);
    const acl = parseAclText(r.yaml, 'acl.yml');
    const alice = acl.get('alice')?.forClient('alice', 'a1');
    assert.deepEqual(['#', 'plant/a/b', 'plant/a/x/secret', 'other/x', 'news/a1'].map((t) => alice?.canSubscribe(t)), [false, false, false, true, true]);
    assert.equal(acl.get('bob')?.canSubscribe('plant/#'), true, 'a deny of alice is not bob\'s');
    assert.equal(acl.get('bob')?.forClient('bob', 'b1').canPublish('devices/bob/x'), false);
    assert.equal(acl.get('carol')?.forClient('carol', 'c1').canSubscribe('news/c1'), true);
    assert.equal(acl.get('_')?.forClient('_', 'n1').canSubscribe('public/x'), false);
    assert.equal(acl.get('_')?.forClient('_', 'n1').canSubscribe('news/n1'), true);
  });

  it('leaves out a topic line with a whole-level %u or %c: Mosquitto reads it literally, acl.yml would substitute it', () => {
    const r = convertMosquittoAcl('topic write anon/%c/#\nuser alice\ntopic readwrite devices/%c/#\ntopic read own/%u\ntopic read x/%u-y\n');
    assert.deepEqual(r.problems.map((p) => p.line), [1, 3, 4]);
    const acl = parseAclText(r.yaml, 'acl.yml');
    const alice = acl.get('alice')?.forClient('alice', 'victim');
    assert.ok(alice !== undefined);
    assert.equal(alice.canPublish('devices/victim/x'), false);
    assert.equal(alice.canSubscribe('own/alice'), false);
    assert.equal(alice.canSubscribe('x/%u-y'), true, 'not a whole level: literal in both');
    assert.equal(acl.get('_'), undefined);
  });

  it('does not give the rules of a user named _ to the anonymous clients', () => {
    const r = convertMosquittoAcl('topic read public/#\nuser _\ntopic read secret/#\nuser alice\ntopic read a\n', ['_']);
    assert.deepEqual(r.problems.map((p) => p.line), [2]);
    const acl = parseAclText(r.yaml, 'acl.yml');
    assert.equal(acl.get('_')?.canSubscribe('public/x'), true);
    assert.equal(acl.get('_')?.canSubscribe('secret/x'), false);
    assert.equal(acl.get('alice')?.canSubscribe('a'), true, 'the rules after the next user line count again');
  });

  it('trims only ASCII blanks, as Mosquitto does: a trailing no-break space is part of the name or filter', () => {
    const acl = loaded('user alice\u00a0\ntopic read a\u00a0\n');
    assert.equal(acl.get('alice'), undefined);
    assert.equal(acl.get('alice\u00a0')?.canSubscribe('a\u00a0'), true);
    assert.equal(acl.get('alice\u00a0')?.canSubscribe('a'), false);
  });

  it('warns, and still converts, where a filter starting with # or + also covers $ topics in psrtd', () => {
    const r = convertMosquittoAcl('user w\ntopic read #\ntopic write +/x\ntopic read a/#\npattern read +/%u\n');
    assert.deepEqual(r.problems, []);
    assert.deepEqual(r.warnings.map((w) => w.line), [2, 3, 5]);
    assert.match(r.warnings[0]?.problem ?? '', /\$SYS/);
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
