import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { FULL_ACCESS, makeAclEntry, parseAclText } from '../../src/auth/index.js';
import { ErrorCode, PsrtError } from '../../src/protocol/errors.js';
import { fixture } from '../config/fixtures.js';

function configError(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof PsrtError, String(e));
    assert.equal(e.code, ErrorCode.Config);
    return e.message;
  }
  assert.fail('expected a PsrtError');
}

describe('parseAclText: the reference test ACL', () => {
  const acl = parseAclText(readFileSync(fixture('acl.yml'), 'utf8'), 'acl.yml');

  it('has every user', () => {
    assert.deepEqual([...acl.keys()].sort(), ['_', 'admin', 'replicator', 'test', 'user1']);
  });

  it('grants `_` everything and admin', () => {
    const e = acl.get('_');
    assert.ok(e);
    assert.equal(e.admin, true);
    assert.equal(e.replicator, false);
    assert.equal(e.canSubscribe('#'), true);
    assert.equal(e.canPublish('a/b'), true);
  });

  it('limits `test` to benchmark/#', () => {
    const e = acl.get('test');
    assert.ok(e);
    assert.equal(e.canPublish('benchmark/x'), true);
    assert.equal(e.canPublish('benchmark'), false); // a/# does not grant a
    assert.equal(e.canPublish('other'), false);
    assert.equal(e.canSubscribe('benchmark/#'), true);
    assert.equal(e.canSubscribe('#'), false);
    assert.equal(e.admin, false);
  });

  it('gives admin only stats and replicator only replication', () => {
    const admin = acl.get('admin');
    const repl = acl.get('replicator');
    assert.ok(admin && repl);
    assert.deepEqual([admin.admin, admin.replicator, admin.canPublish('x'), admin.canSubscribe('x')], [true, false, false, false]);
    assert.deepEqual([repl.admin, repl.replicator, repl.canPublish('x'), repl.canSubscribe('x')], [false, true, false, false]);
  });
});

describe('AclEntry checks', () => {
  it('Decision 2: an ACL + does not allow subscribing #', () => {
    const e = makeAclEntry({ sub: ['data/+', '+'] });
    assert.equal(e.canSubscribe('data/x'), true);
    assert.equal(e.canSubscribe('data/+'), true);
    assert.equal(e.canSubscribe('data/#'), false);
    assert.equal(e.canSubscribe('#'), false);
    assert.equal(e.canSubscribe('x'), true);
  });

  it('checks subscriptions on the raw string', () => {
    const e = makeAclEntry({ sub: ['a/#'] });
    assert.equal(e.canSubscribe('a/b/#'), true);
    assert.equal(e.canSubscribe('a/+'), true);
    assert.equal(e.canSubscribe('a'), false);
    assert.equal(e.canSubscribe('/a/b'), false); // first chunk is empty
  });

  it('publish uses the ACL mask matcher (+ matches one level, even empty)', () => {
    const e = makeAclEntry({ pub: ['plant/+/temp'] });
    assert.equal(e.canPublish('plant/1/temp'), true);
    assert.equal(e.canPublish('plant//temp'), true);
    assert.equal(e.canPublish('plant/1/2/temp'), false);
  });

  it('an entry without lists denies everything', () => {
    const e = makeAclEntry({});
    assert.equal(e.canSubscribe('#'), false);
    assert.equal(e.canPublish('a'), false);
    assert.equal(e.admin, false);
  });

  it('FULL_ACCESS allows everything (Unix sockets)', () => {
    assert.equal(FULL_ACCESS.admin, true);
    assert.equal(FULL_ACCESS.replicator, true);
    assert.equal(FULL_ACCESS.canSubscribe('#'), true);
    assert.equal(FULL_ACCESS.canSubscribe('a/#/b'), true);
    assert.equal(FULL_ACCESS.canPublish('any/topic'), true);
  });
});

describe('parseAclText: accepted shapes', () => {
  it('treats `user: {}`, `user:` and empty lists as granting nothing', () => {
    const acl = parseAclText('a: {}\nb:\nc:\n  sub: []\n  pub:\n', 'acl.yml');
    for (const u of ['a', 'b', 'c']) {
      const e = acl.get(u);
      assert.ok(e, u);
      assert.equal(e.canSubscribe('x'), false);
      assert.equal(e.canPublish('x'), false);
    }
  });

  it('reads an empty file as an empty ACL (nobody can log in)', () => {
    assert.equal(parseAclText('', 'acl.yml').size, 0);
    assert.equal(parseAclText('# only a comment\n', 'acl.yml').size, 0);
  });

  it('keeps user names with dots or digits', () => {
    const acl = parseAclText('"a.b": {admin: true}\n123: {admin: true}\n', 'acl.yml');
    assert.equal(acl.get('a.b')?.admin, true);
    assert.equal(acl.get('123')?.admin, true);
  });
});

