/**
 * MQTT bridges with `clean_session: false` against a real Mosquitto, MQTT 5 and 3.1.1: messages
 * published upstream while psrtd is down arrive once it is back, in order; a SIGHUP that
 * restarts the bridge loses none of a steady QoS 1 stream, imported or exported (the stopping
 * bridge waits for the acknowledgements of its exports in flight); after `in` loses a mask, messages the
 * persistent session still carries for it are not imported (across a restart), and a reload
 * unsubscribes it, so that the upstream stops sending them. With overlapping masks (MQTT 5), the
 * copies queued under an earlier configuration's subscription identifiers are all imported.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { Mosquitto, until } from '../helpers/engines.js';
import type { Psrtd } from '../helpers/psrtd.js';
import { login, publishFrame } from '../helpers/raw.js';
import { Collector, bridgeStatus, bridgesYaml, startBridged, type BridgeSpec } from './util.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Rewrites the node's `bridges:` section and sends SIGHUP. */
function reloadWith(node: Psrtd, nodeId: string, specs: readonly BridgeSpec[]): void {
  const file = join(node.dir, 'config.yml');
  const text = readFileSync(file, 'utf8');
  writeFileSync(file, text.slice(0, text.indexOf('bridges:')) + bridgesYaml(nodeId, specs));
  process.kill(node.proc.pid ?? 0, 'SIGHUP');
}

/** Waits until the node has logged `n` connections of bridge `name`. */
async function connections(node: Psrtd, name: string, n: number): Promise<void> {
  const re = new RegExp(`bridge ${name}: connected to `);
  await until(() => node.output.filter((l) => re.test(l)).length >= n, 20_000, `connection ${n} of bridge ${name}`);
}

/** The payloads in the order they first arrived (QoS 1 may repeat one). */
function firsts(c: Collector, topic: string): string[] {
  return [...new Set(c.on(topic).map((m) => m.payload.toString()))];
}

