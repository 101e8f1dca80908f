/**
 * Faults (issue 7 item 3), each with a well-behaved pair running beside it. Common pass
 * criteria after every fault: the pair lost nothing (count and order), psrtd's open fds are
 * back at the baseline (+2), its session and subscription counts (/status) are back to the
 * pair's, and the live heap after a full GC is within HEAP_TOLERANCE of the baseline.
 *
 * Elsewhere: a subscriber that stops reading forever — test/e2e/backpressure.test.ts (and the
 * stuck subscribers of net-fuzz.test.ts); an unwritable pid file — test/e2e/lifecycle.test.ts;
 * SIGHUP under load — reload.test.ts; full disk / closed stdout — output.test.ts; the
 * 10,000-cycle storm — scripts/soak.ts storm.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { ByteQueue } from '../../src/protocol/byte-queue.js';
import { DataDecoder } from '../../src/protocol/data-decoder.js';
import { encodeGreeting, encodeLogin, encodeNop, encodePublish, encodeSubscribe } from '../../src/protocol/encode.js';
import { startPsrtd, type Psrtd } from '../helpers/psrtd.js';
import { attachData, login, type RawConn } from '../helpers/raw.js';
import { TEST_ACL } from '../helpers/users.js';
import { Pair } from '../../scripts/lib/hardening/pair.js';
import { Peer } from '../../scripts/lib/hardening/peer.js';
import { clientCounts, heapProbeEnv, mb, settle, sleep, snapshot, type Snapshot } from '../../scripts/lib/hardening/proc.js';
import { pool, stormCycle } from '../../scripts/lib/hardening/storm.js';

const T_MS = 2000;
const SLACK_MS = 5000;
const HEAP_TOLERANCE = 4 * 1024 * 1024;
const ANON = Buffer.concat([encodeGreeting('control', false), encodeLogin('', '')]);

describe('faults', () => {
  let server: Psrtd;
  let pairs = 0;

  before(async () => {
    server = await startPsrtd({
      acl: TEST_ACL,
      proto: { timeout: T_MS / 1000 },
      server: { data_queue: 64, data_drain_timeout: 2, max_pub_size: 100000, bind_stats: '127.0.0.1:0' },
      env: heapProbeEnv(),
    });
    await pool(100, 10, (i) => stormCycle(server.port, i)); // warm-up before any baseline
  });
  after(async () => {
    assert.equal(await server.stop(), 0);
  });

  /**
   * Runs `fault` beside a fresh pair (own topic) and checks the common pass criteria;
   * `extraMs` for faults whose server-side end takes longer than T.
   */
  async function withPair(fault: () => Promise<void>, extraMs = 0): Promise<void> {
    const pair = await Pair.start(server.port, `pair/${++pairs}`);
    pair.run(20, 500);
    try {
      const base = await settle(server, await snapshot(server), 0, 2 * T_MS);
      await fault();
      await recovered(pair, base, extraMs);
    } finally {
      pair.close();
    }
  }

  async function recovered(pair: Pair, base: Snapshot, extraMs: number): Promise<void> {
    const final = await settle(server, base, 2, T_MS + SLACK_MS + extraMs);
    const counts = await clientCounts(server);
    while (pair.report().sent < 50) await sleep(20); // at least a second of steady traffic
    const result = await pair.stop(10_000);
    const why = JSON.stringify({ base: base.fds, final: final.fds, counts, pair: result });
    assert.equal(server.proc.exitCode, null, 'psrtd is running');
    assert.ok(final.fds <= base.fds + 2, why);
    assert.deepEqual(counts, { clients: 2, subscriptions: 1 }, why);
    assert.ok(result.received === result.sent && result.acked === result.sent, why);
    assert.ok(result.orderErrors === 0 && result.badReplies === 0 && !result.lostSocket, why);
    const growth = final.heap.heapUsed - base.heap.heapUsed;
    assert.ok(growth <= HEAP_TOLERANCE, `heap ${mb(base.heap.heapUsed)} → ${mb(final.heap.heapUsed)} MB`);
  }

  test('reconnect storm: 1,000 connect/login/subscribe/disconnect cycles (BYE, close, RST, data first)', () =>
    withPair(() => pool(1000, 10, (i) => stormCycle(server.port, i))));

  test('clients killed mid-frame (SIGKILL of a client process) and reset mid-frame', () =>
    withPair(() => killedMidFrame(server.port)));

  test('data sockets that never attach: no token, a token trickled past T; sessions without one', () =>
    withPair(() => neverAttached(server.port)));

  test('a publisher that disappears (RST) mid-pipeline while a stuck subscriber holds it back', () =>
    withPair(() => publisherVanishes(server.port), 2000));

  // Timers run before I/O in a Node event-loop turn: after a stall longer than T every deadline
  // fires at once, while the pings that kept the sessions alive wait unread (fixed bug).
  test('psrtd stopped (SIGSTOP) for longer than T: sessions that kept pinging survive', () =>
    withPair(async () => {
      server.proc.kill('SIGSTOP');
      await sleep(T_MS + 1000);
      server.proc.kill('SIGCONT');
      await sleep(500);
    }));

  // 1-byte replies first fill the kernel's socket buffers; only beyond them (+ 1 MiB) does psrtd
  // stop reading the client, the state a reply-write deadline must end (fixed bug: it did not).
  test('a client that pipelines megabytes of requests and never reads a reply is closed after T', () =>
    withPair(async () => {
      const p = await Peer.open(server.port);
      p.socket.pause();
      p.send(Buffer.concat([ANON, Buffer.alloc(Math.max(8 << 20, tcpWmemMax() + (4 << 20)), 0)]));
      await server.waitForLog(/Client 127\.0\.0\.1:\d+ error\. Timeout: reply write timed out/, T_MS + 15_000);
      p.destroy();
    }));
});

