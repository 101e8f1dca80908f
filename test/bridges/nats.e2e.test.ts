/**
 * NATS bridges against a real 3-node nats-server cluster on loopback: two psrtd nodes with
 * `out: '#'` and `in: '#'` deliver every message exactly once on both; NATS-native consumers
 * see the mapped subjects and headers; unmappable topics are counted; a node's own origin is
 * never re-imported; a NATS node killed mid-stream and an upstream down at start are survived
 * with the bounded buffer.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { MsgHdrsImpl, connect, headers, type NatsConnection } from '@nats-io/transport-node';
import { FastImport } from '../../src/bridges/nats-parse.js';
import { FastPublisher } from '../../src/bridges/nats-publish.js';
import { rawOf } from '../../src/bridges/nats-raw.js';
import { NatsCluster, NatsNode, until } from '../helpers/engines.js';
import { freePort } from '../helpers/ports.js';
import type { Psrtd } from '../helpers/psrtd.js';
import { Collector, bridgeStatus, bridgesYaml, metricsText, publishAll, startBridged } from './util.js';

describe('NATS bridge: two psrtd nodes through a 3-node cluster', () => {
  let cluster: NatsCluster;
  let a: Psrtd;
  let b: Psrtd;
  let nc: NatsConnection;
  const closers: (() => void)[] = [];

  before(async () => {
    cluster = await NatsCluster.start(3);
    const spec = (servers: string[]) => [{ name: 'cloud', type: 'nats' as const, servers, out: ['#'], in: ['#'] }];
    [a, b] = await Promise.all([startBridged('node-a', spec(cluster.urls)), startBridged('node-b', spec([...cluster.urls].reverse()))]);
    await until(async () => (await bridgeStatus(a, 'cloud')).state === 'online' && (await bridgeStatus(b, 'cloud')).state === 'online', 15_000, 'bridges online');
    nc = await connect({ servers: cluster.urls });
  });

  after(async () => {
    for (const c of closers) c();
    await nc.close();
    await Promise.all([a.stop(), b.stop()]);
    await cluster.stop();
  });

  test('every subscriber on both nodes gets every message exactly once, byte-exact, priority kept', async () => {
    const subs = await Promise.all([Collector.open(a.port, ['x/#']), Collector.open(b.port, ['x/#'])]);
    closers.push(() => { for (const s of subs) s.close(); });
    // Subscriptions on the far side only travel through NATS once the bridges have subscribed.
    await new Promise((r) => setTimeout(r, 200));
    const N = 400;
    const fromA = Array.from({ length: N }, (_, i) => Buffer.concat([Buffer.from(`a${i}:`), randomBytes(i % 64), Buffer.from([0, 255, 10, 13])]));
    const fromB = Array.from({ length: N }, (_, i) => Buffer.from(`b${i}`));
    await Promise.all([publishAll(a.port, 'x/from/a', fromA, 0x11), publishAll(b.port, 'x/from/b', fromB, 0x22)]);
    for (const s of subs) await s.waitFor(2 * N);
    await new Promise((r) => setTimeout(r, 500)); // duplicates or loops would arrive late
    for (const s of subs) {
      assert.equal(s.messages.length, 2 * N, 'exactly once: no duplicates, no loops');
      const gotA = s.on('x/from/a');
      assert.deepEqual(gotA.map((m) => m.payload.toString('hex')), fromA.map((p) => p.toString('hex')));
      assert.ok(gotA.every((m) => m.priority === 0x11));
      assert.deepEqual(s.on('x/from/b').map((m) => m.payload.toString()), fromB.map((p) => p.toString()));
      assert.ok(s.on('x/from/b').every((m) => m.priority === 0x22));
    }
    const sa = await bridgeStatus(a, 'cloud');
    assert.ok(sa.exported >= N && sa.imported >= N, JSON.stringify(sa));
    assert.equal(sa.echoes, 0, 'noEcho: the server never sends our own messages back');
  });

  test('a NATS-native consumer sees the mapped subjects and the origin and priority headers', async () => {
    const seen: { subject: string; origin: string; priority: string; data: string }[] = [];
    const sub = nc.subscribe('native.>', {
      callback: (_e, m) => {
        seen.push({ subject: m.subject, origin: m.headers?.get('Psrt-Origin') ?? '', priority: m.headers?.get('Psrt-Priority') ?? '', data: m.string() });
      },
    });
    await nc.flush();
    await publishAll(a.port, 'native/plant.1/temp', ['21.5'], 5);
    await publishAll(a.port, 'native/trailing/', ['t']);
    await until(() => seen.length >= 2, 10_000, 'native messages');
    sub.unsubscribe();
    assert.deepEqual(seen, [
      { subject: 'native.plant//1.temp', origin: 'node-a', priority: '5', data: '21.5' },
      { subject: 'native.trailing./', origin: 'node-a', priority: '127', data: 't' },
    ]);
  });

  test('NATS-native publishes are imported (priority header honoured); our own origin is discarded', async () => {
    const sub = await Collector.open(b.port, ['in/#']);
    closers.push(() => { sub.close(); });
    const h = headers();
    h.set('Psrt-Priority', '9');
    nc.publish('in.plant//2.x', 'native', { headers: h });
    nc.publish('in.plain', 'no headers');
    const looped = headers();
    looped.set('Psrt-Origin', 'node-b');
    nc.publish('in.loop', 'must not enter node-b', { headers: looped });
    await nc.flush();
    await sub.waitFor(2);
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(sub.messages.map((m) => [m.topic, m.payload.toString(), m.priority]), [
      ['in/plant.2/x', 'native', 9],
      ['in/plain', 'no headers', 0x7f],
    ]);
    assert.equal((await bridgeStatus(b, 'cloud')).echoes, 1);
  });

  test('the client internals the hot paths read are there (else they silently fall back to the slower public API)', async () => {
    const got: { raw: boolean; subject: string; origin: string; data: string }[] = [];
    const sub = nc.subscribe('fast.>', {
      callback: (_e, m) => {
        got.push({ raw: rawOf(m) !== null, subject: m.subject, origin: m.headers?.get('Psrt-Origin') ?? '', data: m.string() });
      },
    });
    await nc.flush();
    const fast = new FastPublisher(nc);
    const hdr = headers();
    hdr.set('Psrt-Origin', 'test');
    assert.ok(hdr instanceof MsgHdrsImpl);
    // More lines than one slab holds: lines handed out earlier must stay intact.
    const N = 3000;
    for (let i = 0; i < N; i++) assert.equal(fast.publish(`fast.s${i % 7}`, hdr.encode(), Buffer.from(`p${i}`)), true);
    await nc.flush();
    await until(() => got.length === N, 10_000, 'fast publishes');
    sub.unsubscribe();
    assert.ok(got.every((g, i) => g.raw && g.subject === `fast.s${i % 7}` && g.origin === 'test' && g.data === `p${i}`), JSON.stringify(got.find((g, i) => g.data !== `p${i}`)));
  });

  test('the import parser hooks a real connection: plain messages to the sink, the rest to the callback, in order', async () => {
    // On the publisher's node: this test is about the parser, and a subscription made on another
    // node reaches the publisher's node over a route only some time after own.flush().
    const own = await connect({ servers: nc.getServer() });
    try {
      const fast = FastImport.install(own);
      assert.ok(fast !== null, 'the client internals the import parser needs are there');
      const got: string[] = [];
      const sub = own.subscribe('hook.>', { callback: (_e, m) => { got.push(`callback ${m.subject} ${m.string()}`); } });
      fast.add(sub, (f) => {
        const data = f.buf.subarray(f.dataStart + f.hdr, f.dataEnd).toString();
        if (data.startsWith('decline')) return false;
        got.push(`sink ${f.buf.subarray(f.subjectStart, f.subjectEnd).toString()} ${data}`);
        return true;
      });
      await own.flush();
      const hdr = headers();
      hdr.set('Psrt-Origin', 'test');
      const want: string[] = [];
      for (let i = 0; i < 2000; i++) {
        const kind = i % 4 === 1 ? 'decline' : i % 4 === 2 ? 'reply' : 'p';
        const payload = `${kind}${i}${'.'.repeat(i % 300)}`;
        nc.publish(`hook.s${i % 3}`, payload, { ...(i % 2 === 0 ? { headers: hdr } : {}), ...(kind === 'reply' ? { reply: 'r.x' } : {}) });
        want.push(`${kind === 'p' ? 'sink' : 'callback'} hook.s${i % 3} ${payload}`);
      }
      await nc.flush();
      await until(() => got.length === want.length, 10_000, 'messages on the hooked connection');
      // A message cut by the end of a read goes to the client whole (and to the callback).
      const plain = got.filter((g, i) => g !== want[i] && g.replace(/^callback /, 'sink ') === want[i]).length;
      assert.deepEqual(got.map((g) => g.replace(/^callback (hook\.s\d p)/, 'sink $1')), want);
      assert.ok(plain < 100, `${plain} of 1,000 plain messages through the client`);
      assert.equal(sub.getReceived(), want.length, 'messages taken by the sink are counted by the client');
    } finally {
      await own.close();
    }
  });

  test('unmappable topics are counted and logged once per topic; the bridge keeps working', async () => {
    const before = (await bridgeStatus(a, 'cloud')).unmappable;
    await publishAll(a.port, 'bad topic/with space', ['1', '2', '3']);
    await publishAll(a.port, 'bad/*', ['4']);
    const sub = await Collector.open(b.port, ['after/#']);
    closers.push(() => { sub.close(); });
    await new Promise((r) => setTimeout(r, 100));
    await publishAll(a.port, 'after/ok', ['fine']);
    await sub.waitFor(1);
    const s = await bridgeStatus(a, 'cloud');
    assert.equal(s.unmappable - before, 4);
    assert.equal(a.output.filter((l) => l.includes('"bad topic/with space" cannot be mapped')).length, 1);
    assert.equal(a.output.filter((l) => l.includes('"bad/*" cannot be mapped')).length, 1);
    const metrics = await metricsText(a);
    assert.match(metrics, /psrt_bridge_state\{bridge="cloud",state="online"\} 1/);
    assert.match(metrics, /psrt_bridge_unmappable_messages_total\{bridge="cloud",type="nats"\} [1-9]/);
  });

  test('a NATS node killed mid-stream: the bridge moves to another node, order kept', async () => {
    const sub = await Collector.open(b.port, ['kill/#']);
    closers.push(() => { sub.close(); });
    await new Promise((r) => setTimeout(r, 200));
    const server = (await bridgeStatus(a, 'cloud')).server;
    const victim = cluster.node(Number(/:(\d+)$/.exec(server)?.[1]));
    assert.ok(victim !== undefined, `node a is connected to ${server}`);
    const N = 300;
    for (let i = 0; i < N; i++) {
      if (i === 100) await victim.kill();
      await publishAll(a.port, 'kill/seq', [String(i)]);
      if (i % 20 === 0) await new Promise((r) => setTimeout(r, 10));
    }
    await until(async () => (await bridgeStatus(a, 'cloud')).server !== server, 15_000, 'a new server');
    await sub.waitFor(N - 150, 15_000);
    await until(() => sub.messages.at(-1)?.payload.toString() === String(N - 1), 15_000, 'the last message');
    const seq = sub.messages.map((m) => Number(m.payload.toString()));
    for (let i = 1; i < seq.length; i++) assert.ok((seq[i] ?? 0) > (seq[i - 1] ?? 0), `in order, no duplicates: ${seq.join(',')}`);
    const s = await bridgeStatus(a, 'cloud');
    assert.ok(s.connects >= 2, JSON.stringify(s));
    assert.equal(s.state, 'online');
    await victim.start(); // back in the cluster for the other tests' sake
  });
});

describe('NATS bridge: upstream down at start, bounded buffer, SIGHUP', () => {
  let node: Psrtd | undefined;
  let nats: NatsNode | undefined;
  after(async () => {
    await node?.stop();
    await nats?.stop();
  });

  test('buffers while away (oldest dropped beyond the bound), sends in order on connect; local traffic unaffected', async () => {
    const [port, clusterPort, monitorPort] = [await freePort(), await freePort(), await freePort()];
    const spec = { name: 'late', type: 'nats' as const, servers: [`nats://127.0.0.1:${port}`], out: ['buf/#'], extra: { buffer_messages: 50 } };
    node = await startBridged('node-c', [spec]);
    const local = await Collector.open(node.port, ['buf/#']);
    const N = 80;
    await publishAll(node.port, 'buf/seq', Array.from({ length: N }, (_, i) => String(i)));
    await local.waitFor(N, 5000); // the bridge being away never holds local delivery
    local.close();
    let s = await bridgeStatus(node, 'late');
    assert.notEqual(s.state, 'online');
    assert.equal(s.buffered, 50);
    assert.equal(s.dropped, N - 50);
    assert.ok(s.buffered_bytes > 0);
    // The upstream appears: the 50 newest arrive, in order.
    nats = new NatsNode('late', port, clusterPort, monitorPort, [], 'late');
    await nats.start();
    const nc = await connect({ servers: nats.url });
    const got: string[] = [];
    nc.subscribe('buf.>', { callback: (_e, m) => { got.push(m.string()); } });
    await nc.flush();
    // The bridge may connect before our subscription is in place: count from its counters too.
    await until(async () => (await bridgeStatus(node as Psrtd, 'late')).state === 'online', 20_000, 'bridge online');
    s = await bridgeStatus(node, 'late');
    assert.equal(s.buffered, 0);
    assert.equal(s.exported, 50);
    await publishAll(node.port, 'buf/seq', ['after']);
    await until(() => got.includes('after'), 10_000, 'live message after the buffer');
    const expected = [...Array.from({ length: 50 }, (_, i) => String(i + N - 50)), 'after'];
    assert.deepEqual(got, expected.slice(expected.length - got.length), 'what arrived is the newest, in order');
    await nc.close();
  });

  test('SIGHUP reloads bridges: an added bridge starts, an unchanged one keeps its connection', async () => {
    assert.ok(node !== undefined && nats !== undefined);
    const before = await bridgeStatus(node, 'late');
    const config = join(node.dir, 'config.yml');
    const text = readFileSync(config, 'utf8');
    const base = text.slice(0, text.indexOf('bridges:'));
    const late = { name: 'late', type: 'nats' as const, servers: [nats.url], out: ['buf/#'], extra: { buffer_messages: 50 } };
    writeFileSync(config, base + bridgesYaml('node-c', [late, { name: 'second', type: 'nats', servers: [nats.url], in: ['hup/#'] }]));
    process.kill(node.proc.pid ?? 0, 'SIGHUP');
    await until(async () => (await bridgeStatus(node as Psrtd, 'second').catch(() => ({ state: '' }))).state === 'online', 15_000, 'second bridge online');
    const after = await bridgeStatus(node, 'late');
    assert.equal(after.connects, before.connects, 'the unchanged bridge was not restarted');
    // A bad file keeps the running bridges and says why.
    writeFileSync(config, `${base}bridges:\n  list:\n    - name: x\n      type: nats\n      servers: y\n      bogus: 1\n`);
    process.kill(node.proc.pid ?? 0, 'SIGHUP');
    const bogusLine = base.split('\n').length + 5; // base ends with a newline; `bridges:` is its last line + 1
    await node.waitForLog(new RegExp(`bridges not reloaded.*config\\.yml:${bogusLine}: bridges\\.list\\[0\\]\\.bogus: unknown key`));
    assert.equal((await bridgeStatus(node, 'second')).state, 'online');
  });
});
