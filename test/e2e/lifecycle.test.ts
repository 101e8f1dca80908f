/** psrtd process life cycle: command line, config errors, SIGHUP reload, shutdown, pid file. */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { freePort } from '../helpers/ports.js';
import { PSRTD_BIN, startPsrtd } from '../helpers/psrtd.js';
import { RawConn, attachData, deliveredFrame, hex, login, publishFrame, topicsFrame } from '../helpers/raw.js';
import { PASSWORD, makePasswd } from '../helpers/users.js';

function run(args: string[], timeoutMs = 10000): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, [PSRTD_BIN, ...args], { encoding: 'utf8', timeout: timeoutMs });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('command line', () => {
  test('-V prints the version, -h the help', () => {
    assert.match(run(['-V']).out, /^PSRT 0\.3\.6/);
    const help = run(['-h']);
    assert.equal(help.status, 0);
    for (const opt of ['-C, --config', '-v', '-d', '--log-syslog', '-V, --version']) assert.ok(help.out.includes(opt), opt);
  });

  test('config errors exit non-zero naming file, line, key and problem', () => {
    const dir = mkdtempSync(join(tmpdir(), 'psrtd-cfg-'));
    try {
      writeFileSync(join(dir, 'acl.yml'), '_: {}\n');
      const base = 'server:\n  data_queue: 8\nproto:\n  bind: 127.0.0.1:0\n  bind_udp: []\n  allow_no_tls: true\nauth:\n  allow_anonymous: true\n  acl: acl.yml\n';
      const at = (line: number): string => `psrtd: ${join(dir, 'config.yml')}:${line}: `.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
      const bridge = `${base}bridges:\n  list:\n    - name: x\n      type: nats\n      servers: y\n      bogus: 1\n`;
      const cases: [string, RegExp][] = [
        [base.replace('data_queue: 8', 'data_queu: 8'), new RegExp(`${at(2)}server\\.data_queu: unknown key$`, 'm')],
        [base.replace('data_queue: 8', 'data_queue: ten'), new RegExp(`${at(2)}server\\.data_queue: expected an integer, got "ten"$`, 'm')],
        [base.replace('data_queue: 8', 'data_queue: 0'), new RegExp(`${at(2)}server\\.data_queue: must be at least 1`, 'm')],
        [base.replace('  allow_no_tls: true\n', ''), new RegExp(`${at(3)}proto\\.allow_no_tls: required key is missing$`, 'm')],
        [bridge, new RegExp(`${at(15)}bridges\\.list\\[0\\]\\.bogus: unknown key$`, 'm')], // checked later, in bin/bridges.ts
        [base.replace('acl: acl.yml', 'acl: missing.yml'), new RegExp(`${at(9)}auth\\.acl: cannot read .*missing\\.yml \\(no such file or directory\\)$`, 'm')],
        ['server: [\n', new RegExp(`${at(2)}invalid YAML: .* \\(column \\d+\\)$`, 'm')],
      ];
      for (const [text, pattern] of cases) {
        writeFileSync(join(dir, 'config.yml'), text);
        const r = run(['-C', join(dir, 'config.yml')]);
        assert.equal(r.status, 1, `exit status for ${pattern}: ${r.out}`);
        assert.match(r.out, pattern);
      }
      const missing = run(['-C', join(dir, 'nope.yml')]);
      assert.equal(missing.status, 1);
      assert.match(missing.out, /nope\.yml/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a port already in use is a clear start-up error', async () => {
    const first = await startPsrtd();
    try {
      const dir = mkdtempSync(join(tmpdir(), 'psrtd-cfg-'));
      writeFileSync(join(dir, 'acl.yml'), '_: {}\n');
      writeFileSync(join(dir, 'c.yml'), `server: {}\nproto:\n  bind: 127.0.0.1:${first.port}\n  allow_no_tls: true\nauth:\n  allow_anonymous: true\n  acl: acl.yml\n`);
      const r = run(['-C', join(dir, 'c.yml')]);
      rmSync(dir, { recursive: true, force: true });
      assert.equal(r.status, 1);
      // Names the configured entry, not only Node's error (which does not say which listener).
      assert.match(r.out, new RegExp(`unable to bind TCP socket to 127\\.0\\.0\\.1:${first.port}: .*(EADDRINUSE|address already in use)`, 'i'));
    } finally {
      await first.stop();
    }
  });
});

describe('embedded default config', () => {
  test('without -C and without default files psrtd listens on 127.0.0.1:2873 with anonymous access', async (t) => {
    const probe = await RawConn.open(2873).catch(() => null);
    if (probe !== null) {
      probe.destroy();
      t.skip('port 2873 is in use on this machine');
      return;
    }
    if (existsSync('/etc/psrtd/config.yml') || existsSync('/usr/local/etc/psrtd/config.yml')) {
      t.skip('a system config exists at a default path');
      return;
    }
    const proc = spawn(process.execPath, [PSRTD_BIN], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    try {
      for (let i = 0; i < 100 && !out.includes('starting server'); i++) await new Promise((r) => setTimeout(r, 50));
      assert.match(out, /listening on TCP 127\.0\.0\.1:2873/);
      const { ctl, token } = await login(2873);
      const data = await attachData(2873, token, 255);
      ctl.send(Buffer.concat([topicsFrame(2, ['#']), publishFrame('x', 'y')]));
      assert.deepEqual(await ctl.read(2), hex('01 01'));
      const f = deliveredFrame('x', 'y');
      assert.deepEqual(await data.read(f.length), f);
      ctl.destroy();
      data.destroy();
    } finally {
      proc.kill('SIGINT');
      await new Promise((r) => proc.once('exit', r));
    }
  });
});

describe('signals', () => {
  test('SIGTERM/SIGINT: listeners closed, unix socket and pid file removed, exit 0 within 2 s', async () => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      const dir = mkdtempSync(join(tmpdir(), 'psrtd-pid-'));
      const pidFile = join(dir, 'psrtd.pid');
      const server = await startPsrtd({ unix: true, server: { pid_file: pidFile } });
      await server.waitForLog(/creating pid file/);
      for (let i = 0; i < 50 && !existsSync(pidFile); i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(readFileSync(pidFile, 'utf8'), String(server.proc.pid));
      const { ctl } = await login(server.port);
      const unixPath = server.unixPath ?? '';
      assert.ok(existsSync(unixPath));
      const t0 = performance.now();
      const code = await server.stop(signal, true);
      assert.equal(code, 0);
      assert.ok(performance.now() - t0 < 2000);
      assert.ok(!existsSync(pidFile), 'pid file removed');
      assert.ok(!existsSync(unixPath), 'unix socket removed');
      server.removeDir();
      await ctl.expectClose();
      if (signal === 'SIGTERM') assert.ok(server.output.some((l) => l.includes('terminating')));
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('an unwritable pid file exits 1 and removes the unix socket', async () => {
    const server = await startPsrtd({ unix: true, server: { pid_file: '/nonexistent-dir/psrtd.pid' } });
    const unixPath = server.unixPath ?? '';
    await server.waitForLog(/unable to write pid file/);
    for (let i = 0; i < 100 && server.proc.exitCode === null; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(await server.stop('SIGKILL', true), 1);
    assert.ok(!existsSync(unixPath), 'unix socket removed');
    server.removeDir();
  });
});

describe('SIGHUP reload', () => {
  test('reloads ACL and passwords atomically; a broken ACL keeps the old rules; sessions keep their ACL', async () => {
    const acl1 = 'user1:\n  sub: ["a/#"]\n  pub: ["a/#"]\n';
    const server = await startPsrtd({ acl: acl1, passwd: makePasswd().replace(/^limited:/m, 'user1:'), auth: { allow_anonymous: false } });
    try {
      const before = (await login(server.port, 'user1', PASSWORD)).ctl;
      before.send(publishFrame('b/x', 'no'));
      assert.deepEqual(await before.read(1), hex('FE'));
      // New ACL grants b/#; a broken file in between must change nothing.
      writeFileSync(join(server.dir, 'acl.yml'), 'user1: [this is: not valid\n');
      server.proc.kill('SIGHUP');
      await server.waitForLog(/ACL reload failed: .*acl\.yml/);
      const mid = (await login(server.port, 'user1', PASSWORD)).ctl;
      mid.send(publishFrame('a/x', 'yes'));
      assert.deepEqual(await mid.read(1), hex('01'));
      mid.send(publishFrame('b/x', 'no'));
      assert.deepEqual(await mid.read(1), hex('FE'));
      writeFileSync(join(server.dir, 'acl.yml'), 'user1:\n  pub: ["b/#"]\n');
      server.proc.kill('SIGHUP');
      await new Promise((r) => setTimeout(r, 300));
      const after = (await login(server.port, 'user1', PASSWORD)).ctl;
      after.send(publishFrame('b/x', 'yes'));
      assert.deepEqual(await after.read(1), hex('01'));
      // The session opened before the reload keeps its login-time ACL.
      before.send(publishFrame('b/x', 'still no'));
      assert.deepEqual(await before.read(1), hex('FE'));
      // Password change: new logins need the new password.
      writeFileSync(join(server.dir, 'passwd'), makePasswd().replace(/^limited:.*$/m, 'user1:$2b$04$invalidinvalidinvalidinvalidinvalidinvalidinvalidinv'));
      server.proc.kill('SIGHUP');
      await new Promise((r) => setTimeout(r, 300));
      const refused = await RawConn.open(server.port);
      refused.send(Buffer.concat([hex('EE AA 00'), Buffer.from([0x0d, 0, 0, 0]), Buffer.from(`user1\0${PASSWORD}`)]));
      await refused.expectClose(3000, 4);
      for (const c of [before, mid, after]) c.destroy();
    } finally {
      assert.equal(await server.stop(), 0);
    }
  });
});

describe('daemon mode', () => {
  test('-d returns at once with status 0; the daemon writes its pid file and serves clients', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'psrtd-daemon-'));
    const port = await freePort();
    const pidFile = join(dir, 'psrtd.pid');
    writeFileSync(join(dir, 'acl.yml'), '_:\n  sub: ["#"]\n  pub: ["#"]\n');
    writeFileSync(
      join(dir, 'config.yml'),
      `server:\n  pid_file: ${pidFile}\nproto:\n  bind: 127.0.0.1:${port}\n  allow_no_tls: true\nauth:\n  allow_anonymous: true\n  acl: acl.yml\n`,
    );
    const r = spawnSync(process.execPath, [PSRTD_BIN, '-C', join(dir, 'config.yml'), '-d'], {
      encoding: 'utf8',
      timeout: 10000,
      env: { ...process.env, DISABLE_SYSLOG: '1' },
    });
    assert.equal(r.status, 0);
    let pid = 0;
    try {
      for (let i = 0; i < 100 && !existsSync(pidFile); i++) await new Promise((res) => setTimeout(res, 50));
      pid = Number(readFileSync(pidFile, 'utf8'));
      assert.ok(pid > 0 && pid !== process.pid);
      const { ctl } = await login(port);
      ctl.send('00');
      assert.deepEqual(await ctl.read(1), hex('01'));
      ctl.destroy();
    } finally {
      if (pid > 0) process.kill(pid, 'SIGTERM');
      for (let i = 0; i < 100 && existsSync(pidFile); i++) await new Promise((res) => setTimeout(res, 50));
      assert.ok(!existsSync(pidFile), 'the daemon removed its pid file on SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
