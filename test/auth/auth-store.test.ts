import { strict as assert } from 'node:assert';
import { appendFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { AuthStore, type AuthSources } from '../../src/auth/index.js';
import { ErrorCode, PsrtError } from '../../src/protocol/errors.js';
import { createMemoryLogger, type MemoryLogger } from '../../src/log/index.js';
import { fixtureCopy } from '../config/fixtures.js';

/** A password file entry for `ghost` (password 123) who has no ACL entry. */
const GHOST = 'ghost:$2y$05$HcAYOQupJfPKA7YPd6n7H.pXZL.VtDC.asPYnjbSSAguMm1jd3Yoq\n';

describe('AuthStore', () => {
  let dir = '';
  let cleanup: () => void = () => undefined;
  let log: MemoryLogger;
  let sources: AuthSources;

  beforeEach(() => {
    ({ dir, cleanup } = fixtureCopy());
    log = createMemoryLogger();
    sources = {
      acl: { kind: 'file', path: join(dir, 'acl.yml') },
      passwordFile: join(dir, 'passwd'),
      keyFile: join(dir, 'keys.yml'),
      allowAnonymous: true,
    };
  });
  afterEach(() => {
    cleanup();
  });

  it('loads ACL, passwords and keys, logging each file', async () => {
    const store = await AuthStore.load(sources, log);
    assert.deepEqual(log.messages(), [
      `loading ACL ${join(dir, 'acl.yml')}`,
      `loading password file ${join(dir, 'passwd')}`,
      `loading key file ${join(dir, 'keys.yml')}`,
    ]);
    assert.equal(store.generation, 0);
    assert.equal(store.snapshot.acl.size, 5);
    assert.equal(store.snapshot.passwords.size, 4);
    assert.equal(store.keyFor('user1')?.length, 32);
    assert.equal(store.keyFor('')?.toString('hex'), store.keyFor('_')?.toString('hex'));
    assert.equal(store.keyFor('test'), undefined);
  });

  it('authenticates per the TCP rule', async () => {
    writeFileSync(join(dir, 'passwd'), GHOST, { flag: 'a' });
    const store = await AuthStore.load(sources, log);
    const ok = await store.authenticate('test', '123');
    assert.ok(ok.ok);
    assert.equal(ok.user, 'test');
    assert.equal(ok.acl.canPublish('benchmark/1'), true);
    assert.deepEqual(await store.authenticate('test', 'bad'), { ok: false, code: 'LoginFailed', message: 'login failed for test' });
    assert.deepEqual(await store.authenticate('nobody', '123'), { ok: false, code: 'LoginFailed', message: 'login failed for nobody' });
    assert.deepEqual(await store.authenticate('ghost', '123'), { ok: false, code: 'NoAcl', message: 'No ACL for ghost' });
    const anon = await store.authenticate('', '');
    assert.ok(anon.ok);
    assert.equal(anon.user, '_');
    assert.equal(anon.acl.admin, true);
  });

  it('checks a password even when only one of login/password is empty', async () => {
    const store = await AuthStore.load(sources, log);
    assert.equal((await store.authenticate('test', '')).ok, false);
    assert.equal((await store.authenticate('', '123')).ok, false);
  });

  it('refuses anonymous logins when not allowed, and without a `_` entry', async () => {
    const closed = await AuthStore.load({ ...sources, allowAnonymous: false }, log);
    assert.deepEqual(await closed.authenticate('', ''), { ok: false, code: 'AnonymousDisabled', message: 'anonymous login failed' });
    writeFileSync(join(dir, 'acl.yml'), 'user1: {sub: ["#"]}\n');
    const noAnon = await AuthStore.load(sources, log);
    assert.deepEqual(await noAnon.authenticate('', ''), { ok: false, code: 'NoAcl', message: 'No ACL for anonymous' });
  });

  it('authenticateCertificate: the CN needs an ACL entry, no password; `_` and an empty CN are refused', async () => {
    writeFileSync(join(dir, 'acl.yml'), '_: {sub: ["#"]}\ndevice-7: {sub: ["plant/#"]}\n');
    const store = await AuthStore.load(sources, log);
    const ok = store.authenticateCertificate('device-7');
    assert.ok(ok.ok);
    assert.equal(ok.user, 'device-7');
    assert.deepEqual(store.authenticateCertificate('ghost'), { ok: false, code: 'NoAcl', message: 'No ACL for ghost' });
    for (const reserved of ['_', '']) {
      const r = store.authenticateCertificate(reserved);
      assert.ok(!r.ok && r.code === 'NoAcl' && r.message.includes('reserved for anonymous'), JSON.stringify(r));
    }
  });

  it('authenticateNow decides anonymous logins and remembered passwords without waiting', async () => {
    writeFileSync(join(dir, 'passwd'), GHOST, { flag: 'a' });
    const store = await AuthStore.load(sources, log);
    const anon = store.authenticateNow('', '');
    assert.ok(anon?.ok === true);
    assert.equal(anon.user, '_');
    // Passwords not verified yet need bcrypt: undefined (the caller awaits authenticate()).
    assert.equal(store.authenticateNow('test', '123'), undefined);
    assert.equal(store.authenticateNow('nobody', '123'), undefined);
    assert.ok((await store.authenticate('test', '123')).ok);
    const now = store.authenticateNow('test', '123');
    assert.ok(now?.ok === true);
    assert.equal(now.user, 'test');
    assert.equal(now.acl.canPublish('benchmark/1'), true);
    assert.equal(store.authenticateNow('test', 'bad'), undefined);
    // A remembered password without an ACL entry is decided too, as NoAcl.
    assert.equal((await store.authenticate('ghost', '123')).ok, false);
    assert.deepEqual(store.authenticateNow('ghost', '123'), { ok: false, code: 'NoAcl', message: 'No ACL for ghost' });
    const closed = await AuthStore.load({ ...sources, allowAnonymous: false }, log);
    assert.deepEqual(closed.authenticateNow('', ''), { ok: false, code: 'AnonymousDisabled', message: 'anonymous login failed' });
  });

  it('authenticateNow follows a reload: a changed password is not remembered, a removed ACL entry is refused', async () => {
    const store = await AuthStore.load(sources, log);
    assert.ok((await store.authenticate('test', '123')).ok);
    assert.ok(store.authenticateNow('test', '123')?.ok === true);
    const acl = readFileSync(join(dir, 'acl.yml'), 'utf8').replace(/^test:/m, 'renamed:');
    writeFileSync(join(dir, 'acl.yml'), acl);
    assert.equal(await store.reload(), true);
    assert.deepEqual(store.authenticateNow('test', '123'), { ok: false, code: 'NoAcl', message: 'No ACL for test' });
    // test gets another hash (user1's): what was remembered for the old one no longer counts.
    const passwd = readFileSync(join(dir, 'passwd'), 'utf8');
    const user1Hash = /^user1:(.*)$/m.exec(passwd)?.[1] ?? '';
    writeFileSync(join(dir, 'passwd'), passwd.replace(/^test:.*$/m, `test:${user1Hash}`));
    assert.equal(await store.reload(), true);
    assert.equal(store.authenticateNow('test', '123'), undefined); // a new hash: bcrypt again
  });

  it('verifies HTTP passwords and exposes current ACL entries', async () => {
    const store = await AuthStore.load(sources, log);
    assert.equal(await store.verifyPassword('admin', '123'), true);
    assert.equal(await store.verifyPassword('admin', '1234'), false);
    assert.equal(store.aclFor('admin')?.admin, true);
    assert.equal(store.aclFor('nobody'), undefined);
  });

  it('fails startup when the ACL cannot be read or parsed', async () => {
    rmSync(join(dir, 'acl.yml'));
    await assert.rejects(AuthStore.load(sources, log), (e: unknown) => {
      assert.ok(e instanceof PsrtError);
      assert.equal(e.code, ErrorCode.Config);
      assert.equal(e.message, `${join(dir, 'acl.yml')}: no such file or directory`);
      return true;
    });
    writeFileSync(join(dir, 'acl.yml'), 'bob:\n  sub: "#"\n');
    await assert.rejects(AuthStore.load(sources, log), /acl\.yml:2: user "bob": sub: expected a list/);
  });

  it('only logs password and key file failures at startup', async () => {
    rmSync(join(dir, 'passwd'));
    writeFileSync(join(dir, 'keys.yml'), '- not a mapping\n');
    const store = await AuthStore.load(sources, log);
    assert.deepEqual(log.messages('error'), [
      `Unable to load config: ${join(dir, 'passwd')}: no such file or directory`,
      `Unable to load config: ${join(dir, 'keys.yml')}: expected a mapping of user: key, got a list`,
    ]);
    assert.equal((await store.authenticate('test', '123')).ok, false);
    assert.equal((await store.authenticate('', '')).ok, true);
    assert.equal(store.keyFor('user1'), undefined);
  });

  it('works without password and key files', async () => {
    const store = await AuthStore.load({ acl: sources.acl, allowAnonymous: true }, log);
    assert.deepEqual(log.messages(), [`loading ACL ${join(dir, 'acl.yml')}`]);
    assert.equal((await store.authenticate('test', '123')).ok, false);
    assert.equal(store.keyFor(''), undefined);
  });

  it('loads an inline ACL without a file', async () => {
    const store = await AuthStore.load(
      { acl: { kind: 'inline', name: '<embedded ACL>', text: '_: {sub: ["#"], pub: ["#"], admin: true}\n' }, allowAnonymous: true },
      log,
    );
    assert.deepEqual(log.messages(), ['loading ACL <embedded ACL>']);
    assert.equal(store.aclFor('_')?.admin, true);
  });

  it('reload swaps ACL, passwords and keys; old entries stay usable by sessions', async () => {
    const store = await AuthStore.load(sources, log);
    const sessionAcl = store.aclFor('user1');
    writeFileSync(join(dir, 'acl.yml'), '_: {sub: ["#"]}\ntest: {pub: ["x"]}\n');
    writeFileSync(join(dir, 'passwd'), readFileSync(join(dir, 'passwd'), 'utf8').replace(/^test:.*$/m, 'test:$2y$05$7UnTXAeiFIdCSFI/s6or2eYTohZF0MRtssboLGSwXgASRpdL6tKKK'));
    log.clear();
    assert.equal(await store.reload(), true);
    assert.equal(store.generation, 1);
    assert.equal(store.aclFor('user1'), undefined);
    assert.equal(store.keyFor('user1'), undefined); // keys are checked against the new ACL
    assert.ok(log.messages('warn').includes('No ACL defined for the key user1'));
    assert.equal(sessionAcl?.canPublish('a'), true);
    assert.equal((await store.authenticate('test', '123')).ok, false);
    const now = await store.authenticate('test', 'xxx');
    assert.ok(now.ok);
    assert.equal(now.acl.canPublish('x'), true);
  });

  it('reload gives a changed key at once, drops a removed one, and leaves views of the old keys alone', async () => {
    const store = await AuthStore.load(sources, log);
    const oldUser1 = store.keyFor('user1');
    const oldAnon = store.keyFor('_');
    const user1Hex = oldUser1?.toString('hex');
    const anonHex = oldAnon?.toString('hex');
    // user1 first now (the slot `_` had) with a new key; `_` removed.
    const fresh = 'ab'.repeat(16) + 'cd'.repeat(16);
    writeFileSync(join(dir, 'keys.yml'), `user1: ${fresh}\n`);
    assert.equal(await store.reload(), true);
    assert.equal(store.keyFor('user1')?.toString('hex'), fresh);
    assert.equal(store.keyFor('_'), undefined);
    assert.equal(store.keyFor(''), undefined);
    assert.equal(store.snapshot.keys.size, 1);
    assert.equal(oldUser1?.toString('hex'), user1Hex, 'a view from before the reload keeps its bytes');
    assert.equal(oldAnon?.toString('hex'), anonHex);
  });

  it('reload keeps everything when the new ACL is broken', async () => {
    const store = await AuthStore.load(sources, log);
    const before = store.snapshot;
    writeFileSync(join(dir, 'acl.yml'), 'user1: {sub: [oops\n');
    rmSync(join(dir, 'passwd'));
    log.clear();
    assert.equal(await store.reload(), false);
    assert.equal(store.snapshot, before);
    assert.equal(store.generation, 0);
    const [err] = log.messages('error');
    assert.match(err ?? '', new RegExp(`^ACL reload failed: ${join(dir, 'acl.yml')}:\\d+: invalid YAML: `));
    assert.equal((await store.authenticate('test', '123')).ok, true);
  });

  it('reload with a missing ACL file keeps the old ACL (never an open door)', async () => {
    const store = await AuthStore.load(sources, log);
    rmSync(join(dir, 'acl.yml'));
    assert.equal(await store.reload(), false);
    assert.equal(store.aclFor('user1')?.canSubscribe('#'), true);
    assert.ok(log.messages('error').includes(`ACL reload failed: ${join(dir, 'acl.yml')}: no such file or directory`));
  });

  it('reload swaps nothing when the password or key file fails, and names the file', async () => {
    const store = await AuthStore.load(sources, log);
    appendFileSync(join(dir, 'acl.yml'), 'extra: {}\n');
    rmSync(join(dir, 'passwd'));
    log.clear();
    assert.equal(await store.reload(), false);
    assert.equal(store.generation, 0);
    assert.equal(store.aclFor('extra'), undefined, 'the new ACL is not installed either');
    assert.equal((await store.authenticate('test', '123')).ok, true);
    assert.match(log.messages('error')[0] ?? '', new RegExp(`^reload failed, the previous ACL, password and key files stay in force: ${join(dir, 'passwd')}: no such file`));
    writeFileSync(join(dir, 'passwd'), 'test:$2y$05$abc\ngarbage line\n');
    log.clear();
    assert.equal(await store.reload(), false);
    assert.match(log.messages('error')[0] ?? '', new RegExp(`${join(dir, 'passwd')}:1: the bcrypt hash of test has 10 characters, not 60 \\(and 1 more\\)$`));
    assert.equal((await store.authenticate('test', '123')).ok, true, 'old passwords still in force');
    writeFileSync(join(dir, 'keys.yml'), '{broken\n');
    assert.equal(await store.reload(), false);
    assert.equal(store.keyFor('user1')?.length, 32);
  });

  it('reload refuses an ACL, password or key file that is empty (caught mid-write), keeping everything', async () => {
    // `htpasswd` and config tools rewrite files in place: a SIGHUP at that moment reads 0 bytes,
    // which parses as "no users" and would lock every user out. A file with only a comment is
    // a deliberate empty list and is accepted.
    for (const file of ['acl.yml', 'passwd', 'keys.yml']) {
      const original = readFileSync(join(dir, file), 'utf8');
      const store = await AuthStore.load(sources, log);
      const before = store.snapshot;
      writeFileSync(join(dir, file), '\n');
      log.clear();
      assert.equal(await store.reload(), false, file);
      assert.equal(store.snapshot, before, file);
      assert.match(log.messages('error')[0] ?? '', new RegExp(`${join(dir, file)}: the file is empty`), file);
      assert.equal((await store.authenticate('test', '123')).ok, true, file);
      writeFileSync(join(dir, file), '# nobody\n');
      assert.equal(await store.reload(), true, `${file} with a comment only`);
      writeFileSync(join(dir, file), original);
    }
  });

  it('reload takes an empty file that was empty before (the password file a fresh install ships)', async () => {
    for (const file of ['passwd', 'keys.yml']) {
      const original = readFileSync(join(dir, file), 'utf8');
      writeFileSync(join(dir, file), '');
      const store = await AuthStore.load(sources, log);
      log.clear();
      assert.equal(await store.reload(), true, `${file}: ${log.messages('error').join('; ')}`);
      assert.equal(log.messages('error').length, 0, file);
      writeFileSync(join(dir, file), original);
      assert.equal(await store.reload(), true, file);
      writeFileSync(join(dir, file), ' \n');
      assert.equal(await store.reload(), false, `${file}: emptied after it had entries`);
      writeFileSync(join(dir, file), original);
    }
  });

  it('serialises concurrent reloads; calls made while one waits join it, and it reads the files as they are when it starts', async () => {
    const store = await AuthStore.load(sources, log);
    const first = store.reload();
    await new Promise((r) => setImmediate(r)); // the first is reading the files
    appendFileSync(join(dir, 'acl.yml'), '\nlate:\n  sub: ["x"]\n');
    const burst = [store.reload(), store.reload(), store.reload()];
    assert.deepEqual(await Promise.all([first, ...burst]), [true, true, true, true]);
    assert.equal(store.generation, 2, 'one read for the first call, one for the three that waited');
    assert.ok(store.aclFor('late') !== undefined, 'the edit made after the first read started is in force');
    assert.equal(await store.reload(), true);
    assert.equal(store.generation, 3, 'a call after the burst reads again');
  });
});
