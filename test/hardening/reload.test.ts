/**
 * SIGHUP during load (issue 7 item 3): while the well-behaved pair publishes every 10 ms and
 * a loader pipelines 200-message bursts to a reading subscriber, psrtd gets five SIGHUPs,
 * each with a new ACL (one more subscribable topic for `_`), one of them broken.
 *
 * Pass criteria: the pair and the loader's subscriber lose nothing (count and order) and no
 * reply is an error; each good reload is applied to new sessions (the new topic subscribes
 * with `01`, a topic not yet granted answers `FE`); the broken file logs `ACL reload failed`
 * and keeps the previous rules; sessions opened before a reload keep their ACL.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { encodeSubscribe } from '../../src/protocol/encode.js';
import { PSRTD_BIN, startPsrtd, writeConfig, type Psrtd } from '../helpers/psrtd.js';
import { login, type RawConn } from '../helpers/raw.js';
import { Pair } from '../../scripts/lib/hardening/pair.js';
import { sleep } from '../../scripts/lib/hardening/proc.js';

/** `_` may publish everything and subscribe the pair/load topics plus hup/0 … hup/n. */
function acl(n: number): string {
  const topics = ['pair/#', 'load/#', ...Array.from({ length: n + 1 }, (_, i) => `hup/${i}`)];
  return `_:\n  pub: ["#"]\n  sub: [${topics.map((t) => JSON.stringify(t)).join(', ')}]\n`;
}

async function subscribeStatus(port: number, topic: string, conn?: RawConn): Promise<number> {
  const ctl = conn ?? (await login(port)).ctl;
  ctl.send(encodeSubscribe([topic]));
  const status = (await ctl.read(1))[0] ?? -1;
  if (conn === undefined) ctl.destroy();
  return status;
}

describe('SIGHUP under load', () => {
  let server: Psrtd;
  before(async () => {
    // T = 30 s: the session opened before the reloads stays idle until the end of the test.
    server = await startPsrtd({ acl: acl(0), proto: { timeout: 30 }, server: { data_queue: 1024 } });
  });
  after(async () => {
    assert.equal(await server.stop(), 0);
  });

  test('five reloads (one broken) while the pair and a loader run: nothing lost, reloads applied', async () => {
    const pair = await Pair.start(server.port);
    const loader = await Pair.start(server.port, 'load/t');
    const early = (await login(server.port)).ctl; // opened before any reload
    pair.run(10, 500);
    loader.run(50, 500, 20); // bursts of 20 pipelined publishes
    try {
      for (let n = 1; n <= 5; n++) {
        assert.equal(await subscribeStatus(server.port, `hup/${n}`), 0xfe, `hup/${n} not granted yet`);
        const broken = n === 3;
        writeFileSync(join(server.dir, 'acl.yml'), broken ? '_: [not: valid\n' : acl(n));
        const from = server.output.length;
        server.proc.kill('SIGHUP');
        if (broken) {
          await waitForLine(server, from, /ACL reload failed/);
          await waitForLine(server, from, /SIGHUP reload done with errors \(see above\) in \d+\.\d\d s/);
          assert.equal(await subscribeStatus(server.port, `hup/${n}`), 0xfe, 'a broken ACL keeps the old rules');
          writeFileSync(join(server.dir, 'acl.yml'), acl(n - 1)); // the next reload starts from good rules
        } else {
          // The reload reads the file asynchronously: new sessions must see it within 5 s.
          await waitFor(async () => (await subscribeStatus(server.port, `hup/${n}`)) === 0x01, 5000, `reload ${n} applied`);
          await waitForLine(server, from, /SIGHUP reload done in \d+\.\d\d s/);
        }
        await sleep(300);
      }
      assert.equal(await subscribeStatus(server.port, 'hup/5', early), 0xfe, 'an old session keeps its login-time ACL');
      while (pair.report().sent < 200) await sleep(20); // reloads happened under ≥ 2 s of traffic
    } catch (e) {
      pair.close();
      loader.close();
      early.destroy();
      throw e;
    }
    const p = await pair.stop(10_000);
    const l = await loader.stop(10_000);
    pair.close();
    loader.close();
    early.destroy();
    for (const r of [p, l]) {
      const why = JSON.stringify({ pair: p, loader: l });
      assert.ok(r.sent > 100 && r.acked === r.sent && r.received === r.sent, why);
      assert.ok(r.orderErrors === 0 && r.badReplies === 0 && !r.lostSocket, why);
    }
    assert.equal(server.proc.exitCode, null);
  });
});

