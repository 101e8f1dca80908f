/**
 * What happens when accept() itself runs out of descriptors (EMFILE), checked on this Node:
 * libuv closes its reserve descriptor, accepts and closes the pending connections and reopens
 * the reserve, so the listener neither crashes nor stops; connections beyond the limit are
 * closed, and once descriptors are free again new connections are accepted. (Only when that
 * reserve is unavailable does Node emit 'error' on the server; ConnectionGate.watch counts it,
 * see refusal-log.test.ts.) The child runs under `ulimit -n 48` with the gate's descriptor
 * budget off, so only the kernel limits it.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { REPO_ROOT } from '../helpers/psrtd.js';

const CHILD = join(REPO_ROOT, 'dist/test/helpers/emfile-child.js');

function openClient(port: number): Promise<{ socket: Socket; closed: () => boolean }> {
  return new Promise((resolve, reject) => {
    let ended = false;
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => { /* a refused one is reset */ });
    socket.once('close', () => { ended = true; });
    const timer = setTimeout(() => { socket.destroy(); reject(new Error('connect timed out')); }, 5000);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve({ socket, closed: () => ended });
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('accept() out of descriptors', () => {
  test('the listener survives EMFILE, closes the excess and accepts again once descriptors are free', async () => {
    const child = spawn('/bin/sh', ['-c', 'ulimit -n 48 && exec "$0" "$1" --child', process.execPath, CHILD], { stdio: ['pipe', 'pipe', 'inherit'] });
    const out: string[] = [];
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (t: string) => { out.push(...t.split('\n').filter((l) => l !== '')); });
    const waitLine = async (re: RegExp): Promise<string> => {
      for (let i = 0; i < 100; i++) {
        const hit = out.find((l) => re.test(l));
        if (hit !== undefined) return hit;
        await sleep(50);
      }
      throw new Error(`child never printed ${re}: ${out.join('\n')}`);
    };
    const clients: { socket: Socket; closed: () => boolean }[] = [];
    try {
      const port = Number(/^port (\d+)$/.exec(await waitLine(/^port \d+$/))?.[1]);
      for (let i = 0; i < 60; i++) clients.push(await openClient(port));
      await sleep(500);
      const closedByServer = clients.filter((c) => c.closed()).length;
      assert.ok(closedByServer > 0, 'connections beyond the descriptor limit are closed');
      child.stdin.write('stats\n');
      const stats = JSON.parse((await waitLine(/^stats /)).slice(6)) as { accepted: number };
      assert.equal(stats.accepted + closedByServer, 60, 'each connection either accepted or closed');
      child.stdin.write('close 5\n');
      await waitLine(/^closed$/);
      await sleep(100);
      const later = await Promise.all(Array.from({ length: 3 }, () => openClient(port)));
      clients.push(...later);
      await sleep(500);
      assert.ok(later.every((c) => !c.closed()), 'new connections are accepted once descriptors are free');
      assert.equal(child.exitCode, null, 'the process is still running');
    } finally {
      for (const c of clients) c.socket.destroy();
      child.stdin.end();
      const exited = new Promise((r) => child.once('exit', r));
      const killer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(killer);
    }
  });
});
