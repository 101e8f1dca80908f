/**
 * Worst-case server memory per connection and per subscription (issue 7 item 4), measured on a
 * spawned psrtd with the heap probe (live heap after a full GC, plus external memory and RSS):
 *
 *   1. 10,000 idle control sessions (anonymous login, no subscription)
 *   2. a data socket attached to 8,000 of them (this process's fd limit is 20,000)
 *   3. 1,000,000 subscriptions, all distinct (100 sessions × 10,000 three-level topics)
 *   4. 1,000,000 subscriptions on shared topics (1,000 sessions × the same 1,000 topics)
 *   5. 200 connections each holding an unfinished 1 MB PUBLISH (the per-connection worst case)
 *   6. in-process: bytes per queued frame reference (1,000 queues × 1,000 shared frames)
 *
 *   node dist/scripts/memory.js [--sessions 10000] [--data 8000]
 *
 * Prints one line per phase and a JSON summary; docs/memory.md quotes the figures.
 */
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { parseArgs } from 'node:util';
import { FULL_ACCESS } from '../src/auth/acl.js';
import { Broker } from '../src/broker/broker.js';
import { stampNow } from '../src/broker/delivery.js';
import { publishRequest } from '../src/protocol/control.js';
import { nullLogger } from '../src/log/logger.js';
import { encodeGreeting, encodeLogin, encodePublish, encodeSubscribe } from '../src/protocol/encode.js';
import { startPsrtd, type Psrtd } from '../test/helpers/psrtd.js';
import { Peer } from './lib/hardening/peer.js';
import { fdCount, heapProbe, heapProbeEnv, mb, settle, snapshot, sleep, type Snapshot } from './lib/hardening/proc.js';
import { pool } from './lib/hardening/storm.js';

interface Session {
  readonly ctl: Peer;
  readonly token: Buffer;
}

const LOGIN = Buffer.concat([encodeGreeting('control', false), encodeLogin('', '')]);

async function openSessions(port: number, n: number): Promise<Session[]> {
  const out: Session[] = [];
  await pool(n, 200, async () => {
    const ctl = await Peer.open(port, 30_000);
    ctl.send(LOGIN);
    const head = await ctl.read(36, 30_000);
    if (head === null) throw new Error('login failed');
    out.push({ ctl, token: Buffer.from(head.subarray(4)) });
  });
  return out;
}

async function attach(port: number, sessions: readonly Session[]): Promise<Peer[]> {
  const out: Peer[] = [];
  await pool(sessions.length, 200, async (i) => {
    const s = sessions[i];
    if (s === undefined) return;
    const data = await Peer.open(port, 30_000);
    data.send(Buffer.concat([encodeGreeting('data', false), s.token, Buffer.from([255])]));
    const reply = await data.read(5, 30_000);
    if (reply?.[4] !== 1) throw new Error('data attach refused');
    out.push(data);
  });
  return out;
}

/** `perSession` subscriptions per session in bulk frames of 1,000 topics. */
async function subscribeAll(sessions: readonly Session[], perSession: number, topic: (s: number, j: number) => string): Promise<void> {
  await pool(sessions.length, 50, async (s) => {
    const ctl = sessions[s]?.ctl;
    if (ctl === undefined) return;
    for (let from = 0; from < perSession; from += 1000) {
      const topics = Array.from({ length: Math.min(1000, perSession - from) }, (_, k) => topic(s, from + k));
      ctl.send(encodeSubscribe(topics));
      const ok = await ctl.read(1, 60_000);
      if (ok?.[0] !== 1) throw new Error(`subscribe answered ${ok?.[0] ?? 'nothing'}`);
    }
  });
}

interface Phase {
  readonly name: string;
  readonly count: number;
  /** Live heap + external memory growth per item, bytes. */
  readonly heapPerItem: number;
  readonly rssPerItem: number;
}

function phase(name: string, count: number, before: Snapshot, after: Snapshot): Phase {
  const live = (s: Snapshot): number => s.heap.heapUsed + s.heap.external;
  const p = {
    name,
    count,
    heapPerItem: Math.round((live(after) - live(before)) / count),
    rssPerItem: Math.round((after.heap.rss - before.heap.rss) / count),
  };
  process.stdout.write(
    `${name}: ${count} → live heap ${mb(live(before))} → ${mb(live(after))} MB (${p.heapPerItem} B each), ` +
      `RSS ${mb(before.heap.rss)} → ${mb(after.heap.rss)} MB (${p.rssPerItem} B each), fds ${before.fds} → ${after.fds}\n`,
  );
  return p;
}

async function closeAll(server: Psrtd, peers: readonly Peer[], base: Snapshot): Promise<Snapshot> {
  for (const p of peers) p.destroy();
  return settle(server, base, 2, 30_000);
}

async function connectionPhases(server: Psrtd, sessions: number, dataSockets: number): Promise<Phase[]> {
  const base = await snapshot(server);
  const list = await openSessions(server.port, sessions);
  const withSessions = await snapshot(server);
  const data = await attach(server.port, list.slice(0, dataSockets));
  const withData = await snapshot(server);
  const after = await closeAll(server, [...data, ...list.map((s) => s.ctl)], base);
  process.stdout.write(`closed: fds ${after.fds}, live heap ${mb(after.heap.heapUsed + after.heap.external)} MB\n`);
  return [phase('control session (idle)', sessions, base, withSessions), phase('data socket (idle)', dataSockets, withSessions, withData)];
}

