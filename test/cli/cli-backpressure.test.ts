/**
 * A subscriber whose stdout reader stopped reading (`psrt-cli -t x | slow-consumer`): like
 * mosquitto_sub, whose blocking write stops it reading from the broker, psrt-cli must stop
 * taking messages and leave the overflow to the server's data_queue rule, not buffer every
 * message in its own memory.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { PsrtClient } from '../../src/client/index.js';
import { startPsrtd, type Psrtd } from '../helpers/psrtd.js';
import { waitFor, within } from '../client/util.js';
import { CLI } from './run-cli.js';

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) / 1024;
}

describe('psrt-cli: subscriber with a stalled stdout', () => {
  let d: Psrtd;
  before(async () => {
    d = await startPsrtd({ server: { data_queue: 64 } });
  });
  after(async () => {
    await d.stop();
  });

  it('memory stays bounded while stdout is not read; Ctrl-C still exits 0', async () => {
    const addr = `127.0.0.1:${d.port}`;
    // --timeout 1: keep-alive under the test server's 2 s timeout.
    const child = spawn(process.execPath, [CLI, addr, '-t', 'bp', '--output', 'raw', '--timeout', '1'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = once(child, 'exit') as Promise<[number | null]>;
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.stdout.pause(); // the reader stopped reading
    const pub = await PsrtClient.connect({ path: addr, dataStream: false });
    try {
      await waitFor(() => err.includes('Listening to'), 10_000, 'subscriber ready');
      await new Promise((r) => setTimeout(r, 300));
      const pid = child.pid ?? 0;
      const before = rssMb(pid);
      const payload = Buffer.alloc(10_000, 0x61);
      for (let round = 0; round < 15; round++) {
        const sent: Promise<void>[] = [];
        for (let i = 0; i < 1000; i++) sent.push(pub.publish('bp', payload));
        await within(20_000, Promise.all(sent), 'publishing');
      }
      await new Promise((r) => setTimeout(r, 500));
      const grown = rssMb(pid) - before;
      // 150 MB were published; its client buffer holds at most 4096 messages (41 MB).
      assert.ok(grown < 80, `psrt-cli grew by ${grown.toFixed(0)} MB while its stdout was not read`);
      child.stdout.resume();
      child.kill('SIGINT');
      const [code] = await within(15_000, exited, 'psrt-cli exit');
      assert.equal(code, 0, err);
    } finally {
      await pub.bye().catch(() => undefined);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
