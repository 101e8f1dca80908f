/** Optional reconnect with back-off and re-subscription. */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { PsrtClient, type PsrtError } from '../../src/client/index.js';
import { FakeServer } from './fake-server.js';
import { tempDir, waitFor, within } from './util.js';

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
});
