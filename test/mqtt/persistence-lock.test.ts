/**
 * One psrtd per `mqtt.persistence_file` (src/bin/persistence-lock.ts), with real psrtd
 * processes. Pass criteria: a second psrtd given the same file does not start (exit 1, the
 * config line and the first one's PID named) and the first one keeps serving and saving; a lock
 * left by a SIGKILL, or one whose PID now belongs to another process (PID reused), does not stop
 * a start; a clean stop removes the lock file.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { PersistenceLock, processStartTime } from '../../src/bin/persistence-lock.js';
import { runPsrtdToExit, startPsrtd, writeConfig, type Psrtd } from '../helpers/psrtd.js';
import { mosquittoPub, requireMosquittoClients } from '../helpers/mqtt-tools.js';

/** A racer holds the lock this long; one that reaches the start line later than RACE_LATE_MS sits out. */
const RACE_HOLD_MS = 1000;
const RACE_LATE_MS = 500;
const LOCK_MODULE = new URL('../../src/bin/persistence-lock.js', import.meta.url).href;

/**
 * A process that takes the lock at wall-clock `atMs` (spinning to it, so that several start at
 * the same instant), holds it a moment and says whether it got it. It exits without releasing
 * (as a crash would), so one that only started after the holder had ended would find a stale
 * lock and rightly take it: on a loaded machine a node process can start that late, and it
 * says `late` instead of taking part.
 */
const RACER = `
const { PersistenceLock } = await import(process.argv[1]);
const atMs = Number(process.argv[3]);
if (Date.now() > atMs + ${RACE_LATE_MS}) { console.log('late'); process.exit(0); }
while (Date.now() < atMs) {}
try { await PersistenceLock.acquire(process.argv[2]); await new Promise((r) => setTimeout(r, ${RACE_HOLD_MS})); console.log('got'); }
catch { console.log('refused'); }
`;

function racer(lockPath: string, atMs: number): Promise<string> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--input-type=module', '-e', RACER, LOCK_MODULE, lockPath, String(atMs)], { timeout: 10_000 }, (err, stdout) => {
      resolve(err === null ? stdout.trim() : `failed: ${err.message}`);
    });
  });
}

/**
 * A zombie: a python process whose child has exited and is not collected (as a psrtd killed with
 * SIGKILL is until its supervisor reaps it). Resolves to the zombie's PID and its parent.
 */
function zombie(): Promise<{ pid: number; parent: ChildProcess }> {
  const code = 'import os, sys, time\npid = os.fork()\nif pid == 0: os._exit(0)\nprint(pid, flush=True)\ntime.sleep(20)\n';
  const parent = spawn('python3', ['-c', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    parent.once('error', reject);
    parent.stdout.once('data', (d: Buffer) => {
      const pid = Number(d.toString().trim());
      const waitForZ = (triesLeft: number): void => {
        const state = readFileSync(`/proc/${pid}/stat`, 'latin1').split(') ')[1]?.[0];
        if (state === 'Z') resolve({ pid, parent });
        else if (triesLeft === 0) reject(new Error(`process ${pid} is in state ${String(state)}, not a zombie`));
        else setTimeout(() => { waitForZ(triesLeft - 1); }, 10);
      };
      waitForZ(200);
    });
  });
}

function start(file: string): Promise<Psrtd> {
  return startPsrtd({ mqtt: { persistence_file: file, autosave_interval: 3600 } });
}

