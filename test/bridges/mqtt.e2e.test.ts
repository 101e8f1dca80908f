/**
 * MQTT bridges against a real Mosquitto on loopback: two psrtd nodes bridged with `out: '#'`
 * and `in: '#'` deliver every message exactly once on both (MQTT 5: origin user property and
 * No Local; MQTT 3.1.1: origin topic level); MQTT properties cross; a Mosquitto restart
 * mid-stream is bridged over with the buffer, in order; a SIGHUP during the stop is ignored.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { Mosquitto, until } from '../helpers/engines.js';
import { freePort } from '../helpers/ports.js';
import { startPsrtd, type Psrtd } from '../helpers/psrtd.js';
import { Collector, bridgeStatus, publishAll, startBridged, type BridgeSpec } from './util.js';

interface Seen {
  topic: string;
  payload: string;
  props: Record<string, string | string[]> | undefined;
  contentType: string | undefined;
}

async function nativeClient(url: string, version: 4 | 5, filter: string, opts: mqtt.IClientOptions = {}): Promise<{ client: MqttClient; seen: Seen[] }> {
  const client = await mqtt.connectAsync(url, { protocolVersion: version, reconnectPeriod: 100, ...opts });
  const seen: Seen[] = [];
  client.on('message', (topic, payload, packet) => {
    const user = packet.properties?.userProperties;
    seen.push({ topic, payload: payload.toString(), props: user === undefined ? undefined : { ...user }, contentType: packet.properties?.contentType });
  });
  await client.subscribeAsync(filter, { qos: 1 });
  return { client, seen };
}

describe('MQTT bridge (MQTT 5) through Mosquitto', () => {
  let broker: Mosquitto;
  let a: Psrtd;
  let b: Psrtd;
  const cleanups: (() => Promise<void> | void)[] = [];

  before(async () => {
    broker = await Mosquitto.start(true);
    const spec = (): BridgeSpec[] => [{ name: 'up', type: 'mqtt', servers: [broker.url], out: ['#'], in: ['#'], extra: { qos: 1 } }];
    [a, b] = await Promise.all([startBridged('mq-a', spec()), startBridged('mq-b', spec())]);
    await until(async () => (await bridgeStatus(a, 'up')).state === 'online' && (await bridgeStatus(b, 'up')).state === 'online', 15_000, 'bridges online');
  });

  after(async () => {
    for (const c of cleanups) await c();
    await Promise.all([a.stop(), b.stop()]);
    await broker.stop();
  });

  test('every subscriber on both nodes gets every message exactly once, byte-exact', async () => {
    const subs = await Promise.all([Collector.open(a.port, ['m/#']), Collector.open(b.port, ['m/#'])]);
    cleanups.push(() => { for (const s of subs) s.close(); });
    await new Promise((r) => setTimeout(r, 200));
    const N = 300;
    const fromA = Array.from({ length: N }, (_, i) => Buffer.concat([Buffer.from(`a${i}:`), randomBytes(i % 50)]));
    const fromB = Array.from({ length: N }, (_, i) => Buffer.from(`b${i}`));
    await Promise.all([publishAll(a.port, 'm/a', fromA, 3), publishAll(b.port, 'm/b', fromB)]);
    for (const s of subs) await s.waitFor(2 * N);
    await new Promise((r) => setTimeout(r, 500));
    for (const s of subs) {
      assert.equal(s.messages.length, 2 * N, 'exactly once');
      assert.deepEqual(s.on('m/a').map((m) => m.payload.toString('hex')), fromA.map((p) => p.toString('hex')));
      assert.ok(s.on('m/a').every((m) => m.priority === 3), 'priority travels in a user property');
      assert.deepEqual(s.on('m/b').map((m) => m.payload.toString()), fromB.map((p) => p.toString()));
    }
    assert.equal((await bridgeStatus(a, 'up')).echoes, 0, 'No Local: Mosquitto sends nothing back');
  });

  test('native MQTT clients see the topics and the origin; their properties and messages come in', async () => {
    const native = await nativeClient(broker.url, 5, 'props/#');
    cleanups.push(() => native.client.endAsync());
    await publishAll(a.port, 'props/out', ['x'], 7);
    await until(() => native.seen.length === 1, 10_000, 'native delivery');
    assert.deepEqual(native.seen[0], { topic: 'props/out', payload: 'x', props: { 'psrt-origin': 'mq-a', 'psrt-priority': '7' }, contentType: undefined });
    const sub = await Collector.open(b.port, ['props/in']);
    cleanups.push(() => { sub.close(); });
    await native.client.publishAsync('props/in', 'from-mqtt', { qos: 1, properties: { contentType: 'text/plain', userProperties: { k: 'v' } } });
    await sub.waitFor(1);
    assert.deepEqual(sub.messages.map((m) => [m.topic, m.payload.toString(), m.priority]), [['props/in', 'from-mqtt', 0x7f]]);
    // A message carrying node b's own origin (a loop through another path) is discarded there.
    await native.client.publishAsync('props/in', 'looped', { qos: 1, properties: { userProperties: { 'psrt-origin': 'mq-b' } } });
    await until(async () => (await bridgeStatus(b, 'up')).echoes === 1, 10_000, 'echo counted');
    assert.equal(sub.messages.length, 1);
  });

  test('Mosquitto restarted mid-stream: exports are buffered and sent in order when it returns', async () => {
    // A persistent session keeps what the bridge sends before the consumer is back.
    const native = await nativeClient(broker.url, 5, 'restart/#', { clean: false, clientId: 'restart-consumer', properties: { sessionExpiryInterval: 300 } });
    cleanups.push(() => native.client.endAsync(true));
    await publishAll(a.port, 'restart/seq', Array.from({ length: 50 }, (_, i) => String(i)));
    await until(() => native.seen.length === 50, 10_000, 'first 50');
    await new Promise((r) => setTimeout(r, 300)); // the consumer's PUBACKs reach the broker
    await broker.halt();
    await until(async () => (await bridgeStatus(a, 'up')).state === 'offline', 10_000, 'bridge offline');
    await publishAll(a.port, 'restart/seq', Array.from({ length: 50 }, (_, i) => String(50 + i)));
    const away = await bridgeStatus(a, 'up');
    assert.equal(away.buffered, 50);
    await broker.restart();
    await until(async () => (await bridgeStatus(a, 'up')).state === 'online', 20_000, 'bridge back online');
    await publishAll(a.port, 'restart/seq', Array.from({ length: 50 }, (_, i) => String(100 + i)));
    await until(() => native.seen.at(-1)?.payload === '149', 20_000, 'the last message');
    // The consumer's persistent session kept whatever arrived before it was back: all 150, in
    // order. (QoS 1 between Mosquitto and the consumer may repeat one it had not acknowledged.)
    const firsts = [...new Set(native.seen.map((m) => Number(m.payload)))];
    assert.deepEqual(firsts, Array.from({ length: 150 }, (_, i) => i));
    const back = await bridgeStatus(a, 'up');
    assert.equal(back.buffered, 0);
    assert.ok(back.connects >= 2);
  });
});

describe('MQTT bridge (3.1.1): origin as a topic level', () => {
  let broker: Mosquitto;
  let a: Psrtd;
  let b: Psrtd;
  const cleanups: (() => Promise<void> | void)[] = [];

  before(async () => {
    broker = await Mosquitto.start();
    const spec = (): BridgeSpec[] => [{ name: 'v3', type: 'mqtt', servers: [broker.url], out: ['#'], in: ['#'], extra: { protocol_version: 4, remote_prefix: 'psrt/' } }];
    [a, b] = await Promise.all([startBridged('v3-a', spec()), startBridged('v3-b', spec())]);
    await until(async () => (await bridgeStatus(a, 'v3')).state === 'online' && (await bridgeStatus(b, 'v3')).state === 'online', 15_000, 'bridges online');
  });

  after(async () => {
    for (const c of cleanups) await c();
    await Promise.all([a.stop(), b.stop()]);
    await broker.stop();
  });

  test('exactly once on both nodes; upstream topics carry the origin node; own echoes discarded', async () => {
    const native = await nativeClient(broker.url, 4, 'psrt/#');
    cleanups.push(() => native.client.endAsync());
    const subs = await Promise.all([Collector.open(a.port, ['v/#']), Collector.open(b.port, ['v/#'])]);
    cleanups.push(() => { for (const s of subs) s.close(); });
    await new Promise((r) => setTimeout(r, 200));
    const N = 100;
    await Promise.all([
      publishAll(a.port, 'v/a', Array.from({ length: N }, (_, i) => `a${i}`)),
      publishAll(b.port, 'v/b', Array.from({ length: N }, (_, i) => `b${i}`)),
    ]);
    for (const s of subs) await s.waitFor(2 * N);
    await new Promise((r) => setTimeout(r, 500));
    for (const s of subs) {
      assert.equal(s.messages.length, 2 * N);
      assert.deepEqual(s.on('v/a').map((m) => m.payload.toString()), Array.from({ length: N }, (_, i) => `a${i}`));
    }
    assert.deepEqual([...new Set(native.seen.map((m) => m.topic))].sort(), ['psrt/v3-a/v/a', 'psrt/v3-b/v/b']);
    assert.equal((await bridgeStatus(a, 'v3')).echoes, N, '3.1.1 has no No Local: our own come back and are dropped');
  });
});

describe('MQTT bridge: upstream down at start', () => {
  let node: Psrtd | undefined;
  let broker: Mosquitto | undefined;
  after(async () => {
    await node?.stop();
    await broker?.stop();
  });

  test('exports wait in the buffer (oldest dropped beyond it) and go out in order once Mosquitto is up', async () => {
    const port = await freePort();
    node = await startBridged('mq-late', [{ name: 'late', type: 'mqtt', servers: [`mqtt://127.0.0.1:${port}`], out: ['late/#'], extra: { qos: 1, buffer_messages: 30 } }]);
    await publishAll(node.port, 'late/seq', Array.from({ length: 40 }, (_, i) => String(i)));
    let s = await bridgeStatus(node, 'late');
    assert.notEqual(s.state, 'online');
    assert.equal(s.buffered, 30);
    assert.equal(s.dropped, 10);
    broker = await Mosquitto.start(true, port);
    const native = await nativeClient(broker.url, 5, 'late/#', { clean: false, clientId: 'late-consumer', properties: { sessionExpiryInterval: 60 } });
    try {
      await until(async () => (await bridgeStatus(node as Psrtd, 'late')).exported === 30, 20_000, 'buffer sent');
      s = await bridgeStatus(node, 'late');
      assert.equal(s.buffered, 0);
      // The bridge's next attempt may reach Mosquitto before the consumer has subscribed (its
      // back-off is up to ~1.6 s here), and Mosquitto keeps nothing for a topic nobody subscribed
      // to: the consumer gets the tail of the buffer, possibly empty, in order, then live messages.
      await publishAll(node.port, 'late/seq', ['40']);
      await until(() => native.seen.some((m) => m.payload === '40'), 10_000, 'a live message after the buffer');
      const firsts = [...new Set(native.seen.map((m) => Number(m.payload)))];
      assert.deepEqual(firsts, [...Array.from({ length: 30 }, (_, i) => 10 + i).slice(31 - firsts.length), 40]);
    } finally {
      await native.client.endAsync(true);
    }
  });
});

describe('MQTT bridge: a SIGHUP while psrtd stops', () => {
  test('is ignored: the bridge the stop is ending (its upstream stalled) is not started again', async () => {
    const broker = await Mosquitto.start();
    const node = await startBridged('mq-stop', [{ name: 'up', type: 'mqtt', servers: [broker.url], out: ['stop/#'], extra: { qos: 1 } }]);
    try {
      await until(async () => (await bridgeStatus(node, 'up')).state === 'online', 15_000, 'bridge online');
      // A stalled upstream never acknowledges: the stop waits up to a second for it.
      broker.signal('SIGSTOP');
      await publishAll(node.port, 'stop/x', ['in flight']);
      const from = node.output.length;
      node.proc.kill('SIGTERM');
      await node.waitForLog(/bridge up: stopping/);
      node.proc.kill('SIGHUP');
      assert.equal(await node.stop('SIGTERM'), 0);
      const during = node.output.slice(from);
      assert.ok(during.some((l) => l.includes('SIGHUP ignored: psrtd is stopping')), during.join('\n'));
      assert.ok(!during.some((l) => /reloading bridges|bridge up: mqtt /.test(l)), during.join('\n'));
    } finally {
      broker.signal('SIGCONT');
      await node.stop();
      await broker.stop();
    }
  });
});

describe('MQTT bridge: two psrtd with the same node_id and bridge name', () => {
  // The upstream is a psrtd: it tells a v5 client its session was taken over (0x8E), which
  // Mosquitto 2.0.11 does not (it closes the connection without a DISCONNECT).
  test('the session they take from each other is named in the log (v5 DISCONNECT 0x8E)', async () => {
    const upstream = await startPsrtd({ mqtt: {} });
    const spec: BridgeSpec[] = [{ name: 'up', type: 'mqtt', servers: [`mqtt://127.0.0.1:${String(upstream.mqttPort)}`], out: ['twin/#'] }];
    const first = await startBridged('twin', spec);
    try {
      await until(async () => (await bridgeStatus(first, 'up')).state === 'online', 15_000, 'first bridge online');
      const second = await startBridged('twin', spec);
      try {
        await first.waitForLog(/bridge up: lost .*: session taken over by another client with the client id psrtd-twin-up \(two bridges with the same node_id and name\?\)/, 10_000);
      } finally {
        await second.stop();
      }
    } finally {
      await first.stop();
      await upstream.stop();
    }
  });
});
