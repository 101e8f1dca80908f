/**
 * Large messages (≥ 16 KB) are delivered as the pieces they arrived in, never joined
 * (ControlDecoder ChunkedPublish): the bytes every subscriber receives must still be exactly
 * the data frame, also when the publish trickles in over many reads, when its topic needs
 * normalisation (a new head before the same pieces), when it goes to several subscribers,
 * when small messages are interleaved, and when a neighbour node replicates it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { freePort } from '../helpers/ports.js';
import { startPsrtd, type Psrtd } from '../helpers/psrtd.js';
import { Bystander, attachData, deliveredFrame, login, publishFrame, topicsFrame, type RawConn } from '../helpers/raw.js';
import { PASSWORD, makePasswd } from '../helpers/users.js';

const MB = 1_000_000;

/** A payload whose every byte depends on its position and a seed (catches reordered pieces). */
function pattern(size: number, seed: number): Buffer {
  const p = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) p[i] = (i * 31 + seed + (i >> 12)) & 0xff;
  return p;
}

async function subscriber(port: number, mask: string): Promise<{ ctl: RawConn; data: RawConn }> {
  const { ctl, token } = await login(port);
  const data = await attachData(port, token, 255);
  ctl.send(topicsFrame(2, [mask]));
  assert.deepEqual(await ctl.read(1), Buffer.from([1]));
  return { ctl, data };
}

/** Writes `bytes` in `pieces` separate writes, each after the previous one left the socket. */
async function trickle(conn: RawConn, bytes: Buffer, pieces: number): Promise<void> {
  const step = Math.ceil(bytes.length / pieces);
  for (let at = 0; at < bytes.length; at += step) {
    const flushed = new Promise<void>((resolve) => conn.socket.write(bytes.subarray(at, at + step), () => { resolve(); }));
    await flushed;
    await new Promise((r) => setTimeout(r, 2));
  }
}

