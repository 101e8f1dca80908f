/**
 * The sending side's bounds and counters: the per-neighbour queue holds at most `data_queue`
 * messages and `data_queue_bytes` bytes (overflow dropped and counted in /status.cluster_nodes
 * and /metrics), also while a PUBLISH_REPL-only neighbour is slow; a neighbour that never
 * answers the login is offline, not "refusing" us.
 */
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import { freePort } from '../helpers/ports.js';
import { startPsrtd, type Psrtd } from '../helpers/psrtd.js';
import { clusterStatus } from '../helpers/cluster-status.js';
import { login, publishFrame } from '../helpers/raw.js';

interface FakeNode {
  readonly server: Server;
  readonly port: number;
  readonly sockets: Socket[];
}

/**
 * A fake neighbour. `greetOnly`: answers the greeting, then never answers the login.
 * `refuse`: closes the connection at login (a wrong password). `stall`: logs us in, closes on the probe (op 12, like the reference) and never answers
 * PUBLISH_REPL, so every link stays busy with its first message. `probeSilentOnce`: a psrt-node
 * node that leaves the first probe (op 12) unanswered and answers every later `12` with `E0`.
 * `notReplicator`: a psrt-node node that answers `12` with `FE` (the user is not a replicator).
 */
function fakeNode(mode: 'greetOnly' | 'refuse' | 'stall' | 'probeSilentOnce' | 'notReplicator'): Promise<FakeNode> {
  const sockets: Socket[] = [];
  let probes = 0;
  const server = createServer((s) => {
    sockets.push(s);
    s.on('error', () => undefined);
    let buf: Buffer = Buffer.alloc(0);
    let stage: 'greet' | 'login' | 'ops' = 'greet';
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (stage === 'greet' && buf.length >= 3) {
        buf = buf.subarray(3);
        s.write(Buffer.from([0xee, 0xaa, 1, 0]));
        stage = 'login';
      }
      if (mode === 'greetOnly') return;
      if (mode === 'refuse' && stage === 'login' && buf.length > 0) {
        s.destroy();
        return;
      }
      if (stage === 'login' && buf.length >= 4 && buf.length >= 4 + buf.readUInt32LE(0)) {
        buf = buf.subarray(4 + buf.readUInt32LE(0));
        s.write(Buffer.alloc(32, 9));
        stage = 'ops';
      }
      if (stage === 'ops' && mode !== 'stall') {
        buf = answerExtension(s, buf, () => (mode === 'notReplicator' ? 0xfe : probes++ === 0 ? null : 0xe0));
      } else if (stage === 'ops' && buf[0] === 0x12) s.destroy();
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const a = server.address();
      resolve({ server, port: typeof a === 'object' && a !== null ? a.port : 0, sockets });
    });
  });
}

/** Answers complete NOP (`01`) and `12 LEN topic` frames (`reply()`, or nothing when null). */
function answerExtension(s: Socket, buf: Buffer, reply: () => number | null): Buffer {
  for (;;) {
    if (buf[0] === 0x00) {
      s.write(Buffer.from([0x01]));
      buf = buf.subarray(1);
    } else if (buf[0] === 0x12 && buf.length >= 5 && buf.length >= 5 + buf.readUInt32LE(1)) {
      buf = buf.subarray(5 + buf.readUInt32LE(1));
      const code = reply();
      if (code !== null) s.write(Buffer.from([code]));
    } else {
      return buf;
    }
  }
}

function closeFake(f: FakeNode): void {
  for (const s of f.sockets) s.destroy();
  f.server.close();
}

function nodeWith(neighbourPort: number, server: Record<string, number | string>, timeout = 5): Promise<Psrtd> {
  return startPsrtd({
    server: { bind_stats: '127.0.0.1:0', ...server },
    proto: { timeout },
    cluster: `- path: 127.0.0.1:${neighbourPort}\n  user: repl\n  password: x\n`,
  });
}

async function publishMany(port: number, topic: string, payload: Buffer, count: number): Promise<void> {
  const { ctl } = await login(port);
  ctl.send(Buffer.concat(Array.from({ length: count }, () => publishFrame(topic, payload))));
  const replies = await ctl.read(count, 10000);
  assert.ok(replies.every((b) => b === 1));
  ctl.destroy();
}