describe('mqtt.persistence_file is locked to one psrtd', () => {
  let dir = '';
  before(() => {
    requireMosquittoClients();
    dir = mkdtempSync(join(tmpdir(), 'psrtd-lock-'));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  test('a second psrtd on the same file is a start error; the first keeps serving', async () => {
    const file = join(dir, 'shared.bin');
    const a = await start(file);
    const confDir = mkdtempSync(join(tmpdir(), 'psrtd-lock-conf-'));
    try {
      assert.equal(readFileSync(`${file}.lock`, 'latin1'), `${a.proc.pid ?? 0} ${processStartTime(a.proc.pid ?? 0)}\n`);
      const config = writeConfig(confDir, { mqtt: { bind: ['127.0.0.1:0'], persistence_file: file } });
      const { code, text } = await runPsrtdToExit(config);
      assert.equal(code, 1, text);
      assert.match(text, new RegExp(`psrtd: .*:\\d+: mqtt\\.persistence_file: ${file} in use by another psrtd \\(pid ${a.proc.pid ?? 0}, lock file ${file}\\.lock\\)`));
      const r = await mosquittoPub(a.mqttPort, ['-q', '1', '-r', '-t', 'still/here', '-m', 'yes']);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(existsSync(`${file}.lock`), 'the refused start left the lock alone');
    } finally {
      rmSync(confDir, { recursive: true, force: true });
      assert.equal(await a.stop('SIGTERM'), 0);
    }
    assert.equal(existsSync(`${file}.lock`), false, 'a clean stop removes the lock');
    assert.ok(a.output.some((l) => l.includes(`1 retained message(s) and 0 persistent session(s) saved in ${file}`)), a.output.join('\n'));
  });

  test('a lock left by SIGKILL, or naming a reused PID, does not stop a start', async () => {
    const file = join(dir, 'stale.bin');
    const a = await start(file);
    await a.stop('SIGKILL');
    assert.ok(existsSync(`${file}.lock`), 'SIGKILL leaves the lock');
    const b = await start(file);
    assert.equal(await b.stop('SIGTERM'), 0);
    // This test process is alive, but did not start at that time: its PID was reused.
    writeFileSync(`${file}.lock`, `${process.pid} 1\n`);
    const c = await start(file);
    try {
      assert.equal(readFileSync(`${file}.lock`, 'latin1').split(' ')[0], String(c.proc.pid));
    } finally {
      assert.equal(await c.stop('SIGTERM'), 0);
    }
    writeFileSync(`${file}.lock`, 'garbage');
    // And a crash while removing a stale lock (see removeStale) left its marker too.
    writeFileSync(`${file}.lock.break`, '999999999 1\n');
    const d = await start(file);
    assert.equal(await d.stop('SIGTERM'), 0);
    assert.equal(existsSync(`${file}.lock.break`), false);
  });

  test('a lock whose owner has ended but is not reaped yet (a zombie) is stale', async () => {
    const path = join(dir, 'zombie.bin.lock');
    const z = await zombie();
    try {
      const startTime = processStartTime(z.pid);
      assert.notEqual(startTime, 0, 'the zombie still has its start time');
      writeFileSync(path, `${z.pid} ${startTime}\n`);
      const lock = await PersistenceLock.acquire(path);
      assert.equal(readFileSync(path, 'latin1'), `${process.pid} ${processStartTime(process.pid)}\n`);
      await lock.release();
    } finally {
      z.parent.kill('SIGKILL');
    }
  });

  test('of processes taking the lock at the same instant, exactly one gets it (also a stale lock)', async () => {
    const lockPath = join(dir, 'race.bin.lock');
    let raced = 0;
    for (let round = 0; round < 16 && raced < 8; round++) {
      rmSync(lockPath, { force: true });
      // Odd rounds: a lock left by a crash, which all of them take for stale at once.
      if (round % 2 === 1) writeFileSync(lockPath, '999999999 1\n');
      const atMs = Date.now() + 300;
      const results = await Promise.all([0, 1, 2, 3].map(() => racer(lockPath, atMs)));
      const onTime = results.filter((r) => r !== 'late');
      if (onTime.length >= 2) raced++; // else a loaded machine started them too far apart: again
      if (onTime.length > 0) assert.equal(onTime.filter((r) => r === 'got').length, 1, `round ${round}: ${results.join(', ')}`);
    }
    assert.ok(raced >= 6, `only ${raced} rounds had two racers or more on time`);
    rmSync(lockPath, { force: true });
  });
});