for (const version of [5, 4] as const) {
  describe(`MQTT bridge with clean_session: false (MQTT ${version === 5 ? '5' : '3.1.1'})`, () => {
    let broker: Mosquitto;
    const nodes: Psrtd[] = [];
    const closers: (() => unknown)[] = [];
    // 3.1.1 imports subscribe `+/<mask>`: the first level is the origin, stripped on import.
    const remote = (topic: string): string => (version === 5 ? topic : `ext/${topic}`);
    const spec = (name: string, masks: string[], extra: BridgeSpec['extra'] = {}): BridgeSpec[] => [
      { name, type: 'mqtt', servers: [broker.url], in: masks, extra: { qos: 1, clean_session: false, protocol_version: version, ...extra } },
    ];
    const start = async (nodeId: string, specs: BridgeSpec[]): Promise<Psrtd> => {
      const node = await startBridged(nodeId, specs);
      nodes.push(node);
      return node;
    };
    const publisher = async (): Promise<MqttClient> => {
      const client = await mqtt.connectAsync(broker.url, { protocolVersion: version, reconnectPeriod: 0 });
      closers.push(() => client.endAsync(true));
      return client;
    };
    const open = async (node: Psrtd, masks: string[]): Promise<Collector> => {
      const c = await Collector.open(node.port, masks);
      closers.push(() => { c.close(); });
      return c;
    };

    before(async () => {
      // Persistence: sessions survive a Mosquitto restart. Mosquitto drops QoS 1 messages beyond
      // 1000 queued for a client (online or not) by default: a slow consumer would lose some.
      broker = await Mosquitto.start(true, undefined, 'max_queued_messages 100000\n');
    });

    after(async () => {
      for (const c of closers) await c();
      await Promise.all(nodes.map((n) => n.stop()));
      await broker.stop();
    });

    test('messages published upstream while psrtd is down arrive when it is back, in order', async () => {
      const id = `down${version}`;
      const first = await start(id, spec('up', ['p/#']));
      await connections(first, 'up', 1);
      await first.stop();
      const pub = await publisher();
      const N = 200;
      for (let i = 0; i < N; i++) await pub.publishAsync(remote('p/seq'), String(i), { qos: 1 });
      // Mosquitto keeps them for the bridge's session (saved across its own restart); psrtd comes
      // back while Mosquitto is away, so the local subscriber is in place before they arrive.
      await broker.halt();
      const second = await start(id, spec('up', ['p/#']));
      const sub = await open(second, ['p/#']);
      await broker.restart();
      await sub.waitFor(N, 20_000);
      assert.deepEqual(firsts(sub, 'p/seq'), Array.from({ length: N }, (_, i) => String(i)));
      // The log says whether the upstream still had the session.
      assert.ok(first.output.some((l) => /bridge up: connected to .* \(new persistent session: the upstream kept nothing from before\)/.test(l)), first.output.join('\n'));
      await connections(second, 'up', 1);
      assert.ok(second.output.some((l) => /bridge up: connected to .* \(persistent session resumed\)/.test(l)), second.output.join('\n'));
    });

    test('a SIGHUP that restarts the bridge loses none of a QoS 1 stream published upstream', async () => {
      const id = `hup${version}`;
      const node = await start(id, spec('up', ['p/#']));
      await connections(node, 'up', 1);
      const sub = await open(node, ['p/#']);
      const pub = await publisher();
      let sent = 0;
      const run = { on: true };
      const stream = (async () => {
        const t0 = performance.now();
        while (run.on && sent < 3000 && performance.now() - t0 < 15_000) {
          await pub.publishAsync(remote('p/stream'), String(sent), { qos: 1 });
          sent++;
          await sleep(2);
        }
      })();
      await sleep(500);
      reloadWith(node, id, spec('up', ['p/#'], { buffer_messages: 500 })); // changed: restarted
      await connections(node, 'up', 2);
      await sleep(500);
      run.on = false;
      await stream;
      assert.ok(sent > 100, `only ${sent} sent`);
      const arrived = (): Set<string> => new Set(sub.on('p/stream').map((m) => m.payload.toString()));
      await until(() => arrived().size === sent, 15_000, `all ${sent} messages`).catch(() => undefined);
      const missing = Array.from({ length: sent }, (_, i) => String(i)).filter((p) => !arrived().has(p));
      assert.deepEqual(missing, [], `${missing.length} of ${sent} missing`);
    });

    test('QoS 1 exports in flight when a SIGHUP restarts the bridge are acknowledged before it goes', async () => {
      const id = `exp${version}`;
      const out = (extra: BridgeSpec['extra'] = {}): BridgeSpec[] =>
        [{ name: 'up', type: 'mqtt', servers: [broker.url], out: ['e/#'], extra: { qos: 1, clean_session: false, protocol_version: version, ...extra } }];
      const node = await start(id, out());
      await connections(node, 'up', 1);
      // A persistent consumer: it keeps whatever Mosquitto accepted, so a gap is the bridge's.
      const consumer = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: `exp-consumer${version}`, clean: false, properties: { sessionExpiryInterval: 300 } });
      closers.push(() => consumer.endAsync(true));
      const got = new Set<string>();
      consumer.on('message', (_t, payload) => { got.add(payload.toString()); });
      await consumer.subscribeAsync(version === 5 ? 'e/#' : '+/e/#', { qos: 1 });
      const { ctl } = await login(node.port);
      closers.push(() => { ctl.destroy(); });
      let sent = 0;
      const burst = async (n: number): Promise<void> => {
        const from = sent;
        sent += n;
        ctl.send(Buffer.concat(Array.from({ length: n }, (_, i) => publishFrame('e/seq', String(from + i)))));
        assert.ok((await ctl.read(n, 10_000)).every((b) => b === 1));
      };
      for (let i = 0; i < 3; i++) await burst(200);
      // The SIGHUP lands while psrtd is still exporting this burst: some are in flight.
      const during = burst(2000);
      reloadWith(node, id, out({ buffer_messages: 20_000 }));
      await during;
      for (let i = 0; i < 10 && node.output.filter((l) => l.includes('bridge up: connected to')).length < 2; i++) await burst(200);
      await connections(node, 'up', 2);
      await burst(200);
      await until(() => got.size === sent, 15_000, `all ${sent} exports`).catch(() => undefined);
      const missing = Array.from({ length: sent }, (_, i) => String(i)).filter((p) => !got.has(p));
      assert.deepEqual(missing, [], `${missing.length} of ${sent} missing`);
    });

    // MQTT 5: the session queued these copies with the identifiers of the earlier subscriptions:
    // they must not be taken for duplicates of the current ones (p/1 has no other copy at all).
    // MQTT 3.1.1 has no identifiers (one copy per message): the same outcome is expected.
    test('overlapping masks reordered across a restart: the messages queued for the session are imported', async () => {
      const id = `order${version}`;
      const first = await start(id, spec('up', ['a/+/c', 'a/b/+', 'p/#']));
      await connections(first, 'up', 1);
      await first.stop();
      const pub = await publisher();
      await pub.publishAsync(remote('p/1'), 'p1', { qos: 1 });
      await pub.publishAsync(remote('a/b/c'), 'abc', { qos: 1 });
      await broker.halt();
      const second = await start(id, spec('up', ['p/#', 'a/+/c', 'a/b/+']));
      const sub = await open(second, ['p/#', 'a/#']);
      await broker.restart();
      await connections(second, 'up', 1);
      await until(() => sub.on('p/1').length > 0 && sub.on('a/b/c').length > 0, 10_000, 'p/1 and a/b/c').catch(() => undefined);
      assert.deepEqual([...new Set(sub.messages.map((m) => m.topic))].sort(), ['a/b/c', 'p/1']);
    });

    test('a mask removed from in: its messages are not imported after a restart, and a reload unsubscribes it', async () => {
      const pub = await publisher();
      // Across a restart psrtd does not know what the session held: the upstream still sends q/.
      const id = `masks${version}`;
      const first = await start(id, spec('up', ['p/#', 'q/#']));
      await connections(first, 'up', 1);
      await first.stop();
      const second = await start(id, spec('up', ['p/#']));
      await connections(second, 'up', 1);
      const sub = await open(second, ['p/#', 'q/#']);
      await pub.publishAsync(remote('q/1'), 'q1', { qos: 1 });
      await pub.publishAsync(remote('p/1'), 'p1', { qos: 1 });
      await until(() => sub.on('p/1').length > 0, 10_000, 'p/1');
      // q/1 came first from the same session, so by now it would have been imported.
      assert.deepEqual(sub.messages.map((m) => m.topic), ['p/1']);
      await until(async () => (await bridgeStatus(second, 'up')).unmappable === 1, 10_000, 'q/1 counted');
      // A reload knows the old masks: the new connection unsubscribes q/#, nothing more comes.
      const hup = await start(`masks-hup${version}`, spec('up', ['p/#', 'q/#']));
      await connections(hup, 'up', 1);
      reloadWith(hup, `masks-hup${version}`, spec('up', ['p/#']));
      await connections(hup, 'up', 2);
      await sleep(300); // the UNSUBSCRIBE follows the CONNACK
      const local = await open(hup, ['p/#', 'q/#']);
      await pub.publishAsync(remote('q/2'), 'q2', { qos: 1 });
      await pub.publishAsync(remote('p/2'), 'p2', { qos: 1 });
      await local.waitFor(1);
      await sleep(300);
      assert.deepEqual(local.messages.map((m) => m.topic), ['p/2']);
      assert.equal((await bridgeStatus(hup, 'up')).unmappable, 0, 'Mosquitto sent nothing for q/#');
    });
  });
}
