/**
 * Measures what one slow reader costs the other subscribers (docs/security.md):
 *
 *   node dist/scripts/slow-reader.js [--rate BYTES_PER_S] [--seconds N] [--max-hold F] [--window S]
 *
 * psrtd (default config apart from the given slow_consumer keys) gets one publisher flooding
 * 64-byte messages to `flood/t` and a healthy subscriber reading at full speed; after 2 s a
 * second subscriber joins and reads at --rate (default 2 MB/s). Prints the healthy
 * subscriber's messages per second, second by second, and when the slow one was dropped.
 * `--max-hold 1` turns the slow-reader policy off (the behaviour before it existed).
 */
import { loadavg } from 'node:os';
import { FastReader, Flooder, SlowReader } from './lib/hardening/slow-reader.js';
import { sleep } from './lib/hardening/proc.js';
import { startPsrtd } from '../test/helpers/psrtd.js';
import { attachData, login, topicsFrame } from '../test/helpers/raw.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i < 0 ? fallback : Number(process.argv[i + 1]);
}

const FRAME_BYTES = 6 + 'flood/t'.length + 1 + 64;

async function main(): Promise<void> {
  const rate = arg('--rate', 2_000_000);
  const seconds = arg('--seconds', 10);
  const maxHold = arg('--max-hold', 0.5);
  const window = arg('--window', 5);
  const server = await startPsrtd({
    server: { data_queue: 1024, slow_consumer_max_hold: maxHold, slow_consumer_window: window },
    proto: { timeout: 10 },
  });
  const subscribe = async (): Promise<Awaited<ReturnType<typeof attachData>>> => {
    const { ctl, token } = await login(server.port);
    const data = await attachData(server.port, token, 255);
    ctl.send(topicsFrame(2, ['flood/t']));
    await ctl.read(1);
    return data;
  };
  const healthy = new FastReader((await subscribe()).socket);
  const pub = await login(server.port);
  const flooder = new Flooder(pub.ctl.socket, 'flood/t', 64);
  flooder.start();
  console.log(`load before: ${loadavg().map((l) => l.toFixed(2)).join(' ')}; slow reader at ${rate} B/s joins at t=2 s; max_hold ${maxHold}, window ${window} s`);
  let slow: SlowReader | null = null;
  let last = 0;
  let lastSlow = 0;
  let dropped = '';
  for (let t = 1; t <= seconds; t++) {
    await sleep(1000);
    if (t === 2) slow = new SlowReader((await subscribe()).socket, rate);
    const drop = server.output.find((l) => l.includes('subscriber too slow'));
    if (drop !== undefined && dropped === '') dropped = `t≈${t} s`;
    const msgs = (healthy.bytes - last) / FRAME_BYTES;
    last = healthy.bytes;
    const slowRate = slow === null ? '' : `, slow reader ${((slow.bytes - lastSlow) / 1e6).toFixed(2)} MB/s${slow.closed ? ' (closed)' : ''}`;
    lastSlow = slow?.bytes ?? 0;
    console.log(`t=${t}s healthy subscriber ${Math.round(msgs)} msg/s${slowRate}`);
  }
  flooder.stop();
  slow?.stop();
  for (const l of server.output.filter((x) => /dropping|queue is full/.test(x))) console.log(`psrtd: ${l}`);
  console.log(`slow reader dropped: ${dropped === '' ? 'no' : dropped}; load after: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  await server.stop();
  process.exit(0);
}

void main();
