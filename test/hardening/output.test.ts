/**
 * Output faults (issue 7 item 3): psrtd's stdout closed under it (EPIPE: journald restarted,
 * a `| head` pipe ended), stdout on a full disk (ENOSPC), and the pid file on a full disk.
 *
 * Pass criteria: with a broken stdout psrtd keeps serving (clients that make it log, then a
 * well-behaved pair) and still exits 0 on SIGTERM, with no crash on stderr; with an unwritable
 * pid file it exits 1 naming the file and the error, and removes its unix socket. (A pid file
 * in a missing directory: test/e2e/lifecycle.test.ts.) The full disk is /dev/full, reached
 * through a symlink for the pid file, so nothing outside the temp directory is ever removed.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, lstatSync, mkdtempSync, openSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { PSRTD_BIN, startPsrtd, writeConfig } from '../helpers/psrtd.js';
import { Bystander, RawConn } from '../helpers/raw.js';
import { sleep } from '../../scripts/lib/hardening/proc.js';

interface Spawned {
  readonly proc: ChildProcess;
  readonly socketPath: string;
  readonly stderr: () => string;
  readonly dir: string;
}

/** psrtd on a unix socket (clients need no port from its stdout) with the given stdout. */
function spawnPsrtd(stdout: 'pipe' | number): Spawned {
  const dir = mkdtempSync(join(tmpdir(), 'psrtd-out-'));
  const config = writeConfig(dir, { unix: true, proto: { timeout: 2 } });
  const proc = spawn(process.execPath, [PSRTD_BIN, '-C', config], {
    stdio: ['ignore', stdout, 'pipe'],
    env: { ...process.env, INVOCATION_ID: 'test' },
  });
  let err = '';
  proc.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  return { proc, socketPath: join(dir, 'psrt.sock'), stderr: () => err, dir };
}

async function waitForSocket(path: string, timeoutMs: number): Promise<void> {
  const t0 = performance.now();
  for (;;) {
    const c = existsSync(path) ? await RawConn.open(path).catch(() => null) : null;
    if (c !== null) {
      c.destroy();
      return;
    }
    if (performance.now() - t0 > timeoutMs) throw new Error(`psrtd did not listen on ${path}`);
    await sleep(50);
  }
}

/** Clients that make psrtd log (connects, errors, disconnects), then a pair that must work. */
async function exercise(s: Spawned): Promise<void> {
  for (let i = 0; i < 20; i++) {
    const c = await RawConn.open(s.socketPath);
    c.send('EE AC 00'); // bad greeting: an error line
    await c.expectClose(5000);
  }
  const pair = await Bystander.create(s.socketPath);
  for (let i = 0; i < 10; i++) await pair.check();
  pair.close();
  await sleep(200);
  assert.equal(s.proc.exitCode, null, `psrtd died: ${s.stderr()}`);
}

async function stopAndCheck(s: Spawned): Promise<void> {
  const exited = new Promise<number | null>((r) => s.proc.once('exit', (code) => { r(code); }));
  s.proc.kill('SIGTERM');
  const killer = setTimeout(() => s.proc.kill('SIGKILL'), 5000);
  const code = await exited;
  clearTimeout(killer);
  rmSync(s.dir, { recursive: true, force: true });
  assert.equal(code, 0, s.stderr());
  assert.doesNotMatch(s.stderr(), /EPIPE|ENOSPC|Unhandled|Error/);
}

describe('output faults', () => {
  test('stdout closed by its reader (EPIPE): psrtd keeps serving and stops cleanly', async () => {
    const s = spawnPsrtd('pipe');
    try {
      await new Promise<void>((resolve, reject) => {
        let out = '';
        const timer = setTimeout(() => { reject(new Error(`no start: ${out}`)); }, 10_000);
        s.proc.stdout?.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('starting server')) { clearTimeout(timer); resolve(); }
        });
      });
      s.proc.stdout?.destroy(); // our read end closes: psrtd's next log line gets EPIPE
      await exercise(s);
    } finally {
      await stopAndCheck(s);
    }
  });

  test('stdout on a full disk (/dev/full, ENOSPC): psrtd keeps serving and stops cleanly', async (t) => {
    if (!existsSync('/dev/full')) {
      t.skip('no /dev/full on this system');
      return;
    }
    const full = openSync('/dev/full', 'w');
    const s = spawnPsrtd(full);
    closeSync(full);
    try {
      await waitForSocket(s.socketPath, 10_000);
      await exercise(s);
    } finally {
      await stopAndCheck(s);
    }
  });

  test('pid file on a full disk: exit 1 with the file and ENOSPC named; unix socket removed', async (t) => {
    if (!existsSync('/dev/full')) {
      t.skip('no /dev/full on this system');
      return;
    }
    const dir = mkdtempSync(join(tmpdir(), 'psrtd-pid-'));
    const pidFile = join(dir, 'psrtd.pid');
    symlinkSync('/dev/full', pidFile);
    try {
      const server = await startPsrtd({ unix: true, server: { pid_file: pidFile } });
      const unixPath = server.unixPath ?? '';
      await server.waitForLog(/unable to write pid file .*psrtd\.pid: ENOSPC/);
      for (let i = 0; i < 100 && server.proc.exitCode === null; i++) await sleep(20);
      assert.equal(await server.stop('SIGKILL', true), 1);
      assert.ok(!existsSync(unixPath), 'unix socket removed');
      server.removeDir();
      assert.ok(lstatSync('/dev/full').isCharacterDevice(), '/dev/full untouched');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
