/**
 * Time to save and load `mqtt.persistence_file` for a full retained store and many persistent
 * sessions, and the longest the event loop was held meanwhile (what every connected client
 * would wait at worst):
 *
 *   node dist/scripts/retained-persist.js [--count 100000] [--payload 640] [--sessions 0]
 *                                         [--queued 10] [--dir /tmp]
 *
 * Defaults: 100,000 retained messages of 640 bytes (~64 MB with topics, the default
 * retained_max_count / retained_max_bytes), every tenth with v5 properties. `--sessions N`
 * adds N offline persistent sessions with two subscriptions each and `--queued` QoS 1 messages
 * queued for each (one message fanned out to all of them per round).
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FULL_ACCESS } from '../src/auth/acl.js';
import { YamlLines } from '../src/auth/yaml-validate.js';
import { Broker } from '../src/broker/broker.js';
import { stampNow } from '../src/broker/delivery.js';
import { PersistenceFile } from '../src/bin/persistence-file.js';
import { createLogger, nullLogger } from '../src/log/logger.js';
import { MqttMessage } from '../src/mqtt/message.js';
import { MqttPersistentState } from '../src/mqtt/persistent-state.js';
import { MqttRouter } from '../src/mqtt/router.js';
import type { RetainedStore } from '../src/mqtt/retained.js';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '100000' },
    payload: { type: 'string', default: '640' },
    sessions: { type: 'string', default: '0' },
    queued: { type: 'string', default: '10' },
    dir: { type: 'string', default: tmpdir() },
  },
});
const count = Number(values.count);
const payloadBytes = Number(values.payload);
const sessionCount = Number(values.sessions);
const queued = Number(values.queued);

function newRouter(): MqttRouter {
  const broker = new Broker({ maxTopicDepth: 16, dataQueue: 1024, dataQueueBytes: 1 << 30, drainTimeoutMs: 1000, latencyWarnUs: 1e15, pingFloorMs: 100 }, nullLogger);
  const queue = { maxQueued: Math.max(1, queued), maxQueuedBytes: 0, pauseAt: Math.max(1, queued), drainTimeoutMs: 1000 };
  return new MqttRouter(broker, { queue, retainedMaxCount: count + 1, retainedMaxBytes: 1 << 30, maxTopicDepth: 16 }, nullLogger);
}

/** Offline persistent sessions, each with `queued` QoS 1 messages waiting (shared between them). */
function addSessions(router: MqttRouter): void {
  const opts = { qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0, identifier: 0 } as const;
  for (let i = 0; i < sessionCount; i++) {
    const { session } = router.openSession(`sensor-${i}`, false, '_', FULL_ACCESS);
    router.setExpiry(session, 86_400);
    router.subscribe(session, `cmd/sensor-${i}/#`, opts);
    router.subscribe(session, 'cmd/all', opts);
    router.connectionLost(session, false);
  }
  for (let i = 0; i < queued; i++) router.publish(new MqttMessage('cmd/all', Buffer.alloc(64, i), 1, false, 0x7f, stampNow(), null, null), null);
}

/** Largest gap between timer turns while `work` runs: how long the event loop was held. */
async function longestBlock(work: () => Promise<void>): Promise<{ ms: number; blockMs: number }> {
  let last = performance.now();
  let worst = 0;
  const tick = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last);
    last = now;
  }, 1);
  const t0 = performance.now();
  await work();
  const ms = performance.now() - t0;
  worst = Math.max(worst, performance.now() - last);
  clearInterval(tick);
  return { ms, blockMs: worst };
}

function fill(store: RetainedStore): void {
  const stamp = stampNow();
  const props = { contentType: 'application/json', messageExpiryInterval: 86_400, userProperties: [['unit', 'degC']] as [string, string][] };
  for (let i = 0; i < count; i++) {
    const payload = Buffer.alloc(payloadBytes, i % 251);
    const msg = new MqttMessage(`site/plant${i % 10}/line/${i}/value`, payload, 1, true, 0x7f, stamp, i % 10 === 0 ? props : null, null);
    if (!store.put(msg)) throw new Error(`store full at ${i}: raise the limits`);
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(values.dir, 'psrtd-retained-'));
  const file = join(dir, 'retained.bin');
  const log = createLogger({ verbose: false, syslog: false });
  const options = { file, configLines: YamlLines.none('bench'), autosaveSeconds: 3600, aclFor: () => FULL_ACCESS, maxSessionExpiry: 86_400, maxSubscriptions: 100_000, maxSubscriptionBytes: 1 << 30 };
  try {
    const router = newRouter();
    const store = router.retained;
    const saver = await PersistenceFile.open(options, new MqttPersistentState(router), log);
    fill(store);
    addSessions(router);
    // The first save runs cold code (JIT); the later ones are what a running server sees.
    const saves = [];
    for (let i = 0; i < 3; i++) {
      saves.push(await longestBlock(() => saver.save()));
      store.put(new MqttMessage('site/changed', Buffer.from(String(i)), 1, true, 0x7f, stampNow(), null, null));
    }
    saver.cancel();
    router.closeAll();
    const size = statSync(file).size;
    const loaded = newRouter();
    let loader: PersistenceFile | null = null;
    const load = await longestBlock(async () => { loader = await PersistenceFile.open(options, new MqttPersistentState(loaded), log); });
    (loader as PersistenceFile | null)?.cancel();
    if (loaded.retained.count !== count + 1) throw new Error(`loaded ${loaded.retained.count} of ${count + 1}`);
    if (loaded.sessions.size !== sessionCount) throw new Error(`loaded ${loaded.sessions.size} sessions of ${sessionCount}`);
    const mb = (size / 1e6).toFixed(1);
    process.stdout.write(`${count} retained messages, ${sessionCount} sessions with ${queued} queued message(s) each, file ${mb} MB\n`);
    for (const [i, save] of saves.entries()) process.stdout.write(`save ${i + 1}: ${save.ms.toFixed(0)} ms, event loop held at most ${save.blockMs.toFixed(1)} ms\n`);
    process.stdout.write(`load: ${load.ms.toFixed(0)} ms (at start, before the listeners accept)\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