async function waitForLine(server: Psrtd, from: number, pattern: RegExp): Promise<void> {
  const t0 = performance.now();
  while (!server.output.slice(from).some((l) => pattern.test(l))) {
    if (performance.now() - t0 > 10_000) throw new Error(`no ${pattern} after SIGHUP: ${server.output.slice(from).join('\n')}`);
    await sleep(20);
  }
}

async function waitFor(cond: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const t0 = performance.now();
  while (!(await cond())) {
    if (performance.now() - t0 > timeoutMs) throw new Error(`timeout: ${what}`);
    await sleep(50);
  }
}

/**
 * `systemctl reload` right after `systemctl start` (Type=simple: the unit counts as started at
 * once) sends SIGHUP while psrtd is still loading. Node's default action for SIGHUP ends the
 * process, and systemd counts SIGHUP as a clean exit, so Restart=on-failure would not bring it
 * back. psrtd must survive and apply the reload once it is up.
 */
describe('SIGHUP during start-up', () => {
  test('a SIGHUP before the server is up is applied after start, not fatal', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'psrtd-test-'));
    const config = writeConfig(dir, { acl: acl(0) });
    const proc = spawn(process.execPath, [PSRTD_BIN, '-C', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: string[] = [];
    let hupSent = false;
    const onText = (chunk: Buffer): void => {
      lines.push(...chunk.toString('utf8').split('\n').filter((l) => l !== ''));
      // The first line is printed by main(), before the config is read and anything is bound.
      if (!hupSent && lines.length > 0) {
        hupSent = true;
        proc.kill('SIGHUP');
      }
    };
    proc.stdout.on('data', onText);
    proc.stderr.on('data', onText);
    const exited = new Promise<NodeJS.Signals | number | null>((res) => proc.once('exit', (code, sig) => { res(sig ?? code); }));
    try {
      const t0 = performance.now();
      const started = (): number => lines.findIndex((l) => l.includes('starting server'));
      const reloadedAfterStart = (): boolean => started() >= 0 && lines.slice(started()).some((l) => l.includes('loading ACL'));
      while (!reloadedAfterStart() && proc.exitCode === null && proc.signalCode === null && performance.now() - t0 < 20_000) await sleep(20);
      assert.equal(proc.signalCode, null, `psrtd died on an early SIGHUP:\n${lines.join('\n')}`);
      assert.ok(reloadedAfterStart(), `the early SIGHUP was not applied after start:\n${lines.join('\n')}`);
      proc.kill('SIGTERM');
      assert.equal(await exited, 0);
    } finally {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/**
 * The password file of a fresh install is empty (packaging/etc-psrtd/psrt-passwd, as the
 * reference's package ships it). Editing acl.yml and reloading must work before any user has a
 * password: an empty file is refused at a reload only when it replaces one that had entries.
 */
describe('SIGHUP with the empty password file a fresh install ships', () => {
  test('acl.yml edited, SIGHUP: applied; the password file emptied after it had users: refused', async () => {
    const server = await startPsrtd({ acl: acl(0), passwd: '' });
    try {
      assert.equal(await subscribeStatus(server.port, 'hup/1'), 0xfe); // not in the ACL yet: access denied
      writeFileSync(join(server.dir, 'acl.yml'), acl(1));
      let from = server.output.length;
      server.proc.kill('SIGHUP');
      await waitForLine(server, from, /SIGHUP reload done in [\d.]+ s$/);
      assert.deepEqual(server.output.slice(from).filter((l) => /error|failed/i.test(l)), []);
      assert.equal(await subscribeStatus(server.port, 'hup/1'), 0x01);
      writeFileSync(join(server.dir, 'passwd'), 'alice:$2y$05$abcdefghijklmnopqrstuuN1Fo3YzqaF9O3nTuVJoA0d8w8wS5SXe\n');
      from = server.output.length;
      server.proc.kill('SIGHUP');
      await waitForLine(server, from, /SIGHUP reload done in [\d.]+ s$/);
      writeFileSync(join(server.dir, 'passwd'), '');
      from = server.output.length;
      server.proc.kill('SIGHUP');
      await waitForLine(server, from, /passwd: the file is empty \(still being written\?\)/);
    } finally {
      assert.equal(await server.stop(), 0);
    }
  });
});