describe('replication queue bounds', () => {
  test('a neighbour that is down: the queue is bounded by data_queue_bytes, overflow counted', async () => {
    const down = await freePort();
    const n = await nodeWith(down, { data_queue: 1024, data_queue_bytes: 2_000_000, max_pub_size: 1_000_000 });
    try {
      await publishMany(n.port, 'big/one', Buffer.alloc(500_000, 7), 20);
      const counters = (await clusterStatus(n)).cluster_nodes[`127.0.0.1:${String(down)}`];
      assert.ok(counters !== undefined, 'cluster_nodes has the neighbour');
      assert.ok(counters.queued <= 4, `queued ${String(counters.queued)} (2 MB of 500 kB messages)`);
      assert.equal(counters.queued + counters.dropped, 20);
      const metrics = await (await fetch(`http://127.0.0.1:${String(n.statsPort)}/metrics`)).text();
      assert.match(metrics, new RegExp(`psrt_cluster_messages_total\\{node="127.0.0.1:${String(down)}",result="dropped"\\} ${String(counters.dropped)}`));
      assert.match(metrics, new RegExp(`psrt_cluster_queued_messages\\{node="127.0.0.1:${String(down)}"\\} ${String(counters.queued)}`));
    } finally {
      await n.stop();
    }
  });

  test('a slow PUBLISH_REPL-only neighbour: messages beyond data_queue are dropped, not staged without bound', async () => {
    const fake = await fakeNode('stall');
    const n = await nodeWith(fake.port, { data_queue: 10 });
    try {
      await publishMany(n.port, 'warm/up', Buffer.from('x'), 1);
      await n.waitForLog(/cluster: 127\.0\.0\.1:\d+ online/, 10000);
      await publishMany(n.port, 's/t', Buffer.from('y'), 60);
      const counters = (await clusterStatus(n)).cluster_nodes[`127.0.0.1:${String(fake.port)}`];
      assert.ok(counters !== undefined);
      assert.ok(counters.queued <= 10, `queued ${String(counters.queued)}`);
      // At most one message in flight on each of the 8 links; the rest beyond 10 are dropped.
      assert.ok(counters.dropped >= 60 - 10 - 8, `dropped ${String(counters.dropped)}`);
    } finally {
      await n.stop();
      closeFake(fake);
    }
  });
});

describe('a neighbour that answers the greeting but never the login', () => {
  test('is offline (timed out), not unavailable (refused)', async () => {
    const fake = await fakeNode('greetOnly');
    const n = await nodeWith(fake.port, {}, 1);
    try {
      await publishMany(n.port, 'a/b', Buffer.from('x'), 1);
      await n.waitForLog(/cluster: 127\.0\.0\.1:\d+ (offline|refuses)/, 10000);
      assert.ok(!n.output.some((l) => l.includes('refuses replication')), 'no "refuses replication" line');
      assert.ok(n.output.some((l) => l.includes('offline: timed out waiting for login token')));
      const state = (await clusterStatus(n)).cluster[`127.0.0.1:${String(fake.port)}`];
      assert.ok(state === 'offline' || state === 'connecting', `state ${String(state)}`);
    } finally {
      await n.stop();
      closeFake(fake);
    }
  });
});

describe('a neighbour that refuses the login', () => {
  test('is unavailable and logged once, not on every retry', async () => {
    const fake = await fakeNode('refuse');
    const n = await nodeWith(fake.port, {});
    try {
      await publishMany(n.port, 'a/b', Buffer.from('x'), 1);
      await n.waitForLog(/refuses replication: login as "repl" refused/, 10000);
      // Retries at 250, 500 and 1000 ms follow within 2.5 s.
      await new Promise((r) => setTimeout(r, 2500));
      assert.ok(fake.sockets.length >= 3, `attempts: ${String(fake.sockets.length)}`);
      assert.equal(n.output.filter((l) => l.includes('refuses replication')).length, 1);
      assert.equal((await clusterStatus(n)).cluster[`127.0.0.1:${String(fake.port)}`], 'unavailable');
    } finally {
      await n.stop();
      closeFake(fake);
    }
  });
});

describe('the probe that tells a psrt-node neighbour from the reference server', () => {
  test('left unanswered once: the attempt is offline and the next connection probes again', async () => {
    const fake = await fakeNode('probeSilentOnce');
    const n = await nodeWith(fake.port, {}, 1);
    try {
      await publishMany(n.port, 'a/b', Buffer.from('x'), 1);
      await n.waitForLog(/cluster: 127\.0\.0\.1:\d+ online/, 10000);
      assert.ok(!n.output.some((l) => l.includes('speaks PUBLISH_REPL only')), n.output.join('\n'));
      assert.ok(n.output.some((l) => l.includes('offline: timed out waiting for the answer to the replication probe')));
      assert.ok(n.output.some((l) => l.includes('supports pipelined replication')));
      // One connection per probe and one pipelined link, not the 8 links of PUBLISH_REPL.
      assert.equal(fake.sockets.length, 3);
    } finally {
      await n.stop();
      closeFake(fake);
    }
  });

  test('answered FE (not a replicator): unavailable, and no links are brought online', async () => {
    const fake = await fakeNode('notReplicator');
    const n = await nodeWith(fake.port, {});
    try {
      await publishMany(n.port, 'a/b', Buffer.from('x'), 1);
      await n.waitForLog(/refuses replication: the user is not a replicator/, 10000);
      // Retries at 250, 500 and 1000 ms follow within 2.5 s; each one is refused again.
      await new Promise((r) => setTimeout(r, 2500));
      assert.ok(!n.output.some((l) => /cluster: \S+ online/.test(l)), n.output.join('\n'));
      assert.equal((await clusterStatus(n)).cluster[`127.0.0.1:${String(fake.port)}`], 'unavailable');
    } finally {
      await n.stop();
      closeFake(fake);
    }
  });
});
