/**
 * How soon a stalled upstream (SIGSTOP: its sockets stay open, it reads and answers nothing) is
 * given up, with the per-bridge keys a site on a slow or unstable link tunes. Real upstreams: a
 * 3-node nats-server cluster and Mosquitto.
 *
 * Pass criteria, with short settings (the defaults take 20 to 30 s and about 15 s, and fail
 * these bounds):
 * - NATS, `ping_interval: 1`, `max_pings_out: 2`: the stalled node is given up within 5 s, the
 *   bridge is online on another node of the cluster within 2 s after that (its first attempt
 *   goes to another node, not into a 4 s connect timeout), and exports published then arrive at a
 *   subscriber on a node that is not the stalled one, in order. The same while the stalled
 *   socket is congested by large exports.
 * - NATS, `connect_timeout: 1`, the only server stalled: the first attempt fails within 3 s
 *   (default: 5 s); once the server resumes the bridge connects.
 * - MQTT, `keepalive: 1`, `connect_timeout: 1`: the stalled Mosquitto is given up within 4 s
 *   (1.5 keep alives), attempts while it is stalled fail within the connect timeout, and once it
 *   resumes (SIGCONT) the bridge reconnects and sends what it buffered meanwhile, in order.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import mqtt, { type MqttClient } from 'mqtt';
import { Mosquitto, NatsCluster, type NatsNode, until } from '../helpers/engines.js';
import type { Psrtd } from '../helpers/psrtd.js';
import { bridgeStatus, publishAll, startBridged } from './util.js';

const seq = (from: number, n: number): string[] => Array.from({ length: n }, (_, i) => String(from + i));
const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const exportsIn = (got: readonly string[]): string[] => got.filter((g) => g !== 'probe' && g !== 'big');
const FAST_PINGS = { ping_interval: 1, max_pings_out: 2, connect_timeout: 1 };

describe('NATS bridge: ping_interval, max_pings_out and connect_timeout', () => {
  let cluster: NatsCluster;
  const nodes: Psrtd[] = [];
  const clients: NatsConnection[] = [];

  before(async () => {
    cluster = await NatsCluster.start(3);
  });

  after(async () => {
    for (const n of cluster.nodes) n.signal('SIGCONT');
    for (const c of clients) await c.close();
    await Promise.all(nodes.map((n) => n.stop()));
    await cluster.stop();
  });

  /** A psrtd bridging `fo/#` with fast pings, online, and the node it is connected to. */
  async function bridged(id: string, extra: Record<string, number> = {}): Promise<{ node: Psrtd; server: string; victim: NatsNode }> {
    const node = await startBridged(id, [{ name: 'n', type: 'nats', servers: cluster.urls, out: ['fo/#'], extra: { ...FAST_PINGS, ...extra } }], { max_pub_size: 2 << 20 });
    nodes.push(node);
    await until(async () => (await bridgeStatus(node, 'n')).state === 'online', 15_000, 'bridge online');
    const server = (await bridgeStatus(node, 'n')).server;
    const victim = cluster.node(Number(/:(\d+)$/.exec(server)?.[1]));
    assert.ok(victim !== undefined, `connected to ${server}`);
    return { node, server, victim };
  }

  /** A NATS subscriber on a node other than `victim`, receiving payloads on `subject` once the path works. */
  async function subscriber(node: Psrtd, victim: NatsNode, subject: string): Promise<string[]> {
    const other = cluster.nodes.find((n) => n !== victim);
    assert.ok(other !== undefined);
    const nc = await connect({ servers: [other.url] });
    clients.push(nc);
    const got: string[] = [];
    nc.subscribe(subject, { callback: (_e, m) => { got.push(Buffer.from(m.data).subarray(0, 16).toString().replace(/\0+$/, '')); } });
    await nc.flush();
    // Through the node the bridge is on and the cluster's routes: the subscription has spread.
    await until(async () => {
      await publishAll(node.port, subject.replace(/\./g, '/').replace('/>', '/probe'), ['probe']);
      return got.includes('probe');
    }, 10_000, 'a probe through the cluster');
    got.length = 0;
    return got;
  }

  /** SIGSTOP on `victim`: resolves with the ms until the bridge logged it lost, and until it was online elsewhere. */
  async function stallAndFailOver(node: Psrtd, server: string, victim: NatsNode): Promise<{ lostMs: number; movedMs: number }> {
    victim.signal('SIGSTOP');
    const t0 = performance.now();
    await node.waitForLog(new RegExp(`bridge n: lost ${escape(server)}`), 15_000);
    const lostMs = performance.now() - t0;
    await until(async () => {
      const s = await bridgeStatus(node, 'n');
      return s.state === 'online' && s.server !== server;
    }, 10_000, 'online on another node');
    return { lostMs, movedMs: performance.now() - t0 };
  }

  test('a stalled node is given up after the unanswered pings, and exports flow through another node', async () => {
    // A long connect timeout: an attempt at the stalled node first would cost all of it.
    const { node, server, victim } = await bridged('ping-a', { connect_timeout: 4 });
    const got = await subscriber(node, victim, 'fo.a.>');
    try {
      const { lostMs, movedMs } = await stallAndFailOver(node, server, victim);
      console.log(`# stalled node given up after ${lostMs.toFixed(0)} ms, online on another node after ${movedMs.toFixed(0)} ms`);
      // Two pings 1 s apart unanswered, given up at the third: 2 to 3 s after the stall.
      assert.ok(lostMs >= 1000 && lostMs < 5000, `given up after ${lostMs.toFixed(0)} ms`);
      // The first attempt after the loss goes to another node, not to the stalled one.
      assert.ok(movedMs - lostMs < 2000, `online elsewhere ${(movedMs - lostMs).toFixed(0)} ms after giving up`);
      const N = 50;
      await publishAll(node.port, 'fo/a/seq', seq(0, N));
      await until(() => got.length >= N, 5000, `${N} exports through another node (have ${got.length})`);
      assert.deepEqual(exportsIn(got), seq(0, N)); // a late probe may come too
    } finally {
      victim.signal('SIGCONT');
    }
    await cluster.waitForRoutes();
  });

  test('a stalled node whose socket the exports congested is given up as soon', async () => {
    const { node, server, victim } = await bridged('ping-b', { buffer_bytes: 64 << 20 });
    const got = await subscriber(node, victim, 'fo.b.>');
    const big = (s: string): Buffer => {
      const b = Buffer.alloc(256 * 1024);
      b.write(s);
      return b;
    };
    try {
      victim.signal('SIGSTOP');
      const t0 = performance.now();
      // More than the kernel's socket buffers take: the client's socket needs draining.
      for (let i = 0; i < 8; i++) await publishAll(node.port, 'fo/b/big', Array.from({ length: 8 }, () => big('big')));
      await node.waitForLog(new RegExp(`bridge n: lost ${escape(server)}`), 15_000);
      const lostMs = performance.now() - t0;
      console.log(`# congested stalled node given up after ${lostMs.toFixed(0)} ms`);
      assert.ok(lostMs < 5000, `given up after ${lostMs.toFixed(0)} ms`);
      await until(async () => {
        const s = await bridgeStatus(node, 'n');
        return s.state === 'online' && s.server !== server;
      }, 10_000, 'online on another node');
      const N = 20;
      await publishAll(node.port, 'fo/b/seq', seq(0, N));
      await until(() => exportsIn(got).length >= N, 10_000, `${N} exports through another node`);
      assert.deepEqual(exportsIn(got), seq(0, N));
    } finally {
      victim.signal('SIGCONT');
    }
    await cluster.waitForRoutes();
  });

  test('connect_timeout bounds an attempt on a stalled server, and the bridge connects once it resumes', async () => {
    const victim = cluster.nodes[2];
    assert.ok(victim !== undefined);
    victim.signal('SIGSTOP');
    try {
      const t0 = performance.now();
      const node = await startBridged('ping-c', [{ name: 'n', type: 'nats', servers: [victim.url], out: ['fo/#'], extra: { connect_timeout: 1 } }]);
      nodes.push(node);
      await node.waitForLog(/bridge n: cannot connect to /, 10_000);
      const failedMs = performance.now() - t0;
      console.log(`# attempt on a stalled server failed after ${failedMs.toFixed(0)} ms (psrtd start included)`);
      assert.ok(failedMs < 3000, `failed after ${failedMs.toFixed(0)} ms`);
      victim.signal('SIGCONT');
      const t1 = performance.now();
      await until(async () => (await bridgeStatus(node, 'n')).state === 'online', 10_000, 'online once the server resumes');
      console.log(`# online ${(performance.now() - t1).toFixed(0)} ms after the server resumed`);
    } finally {
      victim.signal('SIGCONT');
    }
  });
});

