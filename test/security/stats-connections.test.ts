/**
 * The stats HTTP server stays reachable under idle-connection floods.
 *
 * Pass criteria, against a real psrtd with bind_stats: with 1,000 idle connections open (250
 * source addresses 127.0.1.x × 4) plus 200 more from one address (127.0.0.2, of which at most
 * 16 are kept open), `/status` and `/metrics` from 127.0.0.1 answer 200 within 2 s (before:
 * the 128-connection cap was full and nothing answered for ~20 s); a connection that never
 * sends a request is closed within 8 s; a normal client still works afterwards.
 */
import assert from 'node:assert/strict';
import { get } from 'node:http';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { sleep } from '../../scripts/lib/hardening/proc.js';
import { startPsrtd, type Psrtd } from '../helpers/psrtd.js';

function open(port: number, localAddress: string): Promise<Socket> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port, localAddress });
    s.on('error', () => undefined);
    s.once('connect', () => { resolve(s); });
    s.once('close', () => { resolve(s); });
  });
}

function timedGet(port: number, path: string): Promise<{ status: number; ms: number }> {
  const t0 = performance.now();
  return new Promise((res, rej) => {
    const req = get({ host: '127.0.0.1', port, path, agent: false, timeout: 10_000 }, (r) => {
      r.resume();
      r.on('end', () => { res({ status: r.statusCode ?? 0, ms: performance.now() - t0 }); });
    });
    req.on('timeout', () => { req.destroy(new Error(`${path}: no answer in 10 s`)); });
    req.on('error', rej);
  });
}

describe('stats server under idle connections', () => {
  let server: Psrtd;
  const sockets: Socket[] = [];
  before(async () => {
    server = await startPsrtd({ server: { bind_stats: '127.0.0.1:0' } });
  });
  after(async () => {
    for (const s of sockets) s.destroy();
    assert.equal(await server.stop(), 0);
  });

  test('1,000 idle connections from many addresses and 200 from one: /status and /metrics answer', async () => {
    const port = server.statsPort ?? 0;
    for (let a = 1; a <= 250; a++) {
      sockets.push(...(await Promise.all(Array.from({ length: 4 }, () => open(port, `127.0.1.${a}`)))));
    }
    sockets.push(...(await Promise.all(Array.from({ length: 200 }, () => open(port, '127.0.0.2')))));
    await sleep(300);
    const fromOne = sockets.slice(1000).filter((s) => !s.destroyed && !s.readableEnded).length;
    assert.ok(fromOne <= 16, `${fromOne} connections from one address kept open`);
    // The 184 refused are logged: the first at once, the rest summed at most once a second.
    await server.waitForLog(/^stats: connection refused: the stats server's limit of 16 connections per address reached$/);
    const summary = await server.waitForLog(/^stats: connections refused: the stats server's limit of 16 connections per address reached, \d+ refused in the last/);
    assert.equal(Number(/, (\d+) refused/.exec(summary)?.[1]) + 1, 200 - fromOne);
    const status = await timedGet(port, '/status');
    const metrics = await timedGet(port, '/metrics');
    console.log(`# under 1,000 idle connections: /status ${status.ms.toFixed(0)} ms, /metrics ${metrics.ms.toFixed(0)} ms`);
    assert.equal(status.status, 200);
    assert.equal(metrics.status, 200);
    assert.ok(status.ms < 2000 && metrics.ms < 2000);
  });

  test('a connection that never sends a request is closed within 8 s', async () => {
    const s = await open(server.statsPort ?? 0, '127.0.0.3');
    const closed = await Promise.race([
      new Promise<boolean>((r) => s.once('close', () => { r(true); })),
      sleep(8000).then(() => false),
    ]);
    s.destroy();
    assert.ok(closed);
    assert.equal((await timedGet(server.statsPort ?? 0, '/status')).status, 200);
  });
});