describe('large messages', () => {
  let server: Psrtd;
  before(async () => {
    server = await startPsrtd({ server: { max_pub_size: 1_100_000 }, proto: { timeout: 10 } });
  });
  after(async () => {
    assert.equal(await server.stop(), 0);
  });

  test('1 MB publishes reach two subscribers byte-exact, in order with small ones, topics normalised', async () => {
    const subs = [await subscriber(server.port, 'big/#'), await subscriber(server.port, 'big/+')];
    const { ctl } = await login(server.port);
    const sent = [
      { topic: 'big/a', payload: pattern(MB, 1), pieces: 40 },
      { topic: 'big/b', payload: Buffer.from('small in between'), pieces: 1 },
      { topic: '//big///c', payload: pattern(MB, 2), pieces: 7 }, // delivered as big/c
      { topic: 'big/d', payload: pattern(16 * 1024, 3), pieces: 3 }, // exactly at the threshold
      { topic: 'big/e', payload: pattern(300_000, 4), pieces: 1 },
    ];
    for (const m of sent) await trickle(ctl, publishFrame(m.topic, m.payload), m.pieces);
    assert.deepEqual(await ctl.read(sent.length, 10_000), Buffer.alloc(sent.length, 1));
    const expected = Buffer.concat(sent.map((m) => deliveredFrame(m.topic.replace(/\/+/g, '/').replace(/^\//, ''), m.payload)));
    for (const { data } of subs) assert.ok((await data.read(expected.length, 10_000)).equals(expected));
    for (const s of [...subs, { ctl, data: null }]) {
      s.ctl.destroy();
      s.data?.destroy();
    }
  });

  test('a slowly arriving 1 MB publish does not hold up other publishers', async () => {
    const sub = await subscriber(server.port, 'mixed/#');
    const slow = await login(server.port);
    const fast = await login(server.port);
    const big = publishFrame('mixed/big', pattern(MB, 5));
    slow.ctl.send(big.subarray(0, MB / 2)); // half of it, the rest later
    fast.ctl.send(publishFrame('mixed/fast', 'meanwhile'));
    assert.deepEqual(await fast.ctl.read(1), Buffer.from([1]));
    const first = deliveredFrame('mixed/fast', 'meanwhile');
    assert.ok((await sub.data.read(first.length)).equals(first));
    slow.ctl.send(big.subarray(MB / 2));
    assert.deepEqual(await slow.ctl.read(1, 10_000), Buffer.from([1]));
    const second = deliveredFrame('mixed/big', pattern(MB, 5));
    assert.ok((await sub.data.read(second.length, 10_000)).equals(second));
    for (const c of [sub.ctl, sub.data, slow.ctl, fast.ctl]) c.destroy();
  });
});

describe('bad large publishes (the chunked path) close only their client', () => {
  let server: Psrtd;
  let bystander: Bystander;
  before(async () => {
    server = await startPsrtd({ server: { max_pub_size: 1_100_000 }, proto: { timeout: 10 } });
    bystander = await Bystander.create(server.port);
  });
  after(async () => {
    bystander.close();
    assert.equal(await server.stop(), 0);
  });

  /** A PUBLISH whose body is `body` (≥ 16 KB: decoded on the chunked path), sent in 3 writes. */
  function rawPublish(body: Buffer): Buffer {
    const head = Buffer.from([0x01, 0x7f, 0, 0, 0, 0]);
    head.writeUInt32LE(body.length, 2);
    return Buffer.concat([head, body]);
  }
  const filler = Buffer.alloc(40_000, 0x41);
  const cases: [string, Buffer][] = [
    ['no 00 in the body', filler],
    ['an empty topic', Buffer.concat([Buffer.from([0]), filler])],
    ['a topic that is not UTF-8', Buffer.concat([Buffer.from([0xc3, 0x28, 0]), filler])],
    ['a wildcard in the topic', Buffer.concat([Buffer.from('big/#\0'), filler])],
  ];
  for (const [what, body] of cases) {
    test(`${what}: closed without a reply, others unaffected`, async () => {
      const sub = await subscriber(server.port, '#');
      const { ctl } = await login(server.port);
      await trickle(ctl, rawPublish(body), 3);
      await ctl.expectClose(5000);
      await bystander.check();
      // The subscriber of everything got the bystander's message only: nothing of the bad one.
      const expected = deliveredFrame('bystander/t', 'ping-' + String(cases.findIndex(([w]) => w === what) + 1));
      assert.ok((await sub.data.read(expected.length)).equals(expected));
      await sub.data.expectSilence(100);
      sub.ctl.destroy();
      sub.data.destroy();
    });
  }
});

describe('large messages across a cluster', () => {
  const ACL = '_:\n  sub: ["#"]\n  pub: ["#"]\nrepl:\n  replicator: true\n';
  const nodes: Psrtd[] = [];
  after(async () => {
    for (const n of nodes) await n.stop();
  });

  test('a 1 MB publish on one node is delivered byte-exact on its neighbour', async () => {
    const server = { max_pub_size: 1_100_000 };
    const b = await startPsrtd({ acl: ACL, passwd: makePasswd(), server, proto: { bind: [`127.0.0.1:${await freePort()}`], timeout: 5 } });
    nodes.push(b);
    const cluster = `- path: 127.0.0.1:${b.port}\n  user: repl\n  password: ${PASSWORD}\n  timeout: 5\n`;
    const a = await startPsrtd({ acl: ACL, server, proto: { timeout: 5 }, cluster });
    nodes.push(a);
    const sub = await subscriber(b.port, 'far/#');
    const { ctl } = await login(a.port);
    const payload = pattern(MB, 6);
    const frame = deliveredFrame('far/big', payload);
    // The link comes up asynchronously: publish until the neighbour delivers.
    const t0 = performance.now();
    for (;;) {
      await trickle(ctl, publishFrame('far/big', payload), 10);
      assert.deepEqual(await ctl.read(1, 10_000), Buffer.from([1]));
      await new Promise((r) => setTimeout(r, 100));
      if (sub.data.buffered >= frame.length) break;
      assert.ok(performance.now() - t0 < 15_000, 'replicated within 15 s');
    }
    assert.ok((await sub.data.read(frame.length)).equals(frame));
    for (const c of [sub.ctl, sub.data, ctl]) c.destroy();
  });
});
