/**
 * Pipelined requests on the stats port. Every answer is asynchronous (the login check), so
 * Node's own back-pressure (it stops reading while answers wait to be written) never engaged:
 * one 64 KB read of pipelined requests became ~1,800 answers rendered and held at once. Before:
 * 16 connections pipelining `GET /metrics` without reading took psrtd to ~900 MB of heap and
 * another scrape waited ~5 s.
 *
 * Pass criteria: a connection that pipelines 2,000 requests without reading gets at most 8
 * answers and is closed; a client sending one request at a time (30 on one keep-alive
 * connection) and one pipelining 8 get every answer on an open connection; a bystander on
 * another connection is answered meanwhile.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { createMemoryLogger } from '../../src/log/index.js';
import { StatsServer } from '../../src/stats/index.js';
import { FakeAuth, FakeBroker, get } from '../stats/helpers.js';

const REQUEST = 'GET /status HTTP/1.1\r\nHost: x\r\n\r\n';

interface Outcome { answers: number; closed: boolean }

/** Writes `text` and counts the status lines received until the server closes or `ms` pass. */
function pipeline(port: number, text: string, ms: number): Promise<Outcome> {
  return new Promise((resolve) => {
    const s: Socket = connect({ host: '127.0.0.1', port });
    let received = '';
    const finish = (closed: boolean): void => {
      clearTimeout(timer);
      s.destroy();
      resolve({ answers: received.split('HTTP/1.1 200 OK').length - 1, closed });
    };
    const timer = setTimeout(() => { finish(false); }, ms);
    s.on('error', () => undefined);
    s.on('data', (d: Buffer) => { received += d.toString('latin1'); });
    s.once('close', () => { finish(true); });
    s.once('connect', () => { s.write(text); });
  });
}

/** `count` requests one after another on one keep-alive connection; resolves with the answers. */
function sequential(port: number, count: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const s: Socket = connect({ host: '127.0.0.1', port });
    let received = '';
    let answers = 0;
    const timer = setTimeout(() => { s.destroy(); reject(new Error(`${String(answers)} of ${String(count)} answered`)); }, 5000);
    s.on('error', reject);
    s.on('data', (d: Buffer) => {
      received += d.toString('latin1');
      // Each answer is a head and a JSON body ending in `}`.
      const done = received.split('HTTP/1.1 200 OK').length - 1;
      if (done === answers || !received.endsWith('}')) return;
      answers = done;
      if (answers === count) {
        clearTimeout(timer);
        s.destroy();
        resolve(answers);
      } else s.write(REQUEST);
    });
    s.once('connect', () => { s.write(REQUEST); });
  });
}

describe('stats server and pipelined requests', () => {
  let stats: StatsServer;
  let port = 0;
  const log = createMemoryLogger();
  before(async () => {
    const opts = {
      broker: new FakeBroker(),
      auth: new FakeAuth(new Map([['_', { password: null, admin: true }]])),
      log,
      dataQueueSize: 8,
      version: '0.3.6',
    };
    stats = await StatsServer.start(opts, { address: '127.0.0.1:0', host: '127.0.0.1', port: 0 });
    port = Number(stats.address.split(':')[1]);
  });
  after(async () => {
    await stats.close();
  });

  test('2,000 pipelined requests, never read: at most 8 answers, the connection closed', async () => {
    const flood = pipeline(port, REQUEST.repeat(2000), 3000);
    const bystander = await get(port, '/status');
    const r = await flood;
    console.log(`# 2,000 pipelined: ${String(r.answers)} answers, closed ${String(r.closed)}`);
    assert.equal(bystander.status, 200);
    assert.ok(r.closed, 'connection still open after 3 s');
    assert.ok(r.answers <= 8, `${String(r.answers)} answers`);
  });

  test('8 pipelined requests are all answered and the connection kept', async () => {
    const r = await pipeline(port, REQUEST.repeat(8), 500);
    assert.equal(r.answers, 8);
    assert.equal(r.closed, false);
  });

  test('30 requests one after another on one connection are all answered', async () => {
    assert.equal(await sequential(port, 30), 30);
  });
});
