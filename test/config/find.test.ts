import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { AuthStore } from '../../src/auth/index.js';
import { DEFAULT_CONFIG_PATHS, embeddedDefaultConfig, findConfig } from '../../src/config/index.js';
import { createMemoryLogger } from '../../src/log/index.js';
import { ErrorCode, PsrtError } from '../../src/protocol/errors.js';

describe('findConfig (SERVER.md §2.1)', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'psrt-find-'));
  after(() => {
    rmSync(tmp, { recursive: true, force: true });
  });

  it('searches the reference default paths', () => {
    assert.deepEqual(DEFAULT_CONFIG_PATHS, ['/etc/psrtd/config.yml', '/usr/local/etc/psrtd/config.yml']);
  });

  it('an explicit file wins without looking further', () => {
    assert.deepEqual(findConfig('my.yml', [join(tmp, 'none')]), { path: 'my.yml' });
  });

  it('takes the first existing candidate', () => {
    const second = join(tmp, 'second.yml');
    writeFileSync(second, 'x');
    assert.deepEqual(findConfig(undefined, [join(tmp, 'missing.yml'), second]), { path: second });
  });

  it('falls back to the embedded config when nothing exists', () => {
    assert.deepEqual(findConfig(undefined, [join(tmp, 'a.yml'), join(tmp, 'no-dir', 'b.yml')]), { embedded: true });
  });

  it('a read error other than "not found" is fatal', () => {
    const dir = join(tmp, 'is-a-dir.yml');
    mkdirSync(dir);
    assert.throws(
      () => findConfig(undefined, [dir]),
      (e: unknown) => e instanceof PsrtError && e.code === ErrorCode.Config && e.message === `Unable to read ${dir}: is a directory`,
    );
  });
});

describe('embeddedDefaultConfig', () => {
  it('listens on loopback TCP only with the Debian limits', () => {
    const c = embeddedDefaultConfig();
    assert.equal(c.file, undefined);
    assert.deepEqual(c.proto.bind, [{ kind: 'tcp', address: '127.0.0.1:2873', host: '127.0.0.1', port: 2873 }]);
    assert.deepEqual(c.proto.bindUdp, []);
    assert.equal(c.proto.timeout, 10);
    assert.equal(c.proto.allowNoTls, true);
    assert.equal(c.server.dataQueue, 1024);
    assert.equal(c.server.pidFile, undefined);
    assert.equal(c.server.bindStats, undefined);
    assert.equal(c.auth.allowAnonymous, true);
    assert.equal(c.auth.passwordFile, undefined);
    assert.equal(c.cluster, undefined);
  });

  it('its inline ACL grants anonymous everything, and nothing else logs in', async () => {
    const log = createMemoryLogger();
    const store = await AuthStore.load(embeddedDefaultConfig().auth, log);
    assert.deepEqual(log.messages(), ['loading ACL <embedded ACL>']);
    const anon = await store.authenticate('', '');
    assert.ok(anon.ok);
    assert.equal(anon.acl.admin, true);
    assert.equal(anon.acl.canSubscribe('#'), true);
    assert.equal(anon.acl.canPublish('a/b'), true);
    assert.equal((await store.authenticate('user', 'pw')).ok, false);
  });

  it('returns a fresh object each time', () => {
    assert.notEqual(embeddedDefaultConfig(), embeddedDefaultConfig());
  });
});