async function subscriptionPhase(server: Psrtd, name: string, sessions: number, perSession: number, topic: (s: number, j: number) => string): Promise<Phase> {
  const list = await openSessions(server.port, sessions);
  const before = await snapshot(server);
  await subscribeAll(list, perSession, topic);
  const after = await snapshot(server);
  await closeAll(server, list.map((s) => s.ctl), before);
  return phase(name, sessions * perSession, before, after);
}

/**
 * The per-connection worst case: a client may keep one almost complete PUBLISH (up to
 * max_pub_size) buffered until T runs out. Measured with 200 connections × 1,000,000 bytes.
 */
async function partialFramePhase(server: Psrtd): Promise<Phase> {
  const list = await openSessions(server.port, 200);
  const before = await snapshot(server);
  const head = Buffer.from([0x01, 0x7f, 0, 0, 0, 0]);
  head.writeUInt32LE(1_050_000, 2);
  const partial = Buffer.concat([head, Buffer.from('big\0'), Buffer.alloc(1_000_000 - 4, 0x61)]);
  for (const s of list) s.ctl.send(partial);
  await sleep(3000); // let the server read it all
  const after = await snapshot(server);
  await closeAll(server, list.map((s) => s.ctl), before);
  return phase('partial PUBLISH buffered (1,000,000 B each)', list.length, before, after);
}

/** In-process: what one queued entry costs beyond its (shared) frame. */
function queuedEntryPhase(): Phase {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const live = (): number => {
    gc();
    gc();
    const m = process.memoryUsage();
    return m.heapUsed + m.external;
  };
  const broker = new Broker({ maxTopicDepth: 8, dataQueue: 1 << 24, dataQueueBytes: 2 ** 40, drainTimeoutMs: 3_600_000, latencyWarnUs: 1e15, pingFloorMs: 3_600_000 }, nullLogger);
  const stalled = { write: () => false, destroy: () => undefined, end: () => undefined };
  const control = { close: () => undefined };
  const publisher = { blockedOn: 0, resume: () => undefined };
  const subs = Array.from({ length: 1000 }, () => broker.createSession('m', 'm', FULL_ACCESS, control));
  for (const s of subs) {
    broker.attachData(s.token, stalled, 255);
    broker.subscribe(s, ['q']);
  }
  const pub = broker.createSession('p', 'p', FULL_ACCESS, control);
  broker.publish(pub, publishRequest(1, encodePublish(1, 'q', Buffer.alloc(1)).subarray(6)), publisher, stampNow());
  broker.scheduler.flushNow(); // the stalled ports report "not writable": from now on frames queue
  const before = live();
  const payload = Buffer.alloc(1000, 0x61);
  for (let i = 0; i < 1000; i++) broker.publish(pub, publishRequest(1, encodePublish(1, 'q', payload).subarray(6)), publisher, stampNow());
  broker.scheduler.flushNow();
  const depth = broker.queueDepths().reduce((a, b) => a + b, 0);
  if (depth !== 1_000_000) throw new Error(`expected 1,000,000 queued entries, found ${depth}`);
  const frames = 1000 * (6 + 2 + payload.length);
  const perEntry = Math.round((live() - before - frames) / 1_000_000);
  process.stdout.write(`queued entry: 1,000,000 entries over 1,000 queues sharing 1,000 frames of ${6 + 2 + payload.length} B → ${perEntry} B per entry beyond the frame\n`);
  for (const s of [...subs, pub]) broker.endSession(s);
  return { name: 'queued frame reference (in-process)', count: 1_000_000, heapPerItem: perEntry, rssPerItem: 0 };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { sessions: { type: 'string', default: '10000' }, data: { type: 'string', default: '8000' } } });
  const sessions = Number(values.sessions);
  const dataSockets = Math.min(sessions, Number(values.data));
  // First, while this process holds no client sockets whose buffers a GC could free meanwhile.
  const queued = queuedEntryPhase();
  const server = await startPsrtd({
    proto: { timeout: 3600 },
    server: { max_connections: 30000, max_topic_length: 1_000_000, max_topic_depth: 8, max_pub_size: 1_100_000 },
    env: heapProbeEnv(),
  });
  try {
    process.stdout.write(`psrtd ${server.proc.pid ?? 0}: idle fds ${fdCount(server.proc.pid ?? 0)}, ${JSON.stringify(await heapProbe(server))}\n`);
    await closeAll(server, (await openSessions(server.port, 200)).map((s) => s.ctl), await snapshot(server)); // warm-up
    await sleep(500);
    const phases = [
      ...(await connectionPhases(server, sessions, dataSockets)),
      await subscriptionPhase(server, 'subscription (distinct topics)', 100, 10_000, (s, j) => `s${s}/t${j}/v`),
      await subscriptionPhase(server, 'subscription (shared topics)', 1000, 1000, (_s, j) => `shared/t${j}/v`),
      await partialFramePhase(server),
      queued,
    ];
    process.stdout.write(`${JSON.stringify(phases)}\n`);
  } finally {
    await server.stop();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`memory: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
