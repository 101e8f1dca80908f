/** Pipelining: many requests in flight, replies matched FIFO, batching, timeouts. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PsrtClient, type PsrtError } from '../../src/client/index.js';
import { FakeServer } from './fake-server.js';
import { sleep, within } from './util.js';

/** Reply FE to topics ending in an odd number, FF to multiples of 7, else 01. */
function verdict(topic: string): number {
  const n = Number(topic.slice(topic.lastIndexOf('/') + 1));
  if (n % 7 === 0) return 0xff;
  return n % 2 === 1 ? 0xfe : 0x01;
}

describe('pipelining (fake server)', () => {
  let server: FakeServer;
  before(async () => {
    server = await FakeServer.start({
      reply: (req) => {
        if (req.kind !== 'publish') return 1;
        const topic = req.body.subarray(0, req.body.indexOf(0)).toString();
        return verdict(topic);
      },
    });
  });
  after(async () => {
    await server.close();
  });

  it('10,000 publishes in flight: every reply goes to its own request, in order', async () => {
    // A generous timeout: this must not fail on a loaded machine.
    const client = await PsrtClient.connect({ path: server.address, dataStream: false, queueSize: 16384, timeout: 60 });
    const start = server.requests.length;
    const n = 10_000;
    const results = await within(
      60_000,
      Promise.allSettled(Array.from({ length: n }, (_, i) => client.publish(`p/${i}`, `payload ${i}`))),
    );
    for (let i = 0; i < n; i++) {
      const r = results[i]!;
      const expected = verdict(`p/${i}`);
      if (expected === 1) assert.equal(r.status, 'fulfilled', `#${i}`);
      else {
        assert.ok(r.status === 'rejected', `#${i}`);
        const err = r.reason as PsrtError;
        assert.equal(err.code, expected === 0xfe ? 'PSRT_ACCESS_DENIED' : 'PSRT_SERVER_ERROR', `#${i}`);
      }
    }
    const topics = server.requests.slice(start).map((r) => (r.kind === 'publish' ? r.body.subarray(0, r.body.indexOf(0)).toString() : r.kind));
    assert.deepEqual(topics, Array.from({ length: n }, (_, i) => `p/${i}`));
    assert.equal(client.connected, true, 'FE and FF leave the connection usable');
    await client.bye();
  });

  it('limits requests in flight to queueSize and still completes', async () => {
    const client = await PsrtClient.connect({ path: server.address, dataStream: false, queueSize: 3 });
    await within(10_000, Promise.all(Array.from({ length: 500 }, (_, i) => client.publish(`q/${i * 2}`, 'x').catch(() => undefined))));
    await client.bye();
  });

  it('a timed-out request keeps its slot: the late reply does not shift later replies', async () => {
    const client = await PsrtClient.connect({ path: server.address, dataStream: false });
    server.holdReplies();
    const slow = client.publish('t/2', 'a', { timeout: 0.1 });
    await assert.rejects(slow, { code: 'PSRT_TIMEOUT' });
    const next = client.publish('t/3', 'b'); // server answers FE for odd numbers
    const third = client.publish('t/4', 'c');
    await sleep(20);
    server.releaseReplies();
    await assert.rejects(next, { code: 'PSRT_ACCESS_DENIED' });
    await third;
    await client.bye();
  });

  it('default timeout applies to requests that never get an answer', async () => {
    const client = await PsrtClient.connect({ path: server.address, dataStream: false, timeout: 0.3 });
    server.holdReplies();
    const t0 = performance.now();
    const results = await Promise.allSettled([client.publish('h/2', 'x'), client.publish('h/4', 'y')]);
    const elapsed = performance.now() - t0;
    assert.ok(results.every((r) => r.status === 'rejected' && (r.reason as PsrtError).code === 'PSRT_TIMEOUT'));
    assert.ok(elapsed >= 250 && elapsed < 8000, `elapsed ${elapsed}`);
    server.releaseReplies();
    client.close();
  });

  it('AbortSignal rejects a queued request', async () => {
    const client = await PsrtClient.connect({ path: server.address, dataStream: false });
    const ac = new AbortController();
    const p = client.publish('s/2', 'x', { signal: ac.signal });
    ac.abort();
    await assert.rejects(p, { name: 'AbortError' });
    await client.publish('s/4', 'x');
    await client.bye();
  });

  it('sends keep-alive NOPs only when idle', async () => {
    const own = await FakeServer.start(); // its request log is this test's alone
    try {
      // timeout 2 s → NOP after 1 s without any request.
      const client = await PsrtClient.connect({ path: own.address, dataStream: false, timeout: 2 });
      const nops = (): number => own.requests.filter((r) => r.kind === 'nop').length;
      const until = Date.now() + 2500;
      while (Date.now() < until) {
        await client.publish('busy', 'x');
        await sleep(50);
      }
      assert.equal(nops(), 0, 'no NOP while requests keep going out');
      await sleep(3500);
      assert.ok(nops() >= 2, `idle NOPs: ${nops()}`);
      await client.bye();
    } finally {
      await own.close();
    }
  });

  it('an idle connection sends a NOP every interval, never skipping one (no silence of a whole timeout)', async () => {
    const arrivals: number[] = [];
    const own = await FakeServer.start({
      reply: (req) => {
        if (req.kind === 'nop') arrivals.push(performance.now());
        return 1;
      },
    });
    try {
      // timeout 1 s → interval 0.5 s. Skipping one NOP (the write one tick earlier looked a
      // fraction of a ms younger than the interval) left 1 s, the server's whole timeout.
      const client = await PsrtClient.connect({ path: own.address, dataStream: false, timeout: 1 });
      await sleep(6300);
      client.close();
      const gaps = arrivals.slice(1).map((t, i) => t - (arrivals[i] ?? t));
      assert.ok(arrivals.length >= 8, `NOPs: ${arrivals.length}`);
      // Skipping every other NOP made half the gaps 1 s. Judged by the share of long gaps, not the
      // longest one, so that one stall of a loaded machine does not fail the test.
      const long = gaps.filter((g) => g >= 900).length;
      assert.ok(long <= gaps.length / 4, `gaps between NOPs: ${gaps.map(Math.round).join(' ')} ms`);
    } finally {
      await own.close();
    }
  });

  it('a busy publisher whose server stopped answering loses the connection (keep-alive unanswered)', async () => {
    const own = await FakeServer.start();
    try {
      const client = await PsrtClient.connect({ path: own.address, dataStream: false, timeout: 1 });
      const closed = new Promise<PsrtError | null>((resolve) => client.once('close', resolve));
      own.holdReplies(); // a black-holed link: requests go out, nothing comes back
      const t0 = performance.now();
      // Writes more often than the keep-alive interval (0.5 s): the client is never idle.
      const timer = setInterval(() => {
        client.publish('busy', 'x').catch(() => undefined);
      }, 100);
      try {
        const err = await within(6000, closed, 'close after the server stopped answering');
        assert.equal(err?.code, 'PSRT_TIMEOUT');
        assert.ok(performance.now() - t0 < 4000, `detected after ${Math.round(performance.now() - t0)} ms`);
      } finally {
        clearInterval(timer);
        client.close();
      }
    } finally {
      await own.close();
    }
  });

  it('requests that time out before they could be written are not kept (a publisher faster than the link)', async () => {
    const own = await FakeServer.start();
    // One request in flight whose reply never comes: the others wait to be written.
    const client = await PsrtClient.connect({ path: own.address, dataStream: false, queueSize: 1, timeout: 30 });
    const waiting = (): number => (client as unknown as { control: { waiting: { length: number } } }).control.waiting.length;
    try {
      own.holdReplies();
      const round = (): Promise<unknown> =>
        Promise.allSettled(Array.from({ length: 1000 }, () => client.publish('t', Buffer.alloc(1000), { timeout: 0.05 })));
      await within(5000, round());
      await within(5000, round());
      assert.ok(waiting() <= 1000, `${waiting()} requests kept`);
    } finally {
      client.close();
      await own.close();
    }
  });
});
