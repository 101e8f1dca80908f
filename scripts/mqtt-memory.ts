/**
 * Server memory for MQTT persistent sessions with queued messages, measured on a spawned psrtd
 * with the heap probe (live heap after a full GC, external memory, RSS):
 *
 *   1. N persistent sessions (MQTT 5, session expiry 1 h), each subscribed at QoS 1 to its own
 *      topic `mem/<i>` and then disconnected (offline);
 *   2. M QoS 1 messages of 64 B published to each of those topics (so every offline session
 *      holds M queued messages);
 *   3. every session taken back (clean start) and ended: memory returns.
 *
 *   node dist/scripts/mqtt-memory.js [--sessions 10000] [--messages 10]
 *
 * Clients are raw sockets with packets encoded by mqtt-packet (not the server's codec).
 */
import { connect, type Socket } from 'node:net';
import { parseArgs } from 'node:util';
import mqttPacket from 'mqtt-packet';
import { startPsrtd } from '../test/helpers/psrtd.js';
import { heapProbeEnv, mb, snapshot, sleep, type Snapshot } from './lib/hardening/proc.js';
import { pool } from './lib/hardening/storm.js';

const V5 = { protocolVersion: 5 } as const;

function dial(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1', noDelay: true });
    s.once('connect', () => {
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** Sends packets and waits until `n` packets came back (CONNACK, SUBACK, PUBACK …). */
async function exchange(port: number, packets: readonly mqttPacket.Packet[], answers: number): Promise<void> {
  const s = await dial(port);
  const parser = mqttPacket.parser(V5);
  let seen = 0;
  const done = new Promise<void>((resolve, reject) => {
    parser.on('packet', () => {
      if (++seen === answers) resolve();
    });
    parser.on('error', reject);
    s.on('error', reject);
    setTimeout(() => {
      reject(new Error(`only ${seen}/${answers} answers`));
    }, 30_000).unref();
  });
  s.on('data', (d: Buffer) => {
    parser.parse(d);
  });
  for (const p of packets) s.write(mqttPacket.generate(p, V5));
  await done;
  s.end(mqttPacket.generate({ cmd: 'disconnect', reasonCode: 0 }, V5));
  await new Promise((r) => s.once('close', r));
}

const connectPacket = (i: number, clean: boolean): mqttPacket.Packet => ({
  cmd: 'connect',
  protocolVersion: 5,
  clientId: `mem-${i}`,
  clean,
  keepalive: 60,
  properties: { sessionExpiryInterval: clean ? 0 : 3600 },
});

function line(label: string, s: Snapshot, base: Snapshot, n: number, unit: string): void {
  const heap = s.heap.heapUsed - base.heap.heapUsed;
  const ext = s.heap.external - base.heap.external;
  const rss = s.heap.rss - base.heap.rss;
  process.stdout.write(
    `${label}: heap +${mb(heap)} external +${mb(ext)} RSS +${mb(rss)} ` +
      `(${(heap / n).toFixed(0)} B heap, ${(rss / n).toFixed(0)} B RSS per ${unit})\n`,
  );
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { sessions: { type: 'string', default: '10000' }, messages: { type: 'string', default: '10' } } });
  const n = Number(values.sessions);
  const m = Number(values.messages);
  const server = await startPsrtd({
    env: heapProbeEnv(),
    server: { max_connections: 30000 },
    proto: { timeout: 60 },
    mqtt: { max_queued_messages: Math.max(1000, m) },
  });
  try {
    const port = server.mqttPort;
    const base = await snapshot(server);
    await pool(n, 100, async (i) => {
      const sub: mqttPacket.Packet = { cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: `mem/${i}`, qos: 1 }] };
      await exchange(port, [connectPacket(i, false), sub], 2);
    });
    await sleep(500);
    const sessions = await snapshot(server);
    line(`${n} offline persistent sessions, 1 subscription each`, sessions, base, n, 'session');
    for (let k = 0; k < m; k++) {
      const pubs: mqttPacket.Packet[] = [connectPacket(n + 1, true)];
      for (let i = 0; i < n; i++) pubs.push({ cmd: 'publish', topic: `mem/${i}`, payload: Buffer.alloc(64, k), qos: 1, messageId: (i % 65000) + 1, retain: false, dup: false });
      await exchange(port, pubs, n + 1);
    }
    await sleep(500);
    const queued = await snapshot(server);
    line(`+ ${m} queued QoS 1 messages (64 B) per session`, queued, sessions, n * m, 'queued message');
    line(`total for ${n} sessions with ${m} queued each`, queued, base, n, 'session');
    await pool(n, 100, async (i) => {
      await exchange(port, [connectPacket(i, true)], 1);
    });
    await sleep(500);
    const after = await snapshot(server);
    line('after every session ended', after, base, n, 'session');
    process.stdout.write(`${JSON.stringify({ sessions: n, messages: m, base, withSessions: sessions, withQueued: queued, after })}\n`);
  } finally {
    await server.stop();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exit(1);
});