/** A client process with connections stopped mid-frame is SIGKILLed; then 20 resets mid-PUBLISH. */
async function killedMidFrame(port: number): Promise<void> {
  const child = spawn(process.execPath, ['-e', KILLABLE_CLIENT], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, PSRT_PORT: String(port) },
  });
  const ready = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => { resolve(false); }, 10_000);
    child.stdout.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) { clearTimeout(timer); resolve(true); }
    });
  });
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  assert.ok(ready, 'the client process opened its connections');
  for (let i = 0; i < 20; i++) {
    const p = await Peer.open(port);
    const frame = encodePublish(0x7f, 'kill/t', Buffer.alloc(3000, 0x61));
    p.send(Buffer.concat([ANON, frame.subarray(0, 1 + (i * 149) % (frame.length - 1))]));
    await p.read(36, 5000);
    p.socket.resetAndDestroy();
  }
}

async function neverAttached(port: number): Promise<void> {
  const sessions = await Promise.all(Array.from({ length: 100 }, () => login(port)));
  for (const s of sessions) s.ctl.send(encodeSubscribe(['na/#']));
  for (const s of sessions) assert.equal((await s.ctl.read(1))[0], 1);
  const keepAlive = setInterval(() => { for (const s of sessions) s.ctl.send(encodeNop()); }, 400);
  try {
    // 1. Publishes to sessions without a data socket are acknowledged and dropped, not queued.
    const pub = await login(port);
    pub.ctl.send(Buffer.concat(Array.from({ length: 2000 }, () => encodePublish(0x7f, 'na/x', Buffer.alloc(1000, 0x62)))));
    assert.ok((await pub.ctl.read(2000, 20_000)).every((b) => b === 1));
    pub.ctl.destroy();
    // 2. Greeting only, and a valid token sent one byte every 150 ms: both cut at T.
    const greetOnly = await Promise.all(Array.from({ length: 50 }, () => Peer.open(port)));
    for (const p of greetOnly) p.send(encodeGreeting('data', false));
    const trickled = sessions.slice(0, 10).map((s) => trickleToken(port, s.token));
    for (const p of greetOnly) assert.ok(await p.closesWithin(T_MS + SLACK_MS), 'greeting-only data socket closed');
    for (const ended of await Promise.all(trickled)) assert.ok(ended, 'trickled data socket closed by the server');
    // 3. The half-done handshakes took no data slot: the sessions can attach now.
    const data = await attachData(port, sessions[0]?.token ?? Buffer.alloc(32), 255);
    data.destroy();
  } finally {
    clearInterval(keepAlive);
    for (const s of sessions) s.ctl.destroy();
  }
}

/**
 * A publisher pipelines 20 MB to a topic with a stuck subscriber (its queue fills within a few
 * hundred kB, so psrtd reads the publisher only as fast as backpressure allows) and a reader,
 * then resets its connection with megabytes unsent. The reader must get a gap-free prefix.
 */
