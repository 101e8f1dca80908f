/**
 * `npm start` runs psrtd in the foreground: stopping npm (Ctrl-C, or SIGTERM from a process
 * manager) must stop psrtd too. The start script `exec`s the launcher, so the shell npm runs
 * is replaced by psrtd and npm's signal forwarding reaches it.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../helpers/psrtd.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`${signal} to npm start stops psrtd`, { timeout: 180_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'psrt-npm-start-'));
    const pidFile = join(dir, 'psrtd.pid');
    writeFileSync(join(dir, 'acl.yml'), '_:\n  sub: ["#"]\n  pub: ["#"]\n');
    writeFileSync(
      join(dir, 'config.yml'),
      `server:\n  pid_file: ${pidFile}\nproto:\n  bind: 127.0.0.1:0\n  allow_no_tls: true\nauth:\n  allow_anonymous: true\n  acl: acl.yml\n`,
    );
    const npm = spawn('npm', ['start', '--silent', '--', '-C', join(dir, 'config.yml')], { cwd: REPO_ROOT, stdio: 'ignore' });
    let psrtd = 0;
    try {
      // npm start builds first (incremental: seconds, more on a loaded machine).
      await until('the pid file', () => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== '', 150_000);
      psrtd = Number(readFileSync(pidFile, 'utf8').trim());
      assert.ok(alive(psrtd));
      assert.notEqual(psrtd, npm.pid);
      npm.kill(signal);
      await until('psrtd to exit', () => !alive(psrtd), 10_000);
      assert.ok(!existsSync(pidFile), 'psrtd shut down cleanly (pid file removed)');
    } finally {
      if (psrtd !== 0 && alive(psrtd)) process.kill(psrtd, 'SIGKILL');
      if (npm.exitCode === null && npm.signalCode === null) npm.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