describe('MQTT bridge: keepalive and connect_timeout', () => {
  let broker: Mosquitto;
  let node: Psrtd | undefined;
  let watcher: MqttClient | undefined;

  before(async () => {
    broker = await Mosquitto.start();
  });

  after(async () => {
    broker.signal('SIGCONT');
    await watcher?.endAsync(true);
    await node?.stop();
    await broker.stop();
  });

  test('a stalled upstream is given up after 1.5 keep alives; once it resumes the bridge reconnects and sends what it buffered', async () => {
    const extra = { keepalive: 1, connect_timeout: 1, qos: 1 };
    node = await startBridged('ka', [{ name: 'm', type: 'mqtt', servers: [broker.url], out: ['ka/#'], extra }]);
    const psrtd = node;
    await psrtd.waitForLog(/bridge m: connected to /, 10_000);
    const got: string[] = [];
    watcher = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'ka-watcher', reconnectPeriod: 0 });
    watcher.on('message', (_t, payload) => { got.push(payload.toString()); });
    await watcher.subscribeAsync('ka/#', { qos: 1 });
    await publishAll(psrtd.port, 'ka/probe', ['probe']);
    await until(() => got.includes('probe'), 5000, 'a probe through Mosquitto');
    got.length = 0;
    const N = 30;
    broker.signal('SIGSTOP');
    try {
      const t0 = performance.now();
      await psrtd.waitForLog(/bridge m: lost /, 20_000);
      const lostMs = performance.now() - t0;
      console.log(`# stalled Mosquitto given up after ${lostMs.toFixed(0)} ms`);
      assert.ok(lostMs >= 500 && lostMs < 4000, `given up after ${lostMs.toFixed(0)} ms`);
      await publishAll(psrtd.port, 'ka/seq', seq(0, N));
      assert.equal((await bridgeStatus(psrtd, 'm')).buffered, N, 'buffered while the upstream is away');
      // An attempt reaches the stalled broker's listen queue and waits for a CONNACK that never comes.
      const t1 = performance.now();
      await psrtd.waitForLog(/bridge m: cannot connect to .*: connack timeout/, 10_000);
      const attemptMs = performance.now() - t1;
      console.log(`# an attempt on the stalled Mosquitto failed after ${attemptMs.toFixed(0)} ms`);
      assert.ok(attemptMs < 3000, `attempt failed after ${attemptMs.toFixed(0)} ms`);
    } finally {
      broker.signal('SIGCONT');
    }
    const t2 = performance.now();
    await until(async () => (await bridgeStatus(psrtd, 'm')).state === 'online', 15_000, 'online once Mosquitto resumed');
    console.log(`# online ${(performance.now() - t2).toFixed(0)} ms after Mosquitto resumed`);
    await until(() => seq(0, N).every((s) => got.includes(s)), 10_000, `${N} buffered exports upstream (have ${got.length})`);
    // At least once: a connection Mosquitto took over from may have delivered some already.
    assert.deepEqual([...new Set(got)], seq(0, N));
  });
});