async function publisherVanishes(port: number): Promise<void> {
  const stuck = await subscriber(port, 'pd/t');
  stuck.data.socket.pause();
  const reader = await subscriber(port, 'pd/t');
  const seqs = collectSeqs(reader.data);
  const keepAlive = setInterval(() => { stuck.ctl.send(encodeNop()); reader.ctl.send(encodeNop()); }, 400);
  try {
    const pub = await Peer.open(port);
    pub.send(ANON);
    assert.ok((await pub.read(36, 20_000)) !== null, 'publisher logged in');
    const frames = Array.from({ length: 5000 }, (_, i) => {
      const p = Buffer.alloc(4096, 0x63);
      p.writeUInt32LE(i, 0);
      return encodePublish(0x7f, 'pd/t', p);
    });
    pub.send(Buffer.concat(frames));
    await waitFor(() => seqs.length > 0, 20_000);
    await sleep(300);
    assert.ok(pub.socket.writableLength > 0, 'the publisher still has megabytes in its pipeline');
    pub.socket.resetAndDestroy();
    await waitStalled(() => seqs.length, 1000, 20_000);
    assert.ok(seqs.length > 0 && seqs.every((s, i) => s === i), `reader got a gap-free prefix (${seqs.length})`);
  } finally {
    clearInterval(keepAlive);
    for (const c of [stuck.ctl, stuck.data, reader.ctl, reader.data]) c.destroy();
  }
}

/** The kernel's largest TCP send buffer (net.ipv4.tcp_wmem), 4 MiB if unknown. */
function tcpWmemMax(): number {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/tcp_wmem', 'utf8').trim().split(/\s+/)[2] ?? 4 << 20);
  } catch {
    return 4 << 20;
  }
}

/** Opens 20 control sockets that stop mid-PUBLISH and 10 data sockets mid-token, then waits to be killed. */
const KILLABLE_CLIENT = `
const net = require('node:net');
const port = Number(process.env.PSRT_PORT);
let ready = 0;
const done = () => { if (++ready === 30) process.stdout.write('ready\\n'); };
for (let i = 0; i < 30; i++) {
  const s = net.connect(port, '127.0.0.1', () => {
    if (i < 20) {
      const head = Buffer.from([0x01, 0x7f, 0, 0, 0, 0]);
      head.writeUInt32LE(5000, 2);
      s.write(Buffer.concat([Buffer.from('eeaa000100000000', 'hex'), head, Buffer.from('kill/t\\0'), Buffer.alloc(700, 0x61)]));
    } else {
      s.write(Buffer.concat([Buffer.from('eeab00', 'hex'), Buffer.alloc(16, 0x11)]));
    }
    s.once('data', done);
  });
  s.on('error', () => {});
}
setInterval(() => {}, 1000);
`;

async function subscriber(port: number, topic: string): Promise<{ ctl: RawConn; data: RawConn }> {
  const { ctl, token } = await login(port);
  const data = await attachData(port, token, 255);
  ctl.send(encodeSubscribe([topic]));
  if ((await ctl.read(1))[0] !== 1) throw new Error(`subscribe ${topic} failed`);
  return { ctl, data };
}

/** Sequence numbers (first 4 payload bytes) of the messages arriving on `data`. */
function collectSeqs(data: RawConn): number[] {
  const seqs: number[] = [];
  const queue = new ByteQueue();
  const decoder = new DataDecoder(queue);
  data.socket.removeAllListeners('data');
  data.socket.on('data', (chunk: Buffer) => {
    queue.push(chunk);
    for (let e = decoder.next(); e !== null; e = decoder.next()) if (e.kind === 'message') seqs.push(e.payload.readUInt32LE(0));
  });
  return seqs;
}

async function waitFor(cond: () => boolean, timeoutMs: number): Promise<void> {
  const t0 = performance.now();
  while (!cond() && performance.now() - t0 < timeoutMs) await sleep(20);
}

/** Resolves once `value()` has not changed for `quietMs` (or after `timeoutMs`). */
async function waitStalled(value: () => number, quietMs: number, timeoutMs: number): Promise<void> {
  const t0 = performance.now();
  let last = value();
  let since = performance.now();
  while (performance.now() - t0 < timeoutMs) {
    await sleep(50);
    const v = value();
    if (v !== last) {
      last = v;
      since = performance.now();
    } else if (performance.now() - since >= quietMs) {
      return;
    }
  }
}

/** A data socket sending a valid token one byte every 150 ms: the handshake deadline (T) must cut it. */
async function trickleToken(port: number, token: Buffer): Promise<boolean> {
  const p = await Peer.open(port);
  const bytes = Buffer.concat([encodeGreeting('data', false), token, Buffer.from([255])]);
  for (let i = 0; i < bytes.length && !p.ended; i++) {
    p.send(bytes.subarray(i, i + 1));
    await sleep(150);
  }
  const closed = await p.closesWithin(T_MS + SLACK_MS);
  return closed && p.received.length <= 4; // the greeting reply, never the `01` of an attach
}
