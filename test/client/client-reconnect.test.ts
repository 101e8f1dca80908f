/** Optional reconnect with back-off and re-subscription. */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { PsrtClient, type PsrtError } from '../../src/client/index.js';
import { FakeServer } from './fake-server.js';
import { sleep, tempDir, waitFor, within } from './util.js';

/** Timers, sockets and the like that keep the process alive. */
function activeResources(): string {
  return process.getActiveResourcesInfo().join(', ');
}

describe('reconnect (fake server)', () => {
  it('is off by default: a dropped connection closes the client', async () => {
    const server = await FakeServer.start();
    try {
      const client = await PsrtClient.connect({ path: server.address });
      const closed = once(client, 'close');
      server.dropAll();
      const [err] = (await within(3000, closed)) as [PsrtError];
      assert.equal(err.code, 'PSRT_EOF');
    } finally {
      await server.close();
    }
  });

  it('reconnects, re-subscribes in bulk, and parks requests made meanwhile', async () => {
    const server = await FakeServer.start();
    const client = await PsrtClient.connect({
      path: server.address,
      reconnect: { initialDelay: 0.05, maxDelay: 0.2 },
    });
    try {
      await client.subscribe(['a/1', 'a/2']);
      await client.subscribe('b');
      await client.unsubscribe('a/2');
      const messages = client.messages();
      const events: string[] = [];
      client.on('disconnect', () => events.push('disconnect'));
      const reconnected = once(client, 'reconnect');
      server.dropAll();
      await waitFor(() => events.length === 1, 3000, 'disconnect event');
      assert.equal(client.connected, false);
      const parked = client.publish('b', 'while away'); // sent after re-subscription
      await within(5000, reconnected);
      await within(3000, parked);
      const session = server.sessions.at(-1)!;
      assert.deepEqual([...session.subscriptions].sort(), ['a/1', 'b'], `session ${session.id} of ${server.sessions.length}`);
      const m = await within(3000, messages.next());
      assert.equal(m.value?.payload.toString(), 'while away');
      assert.equal(client.connected, true);
      await client.bye();
    } finally {
      client.close();
      await server.close();
    }
  });

  it("'reconnect' carries null, or the refusal of a re-subscription (the connection stays)", async () => {
    let deny = false;
    const server = await FakeServer.start({ reply: (req) => (req.kind === 'subscribe' && deny ? 0xfe : 1) });
    const client = await PsrtClient.connect({ path: server.address, reconnect: { initialDelay: 0.05, maxDelay: 0.2 } });
    try {
      await client.subscribe('s');
      let reconnected = once(client, 'reconnect');
      server.dropAll();
      assert.deepEqual(await within(5000, reconnected), [null]);
      deny = true; // e.g. the ACL changed while the server restarted
      reconnected = once(client, 'reconnect');
      server.dropAll();
      const [refused] = (await within(5000, reconnected)) as [PsrtError | null];
      assert.equal(refused?.code, 'PSRT_ACCESS_DENIED');
      assert.equal(client.connected, true);
      await client.publish('s', 'still usable');
      await client.bye();
    } finally {
      client.close();
      await server.close();
    }
  });

  it('gives up after maxAttempts and fails parked requests', async () => {
    const server = await FakeServer.start();
    const client = await PsrtClient.connect({
      path: server.address,
      reconnect: { initialDelay: 0.02, maxAttempts: 2 },
    });
    const closed = once(client, 'close');
    await server.close(); // drops the connection and stops listening
    await waitFor(() => !client.connected, 3000);
    const parked = client.ping();
    const [err] = (await within(5000, closed)) as [PsrtError];
    assert.equal(err.code, 'PSRT_IO');
    await assert.rejects(parked, { code: 'PSRT_IO' });
  });

  it('a request that times out while reconnecting says it was never sent, and why', async () => {
    const server = await FakeServer.start();
    const client = await PsrtClient.connect({ path: server.address, timeout: 0.4, reconnect: { initialDelay: 10 } });
    const expected = `the connection to ${server.address} was lost; reconnecting`;
    try {
      await server.close();
      await waitFor(() => !client.connected, 3000);
      // The client's own timeout (parked with its deadline) and a per-call one.
      await assert.rejects(within(3000, client.publish('t', 'x')), (e: PsrtError) => {
        assert.equal(e.code, 'PSRT_TIMEOUT');
        assert.equal(e.message, `publish t: not sent within 0.4s (${expected})`);
        return true;
      });
      await assert.rejects(within(3000, client.subscribe('s', { timeout: 0.2 })), (e: PsrtError) => {
        assert.equal(e.message, `subscribe s: not sent within 0.2s (${expected})`);
        return true;
      });
    } finally {
      client.close();
    }
  });

  it('close() during the back-off stops reconnecting', async () => {
    const server = await FakeServer.start();
    const client = await PsrtClient.connect({ path: server.address, reconnect: { initialDelay: 10 } });
    await server.close();
    await waitFor(() => !client.connected, 3000);
    const closed = once(client, 'close');
    client.close();
    const [err] = (await within(1000, closed)) as [PsrtError | null];
    assert.equal(err, null);
  });

  it('close() during a reconnect attempt aborts its handshake at once', async () => {
    const dir = tempDir();
    const path = join(dir.path, 'psrt.sock');
    const server = await FakeServer.start({ path });
    const client = await PsrtClient.connect({ path, timeout: 30, reconnect: { initialDelay: 0.01 } });
    // The server restarts as one that accepts and never answers: the attempt hangs in the
    // greeting until its 30 s deadline unless close() ends it.
    await server.close();
    const accepted: Socket[] = [];
    const silent = createServer((s) => accepted.push(s));
    await new Promise<void>((resolve) => silent.listen(path, resolve));
    try {
      await waitFor(() => accepted.length === 1, 3000, 'reconnect attempt');
      const attempt = accepted[0]!;
      const ended = once(attempt, 'close');
      attempt.resume();
      client.close();
      await within(1000, ended, 'the attempt\'s socket closing after close()');
    } finally {
      for (const s of accepted) s.destroy();
      silent.close();
      dir.remove();
    }
  });

  it('close() in a disconnect listener stops reconnecting for good', async () => {
    const server = await FakeServer.start();
    const client = await PsrtClient.connect({ path: server.address, reconnect: { initialDelay: 0.02 } });
    try {
      let reconnects = 0;
      client.on('reconnect', () => reconnects++);
      client.on('disconnect', () => {
        client.close();
      });
      const closed = once(client, 'close');
      server.dropAll();
      await within(3000, closed);
      await sleep(300); // many back-off delays
      assert.equal(server.sessions.length, 0, 'no new session');
      assert.equal(reconnects, 0);
      assert.equal(client.connected, false);
      await assert.rejects(client.ping(), { code: 'PSRT_NOT_CONNECTED' });
    } finally {
      client.close();
      await server.close();
    }
  });

  it('close() in a reconnectFailed listener ends the back-off at once (the process can exit)', async () => {
    await sleep(100); // what earlier tests closed is gone
    const before = activeResources();
    const server = await FakeServer.start();
    const client = await PsrtClient.connect({ path: server.address, reconnect: { initialDelay: 0.02, factor: 1000, maxDelay: 60 } });
    await server.close();
    const failed = once(client, 'reconnectFailed');
    client.on('reconnectFailed', () => {
      client.close();
    });
    await within(3000, failed);
    await sleep(100);
    assert.equal(activeResources(), before);
  });

  it('requests not yet written when the connection is lost wait for the new one; those in flight fail', async () => {
    const server = await FakeServer.start();
    const client = await PsrtClient.connect({ path: server.address, queueSize: 1, reconnect: { initialDelay: 0.02 } });
    try {
      server.holdReplies();
      const results = ['0', '1', '2', '3'].map((v) => client.publish('t', v).then(() => 'ok', (e: unknown) => (e as PsrtError).code));
      await waitFor(() => server.requests.length === 1, 3000, 'the first publish');
      server.dropAll();
      server.releaseReplies(); // to the dropped connection: nothing arrives
      assert.deepEqual(await within(5000, Promise.all(results)), ['PSRT_EOF', 'ok', 'ok', 'ok']);
      const bodies = server.requests.map((r) => (r.kind === 'publish' ? r.body.subarray(2).toString() : r.kind));
      assert.deepEqual(bodies, ['0', '1', '2', '3']);
    } finally {
      client.close();
      await server.close();
    }
  });

  it('a topic refused at re-subscription does not cost the others of its bulk request', async () => {
    let refuse = '';
    const server = await FakeServer.start({
      // Like psrtd: topics apply in order and the first refused one ends the request.
      reply: (req, session) => {
        if (req.kind !== 'subscribe') return 1;
        for (const t of req.topics) {
          if (t === refuse) return 0xfe;
          session.subscriptions.add(t);
        }
        return 1;
      },
    });
    const client = await PsrtClient.connect({ path: server.address, reconnect: { initialDelay: 0.02 } });
    try {
      await client.subscribe(['a', 'b', 'c', 'd']);
      refuse = 'b'; // the ACL changed meanwhile
      const reconnected = once(client, 'reconnect');
      server.dropAll();
      await within(3000, reconnected);
      assert.deepEqual([...(server.sessions[0]?.subscriptions ?? [])].sort(), ['a', 'c', 'd']);
    } finally {
      client.close();
      await server.close();
    }
  });

  it('requests that timed out while reconnecting are not kept (a long outage does not grow memory)', async () => {
    const server = await FakeServer.start();
    const client = await PsrtClient.connect({ path: server.address, timeout: 0.05, reconnect: { initialDelay: 60 } });
    const parked = (): number => (client as unknown as { parked: { length: number } }).parked.length;
    try {
      await server.close();
      await waitFor(() => !client.connected, 3000);
      const round = (): Promise<unknown> =>
        Promise.allSettled(Array.from({ length: 1000 }, () => client.publish('t', Buffer.alloc(1000))));
      await within(5000, round());
      await within(5000, round());
      assert.ok(parked() <= 1000, `${parked()} requests kept`);
    } finally {
      client.close();
    }
  });

  it('a request made while reconnecting times out within its timeout, also behind the re-subscription', async () => {
    const server = await FakeServer.start();
    const client = await PsrtClient.connect({ path: server.address, timeout: 1, reconnect: { initialDelay: 0.6 } });
    try {
      await client.subscribe('a');
      client.on('reconnect', () => {
        server.holdReplies(); // the server stalls once re-subscribed
      });
      const back = once(client, 'reconnect');
      server.dropAll();
      await waitFor(() => !client.connected, 3000);
      const t0 = performance.now();
      const publish = client.publish('t', 'x'); // parked, then sent after the re-subscription
      await within(3000, back);
      await assert.rejects(within(3000, publish), { code: 'PSRT_TIMEOUT' });
      const elapsed = performance.now() - t0;
      assert.ok(elapsed < 1400, `timed out after ${Math.round(elapsed)} ms (timeout 1 s)`);
    } finally {
      client.close();
      await server.close();
    }
  });

  it('a connection lost along with a refused re-subscription is retried, not taken for a reconnect', async () => {
    let broken = false;
    const server = await FakeServer.start({
      reply: (req, session) => {
        if (req.kind !== 'subscribe') return 1;
        // After the restart: FE and, in the same packet, a byte nobody asked for.
        if (broken) {
          session.control.write(Buffer.from([0xfe, 0x77]));
          return 'silent';
        }
        for (const t of req.topics) session.subscriptions.add(t);
        return 1;
      },
    });
    const client = await PsrtClient.connect({ path: server.address, reconnect: { initialDelay: 0.02, maxDelay: 0.05 } });
    try {
      await client.subscribe('a');
      broken = true;
      server.dropAll();
      await waitFor(() => server.sessions.length >= 3, 3000, 'attempts going on');
      assert.equal(client.connected, false);
    } finally {
      client.close();
      await server.close();
    }
  });

  it('50 reconnects (whole connection or data socket alone) leave no socket, timer or listener behind', async () => {
    const server = await FakeServer.start();
    const client = await PsrtClient.connect({ path: server.address, reconnect: { initialDelay: 0.01, maxDelay: 0.01 } });
    try {
      await client.subscribe(['x', 'y']);
      const messages = client.messages();
      await sleep(100);
      const before = activeResources();
      const listeners = client.eventNames().map((e) => `${e}:${client.listenerCount(e)}`).join(',');
      for (let i = 0; i < 50; i++) {
        const back = once(client, 'reconnect');
        if (i % 2 === 0) server.dropAll();
        else server.sessions.at(-1)?.data?.destroy(); // the data socket alone
        await within(3000, back);
      }
      await sleep(100);
      assert.equal(activeResources(), before);
      assert.equal(client.eventNames().map((e) => `${e}:${client.listenerCount(e)}`).join(','), listeners);
      assert.deepEqual([...(server.sessions.at(-1)?.subscriptions ?? [])].sort(), ['x', 'y']);
      server.deliver('x', 'once');
      assert.equal((await within(2000, messages.next())).value?.payload.toString(), 'once');
      await client.bye();
    } finally {
      client.close();
      await server.close();
    }
  });
});
