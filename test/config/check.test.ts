/**
 * `psrtd --check`: every file a start reads is checked and every problem reported (not only the
 * first), the password and key files with a SIGHUP reload's rules; nothing is bound, so a check
 * next to the running server on the same ports passes; the exit status is the verdict.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runPsrtdToExit, writeConfig, type PsrtdOptions } from '../helpers/psrtd.js';

const HASH = '$2y$05$abcdefghijklmnopqrstuuN1Fo3YzqaF9O3nTuVJoA0d8w8wS5SXe';

describe('psrtd --check', () => {
  let root: string;
  let busy: Server;
  let busyPort = 0;
  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'psrt-check-'));
    busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const a = busy.address();
    busyPort = typeof a === 'object' && a !== null ? a.port : 0;
  });
  after(async () => {
    await new Promise((resolve) => busy.close(resolve));
    rmSync(root, { recursive: true, force: true });
  });

  async function check(name: string, opts: PsrtdOptions): Promise<{ code: number | null; text: string }> {
    const dir = join(root, name);
    mkdirSync(dir);
    return runPsrtdToExit(writeConfig(dir, opts), ['--check']);
  }

  test('a good configuration: exit 0, nothing bound (its port is in use by another process)', async () => {
    const r = await check('good', { passwd: `alice:${HASH}\n`, acl: 'alice:\n  sub: ["#"]\n', proto: { bind: [`127.0.0.1:${String(busyPort)}`] }, mqtt: { bind: [`127.0.0.1:${String(busyPort)}`] } });
    assert.equal(r.code, 0, r.text);
    assert.match(r.text, /configuration check: .*config\.yml is OK\n/);
    assert.doesNotMatch(r.text, /listening/);
  });

  test('a damaged password line (skipped at a start, refused by a reload) is an error naming file and line', async () => {
    const r = await check('damaged', { passwd: `alice:${HASH}\nbob:${HASH.slice(0, 40)}\n` });
    assert.equal(r.code, 1, r.text);
    assert.match(r.text, /passwd:2: the bcrypt hash of bob has 40 characters, not 60/);
    assert.match(r.text, /configuration check: .* has 1 error \(see above\)/);
  });

  test('every problem is reported: TLS files, the ACL, the bridges and the persistence directory', async () => {
    const r = await check('many', {
      acl: '_:\n  sub: [1, 2\n',
      proto: { tls_cert: 'missing.crt', tls_key: 'missing.key' },
      mqtt: { persistence_file: 'no/such/dir/state.bin' },
      extra: 'bridges:\n  list:\n    - name: up\n      type: mqtt\n      servers: [mqtt://127.0.0.1:1]\n      qos: 7\n',
    });
    assert.equal(r.code, 1, r.text);
    assert.match(r.text, /unable to load TLS identity \(proto\.tls_cert: .*missing\.crt/);
    assert.match(r.text, /acl\.yml:3: invalid YAML: Flow sequence/);
    assert.match(r.text, /config\.yml:\d+: bridges\.list\[0\]/);
    assert.match(r.text, /config\.yml:\d+: mqtt\.persistence_file: directory \S*no\/such\/dir of \S* does not exist/);
    assert.match(r.text, /configuration check: .* has 4 errors \(see above\)/);
  });

  test('what a start finds out only at bind time: unix socket owner and group, an MQTT TLS listener without TLS', async () => {
    const r = await check('bind-time', {
      proto: { unix_socket_owner: 'no-such-user-psrt', unix_socket_group: 'no-such-group-psrt' },
      mqtt: { bind_tls: ['127.0.0.1:0'], wss_bind: ['127.0.0.1:0'] },
    });
    assert.equal(r.code, 1, r.text);
    assert.match(r.text, /config\.yml: mqtt\.bind_tls needs a TLS identity/);
    assert.match(r.text, /proto\.unix_socket_owner: unknown owner "no-such-user-psrt"/);
    assert.match(r.text, /configuration check: .* has 2 errors \(see above\)/);
    // proto's TLS files failing are reported once, not again as an MQTT listener without TLS.
    const tls = await check('bind-time-tls', { proto: { tls_cert: 'missing.crt', tls_key: 'missing.key' }, mqtt: { bind_tls: ['127.0.0.1:0'] } });
    assert.match(tls.text, /configuration check: .* has 1 error \(see above\)/);
  });

  test('warnings do not fail the check; a config file that does not parse does', async () => {
    const warned = await check('warned', { passwd: `alice:{SHA}abc\n`, acl: 'alice:\n  sub: ["#"]\n' });
    assert.equal(warned.code, 0, warned.text);
    assert.match(warned.text, /passwd:1: the hash of alice is not a bcrypt hash .*\n.*is OK \(1 warning above\)/);
    const dir = join(root, 'unparsable');
    mkdirSync(dir);
    writeFileSync(join(dir, 'config.yml'), 'server: {}\nproto: [\n');
    const r = await runPsrtdToExit(join(dir, 'config.yml'), ['-t']);
    assert.equal(r.code, 1, r.text);
    assert.match(r.text, /config\.yml:\d+: .*\n.*configuration check: the config file has errors/);
  });
});
