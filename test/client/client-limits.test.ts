/** Memory bounds of a receiving client: the message buffer in bytes, the largest data frame. */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { PsrtClient, resolveOptions, type Message, type PsrtError } from '../../src/client/index.js';
import { MessageQueue } from '../../src/client/message-queue.js';
import { FakeServer } from './fake-server.js';
import { sleep, waitFor, within } from './util.js';

const MiB = 1024 * 1024;

function message(topic: string, bytes: number): Message {
  return { topic, payload: Buffer.alloc(bytes), priority: 0x7f };
}

/** Bytes the fake server wrote that are still in its process (the client is not reading). */
function unsent(server: FakeServer): number {
  return server.sessions.reduce((sum, s) => sum + (s.data?.writableLength ?? 0), 0);
}

describe('message buffer bounded in bytes (queueBytes)', () => {
  it('resolveOptions: defaults 64 MiB; non-integers, zero and a LEN beyond u32 are refused', () => {
    const o = resolveOptions({});
    assert.equal(o.queueBytes, 64 * MiB);
    assert.equal(o.maxMessageSize, 64 * MiB);
    for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(() => resolveOptions({ queueBytes: bad }), /queueBytes must be a positive integer/);
      assert.throws(() => resolveOptions({ maxMessageSize: bad }), /maxMessageSize must be a positive integer/);
    }
    assert.throws(() => resolveOptions({ maxMessageSize: 2 ** 32 }), /at most 4294967295/);
    assert.equal(resolveOptions({ maxMessageSize: 2 ** 32 - 1, queueBytes: 1 }).maxMessageSize, 2 ** 32 - 1);
  });

  it('MessageQueue: full at maxBytes, resumes at half of both bounds, one message over the bound passes', async () => {
    let resumed = 0;
    const q = new MessageQueue(1000, 100, () => resumed++);
    assert.equal(q.push(message('t', 40)), true); // 42 bytes
    assert.equal(q.push(message('t', 40)), true); // 84
    assert.equal(q.push(message('t', 40)), false, 'full in bytes long before 1000 messages');
    assert.equal(q.byteLength, 126);
    await q.next();
    assert.equal(resumed, 0, '84 bytes left: more than half');
    await q.next();
    assert.equal(resumed, 1, '42 bytes left: resumed');
    await q.next();
    assert.equal(q.push(message('t', 500)), false, 'a message larger than the bound is taken, then reading pauses');
    const big = (await q.next()).value as Message | undefined;
    assert.equal(big?.payload.length, 500);
    assert.equal(resumed, 2);
    assert.equal(q.byteLength, 0);
  });

  it('pauses the data socket after queueBytes, not after queueSize messages; larger messages still arrive in order', async () => {
    const server = await FakeServer.start();
    const client = await PsrtClient.connect({ path: server.address, queueBytes: MiB });
    try {
      await client.subscribe('big');
      const count = 8;
      const size = 4 * MiB; // each one alone is larger than the whole buffer
      for (let i = 0; i < count; i++) server.deliver('big', Buffer.alloc(size, i));
      await sleep(300); // nobody consumes: the client keeps one message, the kernel a few MB
      // Without the byte bound the client reads all 32 MiB (8 messages < queueSize 8192).
      assert.ok(unsent(server) > 8 * MiB, `the server still holds ${unsent(server)} bytes`);
      const got: number[] = [];
      for await (const m of client.messages()) {
        assert.equal(m.payload.length, size);
        got.push(m.payload[size - 1] ?? -1);
        if (got.length === count) break;
      }
      assert.deepEqual(got, [0, 1, 2, 3, 4, 5, 6, 7]);
      await client.bye();
    } finally {
      client.close();
      await server.close();
    }
  });
});

describe('largest data frame (maxMessageSize)', () => {
  /** `01 prio LEN` announcing `len` bytes, followed by only a few of them. */
  function header(len: number): Buffer {
    const b = Buffer.from([0x01, 0x7f, 0, 0, 0, 0, 0x74, 0x00, 0x41]);
    b.writeUInt32LE(len, 2);
    return b;
  }

  it('a frame LEN over the limit fails the connection at once, from the length field', async () => {
    const server = await FakeServer.start();
    try {
      const client = await PsrtClient.connect({ path: server.address });
      await client.subscribe('t');
      const it = client.messages();
      const closed = once(client, 'close');
      server.writeData(header(64 * MiB + 1)); // the body never comes: the client must not wait for it
      await assert.rejects(within(3000, it.next()), { code: 'PSRT_FRAME_TOO_LONG' });
      const [err] = (await within(3000, closed)) as [PsrtError];
      assert.equal(err.code, 'PSRT_FRAME_TOO_LONG');
      assert.match(err.message, /67108865.*more than maxMessageSize \(67108864 bytes\)/);
    } finally {
      await server.close();
    }
  });

  it('a frame of exactly maxMessageSize passes; one byte more drops the connection and a reconnect follows', async () => {
    const server = await FakeServer.start();
    const client = await PsrtClient.connect({ path: server.address, maxMessageSize: 1000, reconnect: { initialDelay: 0.02 } });
    try {
      await client.subscribe('t');
      const it = client.messages();
      server.deliver('t', Buffer.alloc(998)); // LEN = 1 + 1 + 998
      assert.equal((await within(3000, it.next())).value?.payload.length, 998);
      const disconnected = once(client, 'disconnect');
      const reconnected = once(client, 'reconnect');
      server.deliver('t', Buffer.alloc(999));
      const [err] = (await within(3000, disconnected)) as [PsrtError];
      assert.equal(err.code, 'PSRT_FRAME_TOO_LONG');
      await within(3000, reconnected);
      await waitFor(() => server.sessions.at(-1)?.subscriptions.has('t') === true, 3000, 're-subscription');
      server.deliver('t', 'after');
      assert.equal((await within(3000, it.next())).value?.payload.toString(), 'after');
      await client.bye();
    } finally {
      client.close();
      await server.close();
    }
  });
});