describe('parseAclText: rejected files name file, line, user and key', () => {
  it('unknown key', () => {
    const msg = configError(() => parseAclText(readFileSync(fixture('bad/acl-unknown-key.yml'), 'utf8'), '/etc/acl.yml'));
    assert.equal(msg, '/etc/acl.yml:3: user "bob": subs: unknown key');
  });

  it('empty mask', () => {
    const msg = configError(() => parseAclText(readFileSync(fixture('bad/acl-empty-mask.yml'), 'utf8'), 'acl.yml'));
    assert.equal(msg, 'acl.yml:2: user "bob": pub[1]: must not be empty');
  });

  it('mask list that is not a list', () => {
    const msg = configError(() => parseAclText(readFileSync(fixture('bad/acl-not-list.yml'), 'utf8'), 'acl.yml'));
    assert.equal(msg, 'acl.yml:2: user "bob": sub: expected a list of topic masks, got "#"');
  });

  it('non-string mask and non-boolean flags', () => {
    assert.equal(
      configError(() => parseAclText('bob:\n  sub: [1]\n', 'acl.yml')),
      'acl.yml:2: user "bob": sub[0]: expected a string, got 1',
    );
    assert.equal(
      configError(() => parseAclText('bob:\n  admin: "yes"\n', 'acl.yml')),
      'acl.yml:2: user "bob": admin: expected true or false, got "yes"',
    );
  });

  it('entry that is not a mapping, file that is not a mapping', () => {
    assert.equal(configError(() => parseAclText('bob: 5\n', 'acl.yml')), 'acl.yml:1: user "bob": expected a mapping, got 5');
    assert.equal(configError(() => parseAclText('- a\n- b\n', 'acl.yml')), 'acl.yml: expected a mapping, got a list');
  });

  it('invalid YAML and duplicate users', () => {
    assert.match(configError(() => parseAclText('bob: {sub: [a\n', 'acl.yml')), /^acl\.yml:2: invalid YAML: /);
    assert.equal(configError(() => parseAclText('bob: {}\nbob: {}\n', 'acl.yml')), 'acl.yml:2: invalid YAML: Map keys must be unique (column 1)');
    // The parser's message ends with its position and a colon that introduced a code excerpt
    // (dropped, it spans lines): the one log line is file:line first, the column last.
    const tab = configError(() => parseAclText('bob:\n  sub: ["#"]\n\tpub: ["#"]\n', 'acl.yml'));
    assert.equal(tab, 'acl.yml:3: invalid YAML: Tabs are not allowed as indentation (column 1)');
  });

  it('reports every problem at once', () => {
    const msg = configError(() => parseAclText('a:\n  x: 1\nb:\n  sub: [""]\n', 'acl.yml'));
    assert.equal(msg, 'acl.yml:2: user "a": x: unknown key; acl.yml:4: user "b": sub[0]: must not be empty');
  });
});

describe('parseAclText: lines of entries further down a file', () => {
  const text = [
    '# operators', //                1
    'admin:', //                     2
    '  admin: true', //              3
    '  sub: ["#"]', //               4
    '', //                           5
    '# sensors publish readings', // 6
    'sensor.1:', //                  7
    '  pub:', //                     8
    '    - plant/+/temp', //         9
    '    - ""', //                  10
    '  replicator: no', //          11
    'viewer:', //                   12
    '  sub: ["plant/#"]', //        13
    '  pubs: []', //                14
  ].join('\n');

  it('each problem names the line of its own key or list element', () => {
    assert.equal(
      configError(() => parseAclText(text, 'acl.yml')),
      'acl.yml:10: user "sensor.1": pub[1]: must not be empty; ' +
        'acl.yml:11: user "sensor.1": replicator: expected true or false, got "no"; ' +
        'acl.yml:14: user "viewer": pubs: unknown key',
    );
  });
});

describe('parseAclText: odd user names', () => {
  it('keeps users named like Object.prototype members', () => {
    const acl = parseAclText('__proto__: {admin: true}\nconstructor: {pub: ["#"]}\n', 'acl.yml');
    assert.equal(acl.get('__proto__')?.admin, true);
    assert.equal(acl.get('constructor')?.canPublish('x'), true);
    assert.equal(({} as { admin?: boolean }).admin, undefined);
  });
});
