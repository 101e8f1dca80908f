/**
 * Request bodies on the stats port: no endpoint reads one, so a client streaming a huge body
 * (POST, or GET with Content-Length) gets its answer and the connection is closed, instead of
 * psrtd draining the body until the 10 s request timeout. Before: four such connections kept
 * psrtd at ~70 % of a core and a bystander MQTT round trip went from 2 ms to ~40 ms.
 *
 * Pass criteria: the answer (405 for POST, 401 for an unauthenticated GET) arrives and the
 * server closes the connection within 3 s, having accepted less than 32 MB of the body; a
 * bodyless request on a keep-alive connection is still answered and the connection kept.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { createMemoryLogger } from '../../src/log/index.js';
import { StatsServer } from '../../src/stats/index.js';
import { FakeAuth, FakeBroker } from '../stats/helpers.js';

interface Outcome { status: string; closed: boolean; sentBytes: number }

/** Sends `head`, then body bytes as fast as the server takes them for at most `ms`. */
function streamBody(port: number, head: string, ms: number): Promise<Outcome> {
  return new Promise((resolve) => {
    const s: Socket = connect({ host: '127.0.0.1', port });
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    let sent = 0;
    let status = '';
    let done = false;
    const finish = (closed: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      resolve({ status, closed, sentBytes: sent });
    };
    const pump = (): void => {
      while (!s.destroyed && s.writable && s.write(chunk)) sent += chunk.length;
      if (!s.destroyed) sent += chunk.length; // the one that filled the buffer
    };
    const timer = setTimeout(() => { finish(false); }, ms);
    s.on('error', () => undefined);
    s.on('data', (d: Buffer) => { status ||= d.toString('latin1').split('\r\n')[0] ?? ''; });
    s.on('close', () => { finish(true); });
    s.on('drain', pump);
    s.once('connect', () => {
      s.write(head);
      pump();
    });
  });
}

describe('stats server and request bodies', () => {
  let stats: StatsServer;
  let port = 0;
  before(async () => {
    const opts = {
      broker: new FakeBroker(),
      auth: new FakeAuth(new Map([['ops', { password: 'pw', admin: true }]])),
      log: createMemoryLogger(),
      dataQueueSize: 8,
      version: '0.3.6',
    };
    stats = await StatsServer.start(opts, { address: '127.0.0.1:0', host: '127.0.0.1', port: 0 });
    port = Number(stats.address.split(':')[1]);
  });
  after(async () => {
    await stats.close();
  });

  for (const [what, head, expected] of [
    ['POST with a 1 GB body', 'POST /status HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n', '405'],
    ['chunked POST', 'POST /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n40000000\r\n', '405'],
    ['GET with a 1 GB body', 'GET /status HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n', '401'],
  ] as const) {
    test(`${what}: answered and closed, the body not drained`, async () => {
      const r = await streamBody(port, head, 3000);
      console.log(`# ${what}: ${r.status}, closed ${String(r.closed)}, ${(r.sentBytes / 1e6).toFixed(1)} MB accepted`);
      assert.match(r.status, new RegExp(`^HTTP/1.1 ${expected} `));
      assert.ok(r.closed, 'connection still open after 3 s');
      assert.ok(r.sentBytes < 32e6, `${r.sentBytes} bytes of body accepted`);
    });
  }

  test('requests without a body keep the connection alive', async () => {
    const s = connect({ host: '127.0.0.1', port });
    const answers: string[] = [];
    s.on('data', (d: Buffer) => { answers.push(...d.toString('latin1').split('\r\n').filter((l) => l.startsWith('HTTP/1.1'))); });
    await new Promise((r) => s.once('connect', r));
    s.write('POST /status HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\nGET /status HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise((r) => setTimeout(r, 300));
    const open = !s.destroyed && !s.readableEnded;
    s.destroy();
    assert.deepEqual(answers, ['HTTP/1.1 405 Method Not Allowed', 'HTTP/1.1 401 Unauthorized']);
    assert.ok(open);
  });
});
