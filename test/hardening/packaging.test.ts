/**
 * packaging/ (issue 7 item 5): the systemd unit has the promised directives, and the example
 * /etc/psrtd layout runs: copied to a temp dir (binds, pid file and socket moved there), with a
 * user added by an htpasswd line, psrtd started as the unit starts it (the launcher itself, so
 * its shebang applies the runtime settings) starts, enforces acl.yml, and the documented password
 * rotation (edit psrt-passwd, then SIGHUP = `systemctl reload psrtd`) works without downtime.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { hashSync } from '@node-rs/bcrypt';
import { parseAclText } from '../../src/auth/acl.js';
import { parseHtpasswd } from '../../src/auth/htpasswd.js';
import { loadConfigFile } from '../../src/config/load.js';
import { PSRTD_BIN, REPO_ROOT, runPsrtdToExit } from '../helpers/psrtd.js';
import { hex, login, publishFrame } from '../helpers/raw.js';
import { sleep } from '../../scripts/lib/hardening/proc.js';

const PACKAGING = join(REPO_ROOT, 'packaging');
const ETC = join(PACKAGING, 'etc-psrtd');

describe('packaging', () => {
  test('psrtd.service: simple service as psrt, HUP reload, restart on failure, hardened', () => {
    const unit = readFileSync(join(PACKAGING, 'psrtd.service'), 'utf8');
    const directives = new Map<string, string[]>();
    for (const line of unit.split('\n')) {
      const m = /^([A-Za-z]+)=(.*)$/.exec(line);
      if (m?.[1] !== undefined) directives.set(m[1], [...(directives.get(m[1]) ?? []), m[2] ?? '']);
    }
    const one = (k: string): string | undefined => directives.get(k)?.[0];
    assert.equal(one('Type'), 'simple');
    assert.equal(one('User'), 'psrt');
    assert.equal(one('RuntimeDirectory'), 'psrtd');
    // Writable under ProtectSystem=strict: where mqtt.persistence_file goes (docs/mqtt.md).
    assert.equal(one('StateDirectory'), 'psrtd');
    // Executed directly: the launcher's shebang carries the runtime settings (checked below).
    assert.equal(one('ExecStart'), '/opt/psrt-node/bin/psrtd.js -C /etc/psrtd/config.yml');
    // The check first: systemd runs ExecReload lines in order and stops at a failing one.
    assert.deepEqual(directives.get('ExecReload'), ['/opt/psrt-node/bin/psrtd.js --check -C /etc/psrtd/config.yml', '/bin/kill -HUP $MAINPID']);
    assert.equal(one('Restart'), 'on-failure');
    for (const [k, v] of [['NoNewPrivileges', 'yes'], ['ProtectSystem', 'strict'], ['PrivateTmp', 'yes'], ['ReadWritePaths', '/run/psrtd']]) {
      assert.equal(one(k ?? ''), v, k);
    }
    assert.ok(Number(one('LimitNOFILE')) > 10_000, 'LimitNOFILE large: the default max_connections follows it');
    assert.ok(!directives.has('MemoryDenyWriteExecute'), 'V8 needs W+X memory');
  });

  test('etc-psrtd: config.yml, acl.yml and the empty psrt-passwd load', () => {
    const config = loadConfigFile(join(ETC, 'config.yml'));
    assert.equal(config.auth.allowAnonymous, false);
    assert.equal(config.server.pidFile, '/run/psrtd/psrtd.pid');
    const acl = parseAclText(readFileSync(join(ETC, 'acl.yml'), 'utf8'), 'acl.yml');
    assert.deepEqual([...acl.keys()].sort(), ['ops', 'sensor1', 'viewer']);
    assert.equal(parseHtpasswd(readFileSync(join(ETC, 'psrt-passwd'), 'utf8')).size, 0);
  });

  test('etc-psrtd: psrtd --check passes on the shipped files (the unit runs it at every reload)', async () => {
    const r = await runPsrtdToExit(join(ETC, 'config.yml'), ['--check']);
    assert.equal(r.code, 0, r.text);
    assert.match(r.text, /configuration check: .*config\.yml is OK\n/);
  });

  test('the example layout runs; a password is rotated with SIGHUP without dropping sessions', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'psrtd-etc-'));
    for (const f of ['acl.yml', 'psrt-passwd']) copyFileSync(join(ETC, f), join(dir, f));
    const config = readFileSync(join(ETC, 'config.yml'), 'utf8')
      .replace('0.0.0.0:2873\n', '127.0.0.1:0\n')
      .replace('/run/psrtd/psrtd.sock', join(dir, 'psrtd.sock'))
      .replace('bind_udp: 0.0.0.0:2873', 'bind_udp: 127.0.0.1:0')
      .replace('/run/psrtd/psrtd.pid', join(dir, 'psrtd.pid'))
      .replace('127.0.0.1:8880', '127.0.0.1:0');
    writeFileSync(join(dir, 'config.yml'), config);
    writeFileSync(join(dir, 'psrt-passwd'), `sensor1:${hashSync('old-secret', 4).replace(/^\$2b\$/, '$2y$')}\n`);
    const { proc, port } = await spawnOn(join(dir, 'config.yml'));
    try {
      // Started like ExecStart, through the shebang: node runs with the shipped settings.
      const cmdline = readFileSync(`/proc/${String(proc.pid)}/cmdline`, 'utf8').split('\0');
      assert.ok(cmdline.includes('--max-semi-space-size=1'), cmdline.join(' '));
      assert.ok(cmdline.includes('--single-threaded-gc'), cmdline.join(' '));
      const environ = readFileSync(`/proc/${String(proc.pid)}/environ`, 'utf8').split('\0');
      assert.ok(environ.includes('MALLOC_TRIM_THRESHOLD_=268435456'), 'glibc keeps freed memory');
      assert.ok(environ.includes('MALLOC_MMAP_THRESHOLD_=33554432'));
      const before = (await login(port, 'sensor1', 'old-secret')).ctl;
      before.send(Buffer.concat([publishFrame('plant1/sensors/t1', '21.5'), publishFrame('alarms', 'x')]));
      assert.deepEqual(await before.read(2), hex('01 FE'), 'acl.yml: sensor1 publishes its readings only');
      writeFileSync(join(dir, 'psrt-passwd'), `sensor1:${hashSync('new-secret', 4)}\n`); // htpasswd -B
      proc.kill('SIGHUP'); // systemctl reload psrtd
      await waitUntil(async () => (await tryLogin(port, 'sensor1', 'new-secret')) === 'ok', 5000);
      assert.equal(await tryLogin(port, 'sensor1', 'old-secret'), 'refused');
      before.send(publishFrame('plant1/sensors/t1', '21.6'));
      assert.deepEqual(await before.read(1), hex('01'), 'the session opened before the rotation continues');
      before.destroy();
    } finally {
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

async function spawnOn(config: string): Promise<{ proc: ChildProcess; port: number }> {
  const proc = spawn(PSRTD_BIN, ['-C', config], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, INVOCATION_ID: 'test' } });
  let out = '';
  proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`psrtd did not start: ${out}`)); }, 10_000);
    proc.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on TCP 127\.0\.0\.1:(\d+)/.exec(out);
      if (m !== null && out.includes('starting server')) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
  });
  return { proc, port };
}

async function tryLogin(port: number, user: string, password: string): Promise<'ok' | 'refused'> {
  try {
    (await login(port, user, password)).ctl.destroy();
    return 'ok';
  } catch {
    return 'refused';
  }
}

async function waitUntil(cond: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const t0 = performance.now();
  while (!(await cond())) {
    if (performance.now() - t0 > timeoutMs) throw new Error('condition not met in time');
    await sleep(100);
  }
}

