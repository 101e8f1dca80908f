/**
 * Micro-benchmarks of the server's hot path, each in isolation, so a regression shows up where
 * it happens: control decoding, data-frame encoding and decoding, the broker's publish →
 * fan-out → batched write path (no sockets), and the topic index with 1 M subscriptions.
 *
 *   npm run bench -- --micro [--quick]        or        node dist/bench/micro.js [--quick]
 *
 * Results go to stdout and bench/results/micro-<time>.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FULL_ACCESS } from '../src/auth/acl.js';
import { Broker, stampNow, type DataPort } from '../src/broker/index.js';
import { nullLogger } from '../src/log/logger.js';
import {
  ByteQueue,
  ControlDecoder,
  DataDecoder,
  encodeDataFrame,
  encodeDataFrameFromBody,
  encodePublish,
} from '../src/protocol/index.js';
import { SubscriptionIndex, type Subscriber } from '../src/topics/index.js';
import { FULL, QUICK, formatMicro, measure, type HarnessOptions, type MicroResult } from './lib/harness.js';
import { masksFor } from './load/masks.js';

const PRIORITY = 0x7f;
const TOPIC = 'bench/a';
const LIMITS = { maxPubSize: 1_100_000, maxTopicLength: 1_000_000 };

/** ~64 KB of back-to-back PUBLISH requests with `payload`-byte payloads (one socket read). */
function publishChunk(payload: number): { chunk: Buffer; count: number } {
  const one = encodePublish(PRIORITY, TOPIC, Buffer.alloc(payload, 0x5a));
  const count = Math.max(1, Math.floor(65536 / one.length));
  return { chunk: Buffer.concat(Array.from({ length: count }, () => one)), count };
}

function codec(o: HarnessOptions): MicroResult[] {
  const { chunk, count } = publishChunk(64);
  const decodeControl = (): void => {
    const q = new ByteQueue();
    const d = new ControlDecoder(q, LIMITS);
    q.push(chunk);
    let n = 0;
    while (d.next() !== null) n++;
    if (n !== count) throw new Error('control decode miscount');
  };
  // A PUBLISH and a delivered data frame have the same layout, so the same chunk serves both.
  const decodeData = (): void => {
    const q = new ByteQueue();
    const d = new DataDecoder(q);
    q.push(chunk);
    let n = 0;
    while (d.next() !== null) n++;
    if (n !== count) throw new Error('data decode miscount');
  };
  const payload64 = Buffer.alloc(64, 1);
  const body64 = Buffer.concat([Buffer.from(`${TOPIC}\0`), payload64]);
  const payload64k = Buffer.alloc(65536, 1);
  const body64k = Buffer.concat([Buffer.from(`${TOPIC}\0`), payload64k]);
  return [
    measure('ControlDecoder, 64 KB read of 64 B publishes (per request)', decodeControl, count, o),
    measure('DataDecoder, 64 KB read of 64 B frames (per frame)', decodeData, count, o),
    measure('encodeDataFrame 64 B (topic + payload)', () => encodeDataFrame(PRIORITY, TOPIC, payload64), 1, o),
    measure('encodeDataFrameFromBody 64 B (publish body)', () => encodeDataFrameFromBody(PRIORITY, body64), 1, o),
    measure('encodeDataFrame 64 KB', () => encodeDataFrame(PRIORITY, TOPIC, payload64k), 1, o),
    measure('encodeDataFrameFromBody 64 KB', () => encodeDataFrameFromBody(PRIORITY, body64k), 1, o),
  ];
}


/** Counts what would be written; never congested. */
class NullPort implements DataPort {
  frames = 0;
  write(frames: readonly Buffer[]): boolean {
    this.frames += frames.length;
    return true;
  }
  destroy(): void {
    /* nothing to close */
  }
  end(): void {
    /* nothing to close */
  }
}

/**
 * Broker.publish for the requests of one 64 KB read, then the scheduled flush into the data
 * port(s): the server's per-message work minus the socket syscalls.
 */
function brokerPath(o: HarnessOptions, subscribers: number): MicroResult {
  const broker = new Broker(
    { maxTopicDepth: 32, dataQueue: 1 << 20, dataQueueBytes: 1 << 30, drainTimeoutMs: 1000, latencyWarnUs: 1e12, pingFloorMs: 100 },
    nullLogger,
  );
  const control = { close: () => undefined };
  const ports = Array.from({ length: subscribers }, () => new NullPort());
  for (const port of ports) {
    const s = broker.createSession('bench', 'local', FULL_ACCESS, control);
    broker.attachData(s.token, port, 255);
    broker.subscribe(s, [TOPIC]);
  }
  const publisher = broker.createSession('pub', 'local', FULL_ACCESS, control);
  const waiter = { blockedOn: 0, resume: () => undefined };
  const { chunk, count } = publishChunk(64);
  const r = measure(`Broker.publish + flush, 64 B, 1 → ${subscribers} (per publish)`, () => {
    const q = new ByteQueue();
    const d = new ControlDecoder(q, LIMITS);
    q.push(chunk);
    const received = stampNow();
    for (let req = d.next(); req !== null; req = d.next()) {
      if (req.kind === 'publish') broker.publish(publisher, req, waiter, received);
    }
    broker.scheduler.flushNow();
  }, count, o);
  broker.closeAll();
  if (ports.some((p) => p.frames === 0)) throw new Error('nothing delivered');
  return r;
}

class Sub implements Subscriber {
  matchStamp = 0;
}

function topicIndex(o: HarnessOptions, total: number): MicroResult[] {
  const sessions = 10_000;
  const masks = masksFor(sessions, Math.ceil(total / sessions), 42);
  const index = new SubscriptionIndex<Sub>();
  const target = new Sub();
  const t0 = performance.now();
  for (const list of masks) {
    const s = new Sub();
    for (const m of list) index.subscribe(m, s);
  }
  const buildMs = performance.now() - t0;
  index.subscribe(TOPIC, target);
  const lone = new SubscriptionIndex<Sub>();
  lone.subscribe(TOPIC, target);
  const out: Sub[] = [];
  const match = (idx: SubscriptionIndex<Sub>) => (): void => {
    out.length = 0;
    if (idx.match(TOPIC, out) !== 1) throw new Error('expected one subscriber');
  };
  const subs = masks.reduce((n, m) => n + m.length, 0);
  const label = `${(subs / 1e6).toFixed(subs >= 1e6 ? 0 : 1)}M`;
  return [
    measure(`SubscriptionIndex.match, 1 subscription`, match(lone), 1, o),
    measure(`SubscriptionIndex.match, ${label} non-matching + 1`, match(index), 1, o),
    { name: `SubscriptionIndex.subscribe x ${label} (build)`, opsPerSec: (subs / buildMs) * 1000, nsPerOp: (buildMs * 1e6) / subs, spreadPct: 0, samples: 1 },
  ];
}

export async function runMicro(quick: boolean): Promise<MicroResult[]> {
  const o = quick ? QUICK : FULL;
  const results = [...codec(o), brokerPath(o, 1), brokerPath(o, 4), ...topicIndex(o, quick ? 100_000 : 1_000_000)];
  console.log(formatMicro(results));
  const root = resolve(fileURLToPath(import.meta.url), '../../..');
  const dir = join(root, 'bench/results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `micro-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify({ node: process.version, quick, results }, null, 2)}\n`);
  console.log(`\nJSON: ${file}`);
  await Promise.resolve();
  return results;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await runMicro(process.argv.includes('--quick'));
}
