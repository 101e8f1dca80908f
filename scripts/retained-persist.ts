/**
 * Time to save and load `mqtt.persistence_file` for a full retained store, and the longest the
 * event loop was held meanwhile (what every connected client would wait at worst):
 *
 *   node dist/scripts/retained-persist.js [--count 100000] [--payload 640] [--dir /tmp]
 *
 * Defaults: 100,000 retained messages of 640 bytes (~64 MB with topics, the default
 * retained_max_count / retained_max_bytes), every tenth with v5 properties.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { YamlLines } from '../src/auth/yaml-validate.js';
import { stampNow } from '../src/broker/delivery.js';
import { RetainedFile } from '../src/bin/retained-file.js';
import { createLogger } from '../src/log/logger.js';
import { MqttMessage } from '../src/mqtt/message.js';
import { RetainedStore } from '../src/mqtt/retained.js';

const { values } = parseArgs({ options: { count: { type: 'string', default: '100000' }, payload: { type: 'string', default: '640' }, dir: { type: 'string', default: tmpdir() } } });
const count = Number(values.count);
const payloadBytes = Number(values.payload);

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
  const options = { file, configLines: YamlLines.none('bench'), autosaveSeconds: 3600 };
  try {
    const store = new RetainedStore(count + 1, 1 << 30);
    const saver = await RetainedFile.open(options, store, log);
    fill(store);
    // The first save runs cold code (JIT); the later ones are what a running server sees.
    const saves = [];
    for (let i = 0; i < 3; i++) {
      saves.push(await longestBlock(() => saver.save()));
      store.put(new MqttMessage('site/changed', Buffer.from(String(i)), 1, true, 0x7f, stampNow(), null, null));
    }
    saver.cancel();
    const size = statSync(file).size;
    const loadedStore = new RetainedStore(count + 1, 1 << 30);
    let loader: RetainedFile | null = null;
    const load = await longestBlock(async () => { loader = await RetainedFile.open(options, loadedStore, log); });
    (loader as RetainedFile | null)?.cancel();
    if (loadedStore.count !== count + 1) throw new Error(`loaded ${loadedStore.count} of ${count + 1}`);
    const mb = (size / 1e6).toFixed(1);
    process.stdout.write(`${count} messages, file ${mb} MB\n`);
    for (const [i, save] of saves.entries()) process.stdout.write(`save ${i + 1}: ${save.ms.toFixed(0)} ms, event loop held at most ${save.blockMs.toFixed(1)} ms\n`);
    process.stdout.write(`load: ${load.ms.toFixed(0)} ms (at start, before the listeners accept)\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
