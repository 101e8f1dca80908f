/**
 * Store and forward across a psrtd restart, with `mqtt.persistence_file`: the exports a bridge
 * still had to send when psrtd was stopped (SIGTERM) are saved with the file and sent by the
 * next psrtd started on it. Real upstreams: Mosquitto and nats-server.
 *
 * Pass criteria:
 * - MQTT, upstream down: the exports buffered while it was away are saved ("saved in <file>"),
 *   queued by the next psrtd before it connects (under the remote prefix of its configuration
 *   now), and arrive upstream, in order, once Mosquitto is back;
 * - MQTT, upstream stalled: the QoS 1 exports it did not acknowledge within the stop grace are
 *   saved too, and sent again by the next psrtd, in order (at least once: Mosquitto may also
 *   deliver the first copies when it wakes up);
 * - NATS, upstream down: the buffered exports arrive on the subjects, in order, with their
 *   priority; after a crash (SIGKILL), those an autosave wrote arrive too.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connect as natsConnect } from '@nats-io/transport-node';
import mqtt, { type MqttClient } from 'mqtt';
import { decodeState } from '../../src/mqtt/state-codec.js';
import { Mosquitto, NatsNode, until } from '../helpers/engines.js';
import { freePort } from '../helpers/ports.js';
import { startPsrtd, type Psrtd } from '../helpers/psrtd.js';
import { bridgeStatus, bridgesYaml, publishAll, type BridgeSpec } from './util.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const seq = (from: number, n: number): string[] => Array.from({ length: n }, (_, i) => String(from + i));

describe('bridge exports survive a psrtd restart with mqtt.persistence_file', () => {
  let dir: string;
  let broker: Mosquitto;
  const nodes: Psrtd[] = [];
  const closers: (() => unknown)[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'psrtd-bridge-store-'));
    // Persistent: the watcher's session (and what is queued for it) survives Mosquitto's restart.
    broker = await Mosquitto.start(true);
  });

  after(async () => {
    for (const c of closers) await c();
    await Promise.all(nodes.map((n) => n.stop()));
    broker.signal('SIGCONT');
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const start = async (file: string, specs: BridgeSpec[], autosave = 3600): Promise<Psrtd> => {
    const node = await startPsrtd({
      server: { bind_stats: '127.0.0.1:0' },
      mqtt: { persistence_file: file, autosave_interval: autosave },
      extra: bridgesYaml('edge', specs),
    });
    nodes.push(node);
    return node;
  };
  const mqttSpec = (remotePrefix: string): BridgeSpec[] => [
    { name: 'up', type: 'mqtt', servers: [broker.url], out: ['plant/#'], extra: { qos: 1, remote_prefix: remotePrefix } },
  ];
  const watch = async (clientId: string, clean: boolean, got: string[]): Promise<MqttClient> => {
    const c = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId, clean, reconnectPeriod: 0, properties: { sessionExpiryInterval: 600 } });
    closers.push(() => c.endAsync(true));
    c.on('message', (topic, payload) => { got.push(`${topic} ${payload.toString()}`); });
    await c.subscribeAsync('#', { qos: 1 });
    return c;
  };

  test('MQTT: exports buffered while the upstream was down arrive after psrtd and then the upstream restart, in order', async () => {
    const file = join(dir, 'mqtt-down.bin');
    const got: string[] = [];
    await (await watch('watcher-down', false, got)).endAsync(); // its session collects while it is away
    const first = await start(file, mqttSpec(''));
    await first.waitForLog(/bridge up: connected to /);
    await broker.halt();
    await until(async () => (await bridgeStatus(first, 'up')).state !== 'online', 20_000, 'bridge offline');
    const N = 50;
    await publishAll(first.port, 'plant/seq', seq(0, N));
    assert.equal((await bridgeStatus(first, 'up')).buffered, N);
    await first.stop('SIGTERM');
    const out1 = first.output.join('\n');
    assert.ok(out1.includes(`bridge up: stopping, ${N} buffered exports saved in ${file}`), out1);
    assert.ok(out1.includes(`mqtt: 0 retained message(s), 0 persistent session(s) and ${N} bridge export(s) saved in ${file}`), out1);
    // The next psrtd, with a new remote prefix: the exports are queued before it connects.
    const second = await start(file, mqttSpec('site2/'));
    await second.waitForLog(new RegExp(`bridge up: ${N} saved exports from .* queued`));
    assert.equal((await bridgeStatus(second, 'up')).buffered, N);
    await broker.restart();
    await watch('watcher-down', false, got);
    await until(() => got.length >= N, 20_000, `${N} messages upstream (have ${got.length})`);
    assert.deepEqual(got, seq(0, N).map((p) => `site2/plant/seq ${p}`));
    // Every node here bridges as the same MQTT client id (node_id and bridge name): one left
    // running would take the session over from the next test's bridge, back and forth.
    await second.stop('SIGTERM');
  });

  test('MQTT: QoS 1 exports a stalled upstream did not acknowledge at the stop are sent again by the next psrtd', async () => {
    const file = join(dir, 'mqtt-stall.bin');
    const got: string[] = [];
    await watch('watcher-stall', true, got);
    const first = await start(file, mqttSpec(''));
    await first.waitForLog(/bridge up: connected to /);
    broker.signal('SIGSTOP');
    const N = 20;
    await publishAll(first.port, 'plant/stall', seq(0, N));
    await until(async () => (await bridgeStatus(first, 'up')).exported === N, 10_000, 'exports handed to the client');
    await first.stop('SIGTERM');
    const out1 = first.output.join('\n');
    assert.ok(out1.includes(`bridge up: ${N} QoS 1 exports not acknowledged by the upstream within 1000 ms of the stop, saved in ${file}`), out1);
    broker.signal('SIGCONT');
    await sleep(500); // Mosquitto may still deliver the copies it had read before it stalled
    const mark = got.length;
    const second = await start(file, mqttSpec(''));
    await second.waitForLog(new RegExp(`bridge up: ${N} saved exports from .* queued`));
    await until(() => got.length - mark >= N, 20_000, `${N} messages sent again (have ${got.length - mark})`);
    assert.deepEqual(got.slice(mark), seq(0, N).map((p) => `plant/stall ${p}`));
    await second.stop('SIGTERM'); // the same client id as the next test's bridge
  });

  test('MQTT: QoS 1 exports a stalled upstream did not acknowledge go to the bridge a reload puts in its place', async () => {
    const got: string[] = [];
    await watch('watcher-reload', true, got);
    const node = await start(join(dir, 'mqtt-reload.bin'), mqttSpec(''));
    await node.waitForLog(/bridge up: connected to /);
    broker.signal('SIGSTOP');
    const N = 20;
    await publishAll(node.port, 'plant/reload', seq(0, N));
    await until(async () => (await bridgeStatus(node, 'up')).exported === N, 10_000, 'exports handed to the client');
    // A changed setting (the remote prefix) replaces the bridge at the SIGHUP.
    const config = join(node.dir, 'config.yml');
    writeFileSync(config, readFileSync(config, 'utf8').replace(bridgesYaml('edge', mqttSpec('')), bridgesYaml('edge', mqttSpec('r2/'))));
    node.proc.kill('SIGHUP');
    await node.waitForLog(new RegExp(`bridge up: ${N} exports the upstream had not acknowledged before the reload queued again`));
    assert.ok(node.output.join('\n').includes(`bridge up: ${N} QoS 1 exports not acknowledged by the upstream within 1000 ms of the stop, handed to the new bridge`), node.output.join('\n'));
    broker.signal('SIGCONT');
    const resent = (): string[] => got.filter((g) => g.startsWith('r2/'));
    await until(() => resent().length >= N, 20_000, `${N} messages sent by the new bridge (have ${resent().length})`);
    assert.deepEqual(resent(), seq(0, N).map((p) => `r2/plant/reload ${p}`));
  });

  test('NATS: exports buffered while the upstream was down arrive in order, with their priority', async () => {
    const file = join(dir, 'nats.bin');
    const [port, clusterPort, monitorPort] = [await freePort(), await freePort(), await freePort()];
    const spec: BridgeSpec[] = [{ name: 'hub', type: 'nats', servers: [`nats://127.0.0.1:${port}`], out: ['plant/#'] }];
    const first = await start(file, spec);
    const N = 40;
    await publishAll(first.port, 'plant/n', seq(0, N), 9);
    assert.equal((await bridgeStatus(first, 'hub')).buffered, N);
    await first.stop('SIGTERM');
    assert.ok(first.output.some((l) => l.includes(`bridge hub: stopping, ${N} buffered exports saved in ${file}`)), first.output.join('\n'));
    const nats = new NatsNode('store', port, clusterPort, monitorPort, [], 'store');
    await nats.start();
    closers.push(() => nats.stop());
    const nc = await natsConnect({ servers: nats.url });
    closers.push(() => nc.close());
    const got: string[] = [];
    nc.subscribe('plant.>', { callback: (_e, m) => { got.push(`${m.subject} ${m.string()} ${m.headers?.get('Psrt-Priority') ?? ''}`); } });
    await nc.flush();
    await start(file, spec);
    await until(() => got.length >= N, 20_000, `${N} messages on NATS (have ${got.length})`);
    assert.deepEqual(got, seq(0, N).map((p) => `plant.n ${p} 9`));
  });

  test('NATS: after a crash, the exports an autosave wrote are sent by the next psrtd', async () => {
    const file = join(dir, 'nats-crash.bin');
    const [port, clusterPort, monitorPort] = [await freePort(), await freePort(), await freePort()];
    const spec: BridgeSpec[] = [{ name: 'hub', type: 'nats', servers: [`nats://127.0.0.1:${port}`], out: ['plant/#'] }];
    const first = await start(file, spec, 1);
    const N = 30;
    await publishAll(first.port, 'plant/c', seq(0, N));
    // An autosave writes the buffer as it is.
    const saved = (): number => (existsSync(file) ? decodeState(readFileSync(file)).bridges[0]?.exports.length ?? 0 : 0);
    await until(() => saved() === N, 10_000, 'an autosave with the whole buffer');
    await first.stop('SIGKILL');
    const nats = new NatsNode('crash', port, clusterPort, monitorPort, [], 'crash');
    await nats.start();
    closers.push(() => nats.stop());
    const nc = await natsConnect({ servers: nats.url });
    closers.push(() => nc.close());
    const got: string[] = [];
    nc.subscribe('plant.>', { callback: (_e, m) => { got.push(`${m.subject} ${m.string()}`); } });
    await nc.flush();
    await start(file, spec);
    await until(() => got.length >= N, 20_000, `${N} messages on NATS (have ${got.length})`);
    assert.deepEqual(got, seq(0, N).map((p) => `plant.c ${p}`));
  });
});
