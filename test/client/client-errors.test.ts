/** Typed errors: login, refused, data stream, protocol violations, closed clients. */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { join } from 'node:path';
import { PsrtClient, PsrtError, resolveOptions } from '../../src/client/index.js';
import { FakeServer } from './fake-server.js';
import { freePort, sleep, tempDir, within } from './util.js';

function closeEvent(client: PsrtClient): Promise<PsrtError | null> {
  return within(5000, new Promise((resolve) => client.once('close', resolve)), 'close event');
}

describe('client errors (fake server)', () => {
  it('connection refused → Io with a plain explanation', async () => {
    const port = await freePort();
    await assert.rejects(PsrtClient.connect({ path: `127.0.0.1:${port}` }), (e: unknown) => {
      assert.ok(e instanceof PsrtError);
      assert.equal(e.code, 'PSRT_IO');
      assert.match(e.message, /connection refused by 127\.0\.0\.1:\d+/);
      return true;
    });
  });

  it('login refused (server closes silently) → LoginFailed', async () => {
    const server = await FakeServer.start({ login: (l, p) => l === 'u' && p === 'good' });
    try {
      await assert.rejects(
        PsrtClient.connect({ path: server.address, user: 'u', password: 'bad' }),
        { code: 'PSRT_LOGIN_FAILED', message: 'Login failed (user "u")' },
      );
      const ok = await PsrtClient.connect({ path: server.address, user: 'u', password: 'good' });
      await ok.bye();
    } finally {
      await server.close();
    }
  });

  it('data socket refused → DataChannelDenied, nothing left open', async () => {
    const server = await FakeServer.start({ denyData: true });
    try {
      await assert.rejects(PsrtClient.connect({ path: server.address }), { code: 'PSRT_DATA_DENIED' });
    } finally {
      await server.close();
    }
  });

  it('connect timeout when the server never answers the greeting', async () => {
    // A server that accepts TCP but answers nothing: a raw listener.
    const { createServer } = await import('node:net');
    const sockets: import('node:net').Socket[] = [];
    const mute = createServer((s) => sockets.push(s)).listen(0, '127.0.0.1');
    await new Promise((r) => mute.once('listening', r));
    const port = (mute.address() as import('node:net').AddressInfo).port;
    try {
      const t0 = performance.now();
      await assert.rejects(PsrtClient.connect({ path: `127.0.0.1:${port}`, timeout: 0.3 }), { code: 'PSRT_TIMEOUT' });
      assert.ok(performance.now() - t0 < 8000);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => mute.close(r));
    }
  });

  it('an aborted connect rejects with the signal\'s reason (not a timeout) and closes its socket', async () => {
    const { createServer } = await import('node:net');
    const sockets: import('node:net').Socket[] = [];
    const mute = createServer((s) => {
      sockets.push(s);
      s.resume(); // read, so the client's close is seen
    }).listen(0, '127.0.0.1');
    await new Promise((r) => mute.once('listening', r));
    const port = (mute.address() as import('node:net').AddressInfo).port;
    try {
      // Aborted while waiting for the greeting's reply: the reason, at once, the socket closed.
      const ac = new AbortController();
      const why = new Error('operator pressed stop');
      const pending = PsrtClient.connect({ path: `127.0.0.1:${port}`, timeout: 30, signal: ac.signal });
      while (sockets.length === 0) await new Promise((r) => setTimeout(r, 5));
      const closed = new Promise((r) => sockets[0]?.once('close', r));
      const t0 = performance.now();
      ac.abort(why);
      await assert.rejects(pending, (e: unknown) => e === why);
      assert.ok(performance.now() - t0 < 1000, 'rejected at the abort, not at the 30 s timeout');
      await within(2000, closed);
      // Already aborted: the default AbortError, no connection kept.
      const aborted = AbortSignal.abort();
      await assert.rejects(PsrtClient.connect({ path: `127.0.0.1:${port}`, timeout: 30, signal: aborted }), {
        name: 'AbortError',
      });
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => mute.close(r));
    }
  });

  it('FF keeps the connection (documented deviation), an unknown reply byte ends it', async () => {
    const server = await FakeServer.start({
      reply: (req) => (req.kind === 'subscribe' ? (req.topics[0] === 'deep' ? 0xff : 0x77) : 1),
    });
    try {
      const client = await PsrtClient.connect({ path: server.address, dataStream: false });
      await assert.rejects(client.subscribe('deep'), { code: 'PSRT_SERVER_ERROR' });
      assert.equal(client.connected, true);
      const closed = closeEvent(client);
      const weird = client.subscribe('weird');
      const later = client.publish('x', 'y'); // in flight behind it: its reply is never read
      await assert.rejects(weird, { code: 'PSRT_PROTOCOL_VIOLATION' });
      await assert.rejects(later, { code: 'PSRT_PROTOCOL_VIOLATION' });
      assert.equal((await closed)?.code, 'PSRT_PROTOCOL_VIOLATION');
      assert.equal(client.connected, false);
      await assert.rejects(client.publish('x', 'y'), { code: 'PSRT_NOT_CONNECTED' });
    } finally {
      await server.close();
    }
  });

  it('bad data-socket marker → ProtocolViolation, BYE sent, iterator throws', async () => {
    const server = await FakeServer.start();
    try {
      const client = await PsrtClient.connect({ path: server.address });
      const closed = closeEvent(client);
      const it = client.messages();
      server.writeData(Buffer.from([0x05]));
      await assert.rejects(within(3000, it.next()), { code: 'PSRT_PROTOCOL_VIOLATION' });
      assert.equal((await closed)?.code, 'PSRT_PROTOCOL_VIOLATION');
      await within(3000, (async () => {
        while (server.requests.at(-1)?.kind !== 'bye') await new Promise((r) => setTimeout(r, 10));
      })());
    } finally {
      await server.close();
    }
  });

  it('silent data socket (no pings) → Timeout after the client timeout', async () => {
    const server = await FakeServer.start();
    try {
      const client = await PsrtClient.connect({ path: server.address, timeout: 1 });
      const errors: PsrtError[] = [];
      client.on('error', (e) => errors.push(e));
      const t0 = performance.now();
      const err = await closeEvent(client);
      const elapsed = performance.now() - t0;
      assert.equal(err?.code, 'PSRT_TIMEOUT');
      assert.equal(errors.length, 1, "'error' is emitted when a listener exists");
      assert.ok(elapsed > 800 && elapsed < 8000, `elapsed ${elapsed}`);
    } finally {
      await server.close();
    }
  });

  it('server drops the connection → pending requests fail with Eof, close event carries it', async () => {
    const server = await FakeServer.start({ reply: (req) => (req.kind === 'publish' ? 'close' : 1) });
    try {
      const client = await PsrtClient.connect({ path: server.address });
      const closed = closeEvent(client);
      await assert.rejects(client.publish('a', 'b'), { code: 'PSRT_EOF' });
      assert.equal((await closed)?.code, 'PSRT_EOF');
    } finally {
      await server.close();
    }
  });

  it('close() fails pending requests with NotConnected and is idempotent', async () => {
    const server = await FakeServer.start();
    try {
      const client = await PsrtClient.connect({ path: server.address });
      server.holdReplies();
      const p = client.publish('a', 'b');
      client.close();
      client.close();
      await assert.rejects(p, { code: 'PSRT_NOT_CONNECTED' });
      await assert.rejects(client.ping(), { code: 'PSRT_NOT_CONNECTED' });
      await client.bye(); // no-op on a closed client
      server.releaseReplies();
    } finally {
      await server.close();
    }
  });

  it('an aborted connect to a Unix socket that has not appeared stops waiting for it (the process can exit)', async () => {
    const dir = tempDir();
    try {
      await sleep(100); // what earlier tests closed is gone
      const before = process.getActiveResourcesInfo().join(', ');
      const ac = new AbortController();
      const pending = PsrtClient.connect({ path: join(dir.path, 'later.sock'), socketWaitTimeout: 30, signal: ac.signal });
      await sleep(150);
      ac.abort();
      await assert.rejects(pending, { name: 'AbortError' });
      await sleep(250); // longer than one poll of the socket file
      assert.equal(process.getActiveResourcesInfo().join(', '), before);
    } finally {
      dir.remove();
    }
  });

  it('bye() twice: both wait for the one BYE and its reply', async () => {
    const server = await FakeServer.start();
    try {
      const client = await PsrtClient.connect({ path: server.address });
      const results = await Promise.allSettled([client.bye(), client.bye()]);
      assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'fulfilled']);
      assert.deepEqual(server.requests.map((r) => r.kind), ['bye']);
      await client.bye(); // closed by now: resolves at once
    } finally {
      await server.close();
    }
  });

  it('a timeout that is not a positive number of seconds a timer can hold is refused, not a timeout at once', async () => {
    const server = await FakeServer.start();
    try {
      const client = await PsrtClient.connect({ path: server.address });
      for (const timeout of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, 3e6]) {
        await assert.rejects(client.ping({ timeout }), RangeError, `timeout ${timeout}`);
        await assert.rejects(client.subscribe('x', { timeout }), RangeError);
        await assert.rejects(client.publish('x', 'y', { timeout }), RangeError);
      }
      assert.deepEqual(server.requests, [], 'nothing sent');
      await client.ping({ timeout: 2_000_000 });
      for (const timeout of [Number.POSITIVE_INFINITY, 3e6]) {
        assert.throws(() => resolveOptions({ timeout }), TypeError);
        assert.throws(() => resolveOptions({ reconnect: { maxDelay: timeout } }), TypeError);
      }
      await client.bye();
    } finally {
      await server.close();
    }
  });

  it('a stray byte after the login token → ProtocolViolation, not a crash (also during a reconnect)', async () => {
    const { createServer } = await import('node:net');
    const sockets: import('node:net').Socket[] = [];
    let logins = 0;
    let strayFrom = 1; // the login from which the token comes with a byte nobody asked for
    const server = createServer((s) => {
      sockets.push(s);
      s.on('error', () => undefined);
      s.once('data', () => {
        s.write(Buffer.from([0xee, 0xaa, 0x01, 0x00]));
        s.once('data', () => {
          const stray = ++logins >= strayFrom ? [0x01] : [];
          s.write(Buffer.concat([Buffer.alloc(32, 7), Buffer.from(stray)]));
          s.on('data', () => undefined);
        });
      });
    }).listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const path = `127.0.0.1:${(server.address() as import('node:net').AddressInfo).port}`;
    try {
      await assert.rejects(PsrtClient.connect({ path, dataStream: false }), { code: 'PSRT_PROTOCOL_VIOLATION' });
      strayFrom = logins + 2; // the next login is a good one, the one after it is not
      const client = await PsrtClient.connect({ path, dataStream: false, reconnect: { initialDelay: 0.02 } });
      for (const s of sockets) s.destroy();
      const [failed] = (await within(3000, once(client, 'reconnectFailed'), 'the attempt')) as [PsrtError];
      client.close();
      assert.equal(failed.code, 'PSRT_PROTOCOL_VIOLATION');
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    }
  });
});
