/** Handshake, operations and message delivery against the spec-only fake server. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { once } from 'node:events';
import { PsrtClient, type Message } from '../../src/client/index.js';
import { FakeServer } from './fake-server.js';
import { waitFor, within } from './util.js';

describe('client basics (fake server)', () => {
  let server: FakeServer;
  before(async () => {
    server = await FakeServer.start();
  });
  after(async () => {
    await server.close();
  });

  it('logs in anonymously, declares the timeout byte, says BYE', async () => {
    const client = await PsrtClient.connect({ path: server.address, timeout: 7.9 });
    const session = server.sessions.at(-1)!;
    assert.equal(session.login, '');
    assert.equal(session.timeoutByte, 7, 'whole seconds of the timeout');
    assert.equal(client.connected, true);
    let closed: unknown = 'not yet';
    client.on('close', (e) => (closed = e));
    await client.bye();
    assert.equal(client.connected, false);
    assert.equal(closed, null);
    assert.equal(server.requests.at(-1)?.kind, 'bye');
  });

  it('declares at least 1 for a sub-second timeout and sends credentials', async () => {
    const client = await PsrtClient.connect({ path: server.address, timeout: 0.5, user: 'u', password: 'p' });
    assert.equal(server.sessions.at(-1)?.timeoutByte, 1);
    assert.equal(server.sessions.at(-1)?.login, 'u');
    await client.bye();
  });

  it('refuses a timeout longer than a Node timer holds (it would fire after 1 ms)', async () => {
    const sessions = server.sessions.length;
    await assert.rejects(PsrtClient.connect({ path: server.address, timeout: 3_000_000 }), /timeout must be .* at most 2147483/);
    await assert.rejects(PsrtClient.connect({ path: server.address, socketWaitTimeout: 1e9 }), /socketWaitTimeout must be/);
    assert.equal(server.sessions.length, sessions, 'nothing was opened');
    const client = await PsrtClient.connect({ path: server.address, timeout: 2_147_483 });
    assert.equal(server.sessions.at(-1)?.timeoutByte, 255);
    await client.bye();
  });

  it('subscribes (single and bulk), publishes, receives via callback and iterator', async () => {
    const client = await PsrtClient.connect({ path: server.address });
    await client.subscribe('t/1');
    await client.subscribe(['t/2', 't/3']);
    const subs = server.requests.filter((r) => r.kind === 'subscribe');
    assert.deepEqual(
      subs.slice(-2).map((r) => (r.kind === 'subscribe' ? r.topics : [])),
      [['t/1'], ['t/2', 't/3']],
    );
    const seen: Message[] = [];
    const onMessage = (m: Message): void => {
      seen.push(m);
    };
    client.on('message', onMessage);
    await client.publish('t/1', 'hello', { priority: 5 });
    await waitFor(() => seen.length === 1);
    const first = seen[0]!;
    assert.equal(first.topic, 't/1');
    assert.equal(first.payload.toString(), 'hello');
    assert.equal(first.priority, 5);
    client.off('message', onMessage);

    const it = client.messages();
    await client.publish('t/2', Buffer.from([1, 2, 3]));
    await client.publish('t/3', new Uint8Array([0, 0xff]));
    const a = await within(2000, it.next());
    const b = await within(2000, it.next());
    assert.equal(a.value?.topic, 't/2');
    assert.deepEqual([...(b.value?.payload ?? [])], [0, 0xff]);
    await client.unsubscribe(['t/2', 't/3']);
    await client.ping();
    await client.bye();
    assert.deepEqual(await it.next(), { value: undefined, done: true });
  });

  it('buffers messages with back-pressure (queueSize 4, 50 messages, slow reader)', async () => {
    const client = await PsrtClient.connect({ path: server.address, queueSize: 4 });
    await client.subscribe('bp');
    for (let i = 0; i < 50; i++) server.deliver('bp', `m${i}`);
    const got: string[] = [];
    for await (const m of client.messages()) {
      got.push(m.payload.toString());
      if (got.length % 7 === 0) await new Promise((r) => setImmediate(r));
      if (got.length === 50) break;
    }
    assert.deepEqual(got, Array.from({ length: 50 }, (_, i) => `m${i}`));
    await client.bye();
  });

  it('a message listener attached late gets what was buffered, then the rest (full buffer resumes)', async () => {
    const client = await PsrtClient.connect({ path: server.address, queueSize: 4 });
    await client.subscribe('late');
    for (let i = 0; i < 20; i++) server.deliver('late', `m${i}`);
    await new Promise((r) => setTimeout(r, 200)); // buffer full (4), data socket paused
    const got: string[] = [];
    client.on('message', (m) => got.push(m.payload.toString()));
    server.deliver('late', 'm20');
    await within(5000, waitFor(() => got.length === 21, 4000, 'all 21 messages'));
    assert.deepEqual(got, Array.from({ length: 21 }, (_, i) => `m${i}`));
    await client.bye();
  });

  it('a late once() listener takes one buffered message; the rest wait for the next listener', async () => {
    const client = await PsrtClient.connect({ path: server.address, queueSize: 8 });
    await client.subscribe('late-once');
    for (let i = 0; i < 5; i++) server.deliver('late-once', `m${i}`);
    await new Promise((r) => setTimeout(r, 200)); // buffered: no listener yet
    const first = await within(2000, once(client, 'message'));
    assert.equal((first[0] as Message).payload.toString(), 'm0');
    const got: string[] = [];
    client.on('message', (m) => got.push(m.payload.toString()));
    await within(5000, waitFor(() => got.length === 4, 4000, 'the other 4'));
    assert.deepEqual(got, ['m1', 'm2', 'm3', 'm4']);
    await client.bye();
  });

  it('skips a message with an invalid UTF-8 topic and keeps going', async () => {
    const client = await PsrtClient.connect({ path: server.address });
    await client.subscribe('#');
    const bad = Buffer.from([1, 0x7f, 3, 0, 0, 0, 0xff, 0, 0x41]);
    server.writeData(bad);
    server.deliver('ok', 'fine');
    const first = await within(2000, client.messages().next());
    assert.equal(first.value?.topic, 'ok');
    assert.equal(client.connected, true);
    await client.bye();
  });

  it('publishRepl: 02 then body then 01, with later requests held behind it', async () => {
    const repl = await FakeServer.start({
      reply: (req) => (req.kind === 'repl-topic' ? (req.topic === 'none' ? 0xe0 : 2) : 1),
    });
    try {
      const client = await PsrtClient.connect({ path: repl.address, dataStream: false });
      const p1 = client.publishRepl('a/b', 'x', 123n, { priority: 9 });
      const p2 = client.publish('c', 'y');
      const p3 = client.publishRepl('none', 'z', 1n);
      await Promise.all([p1, p2, p3]);
      const kinds = repl.requests.map((r) => r.kind);
      assert.deepEqual(kinds, ['repl-topic', 'repl-body', 'publish', 'repl-topic']);
      const body = repl.requests[1];
      assert.ok(body?.kind === 'repl-body');
      assert.equal(body.timestampNs, 123n);
      assert.equal(body.priority, 9);
      await client.bye();
    } finally {
      await repl.close();
    }
  });

  it('large payloads (zero-copy path) arrive byte-identical, in order with small ones', async () => {
    const client = await PsrtClient.connect({ path: server.address, dataStream: false });
    const start = server.requests.length;
    const big = Buffer.alloc(200_000);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff;
    await Promise.all([client.publish('s', 'a'), client.publish('big/x', big, { priority: 3 }), client.publish('s', 'b')]);
    const got = server.requests.slice(start);
    assert.deepEqual(got.map((r) => r.kind), ['publish', 'publish', 'publish']);
    const mid = got[1]!;
    assert.ok(mid.kind === 'publish');
    assert.equal(mid.priority, 3);
    assert.ok(mid.body.equals(Buffer.concat([Buffer.from('big/x\0'), big])));
    await client.bye();
  });

  it('rejects bad topics locally without hurting the connection', async () => {
    const client = await PsrtClient.connect({ path: server.address, dataStream: false });
    await assert.rejects(client.publish('a/#', 'x'), { code: 'PSRT_WILDCARD_PUBLISH' });
    await assert.rejects(client.publish('', 'x'), { code: 'PSRT_INVALID_DATA_BLOCK' });
    await assert.rejects(client.subscribe('a\0b'), { code: 'PSRT_INVALID_DATA_BLOCK' });
    await client.publish('a/b', 'x');
    await client.bye();
  });

  it('rejects a priority outside 0..255 instead of sending it wrapped to one byte', async () => {
    const client = await PsrtClient.connect({ path: server.address, dataStream: false });
    const before = server.requests.length;
    for (const priority of [256, 300, -1, 1.5, Number.NaN]) {
      await assert.rejects(client.publish('p', 'x', { priority }), RangeError, `priority ${priority}`);
      await assert.rejects(client.publishRepl('p', 'x', 1n, { priority }), RangeError, `repl priority ${priority}`);
    }
    assert.equal(server.requests.length, before, 'nothing was sent');
    await client.publish('p', 'x', { priority: 0 });
    await client.publish('p', 'x', { priority: 255 });
    await client.bye();
  });
});
