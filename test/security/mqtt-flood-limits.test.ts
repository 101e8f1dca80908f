/**
 * What one MQTT client's input may cost the server: a client that sends requests without reading
 * the answers (PUBREL → PUBCOMP) is stopped being read instead of growing memory without bound;
 * a subscription that matches far more retained messages than `server.data_queue` gets all of
 * them (paced by its queue) instead of being dropped as a slow consumer (before: dropped, and
 * logged and counted as dropped once per retained message queued after the drop), and a
 * retained message replaced or deleted while the set is paced is not sent after its replacement.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import mqtt from 'mqtt';
import mqttPacket from 'mqtt-packet';
import { MqttBystander, publishPacket, sleep } from '../helpers/mqtt-raw.js';
import { startPsrtd, type Psrtd } from '../helpers/psrtd.js';
import { RawConn } from '../helpers/raw.js';

const DATA_QUEUE = 256;
const RETAINED = 5000;

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) / 1024;
}

async function rawClient(port: number, clientId: string, clean = true): Promise<RawConn> {
  const c = await RawConn.open(port);
  c.send(mqttPacket.generate({ cmd: 'connect', protocolVersion: 4, clientId, clean, keepalive: 0 }));
  await c.read(4);
  return c;
}

/** Writes `buf` up to `rounds` times; stops when the server stops reading (no drain in 2 s) or closes. */
async function flood(c: RawConn, buf: Buffer, rounds: number): Promise<number> {
  for (let r = 0; r < rounds; r++) {
    if (c.closed) return r;
    if (!c.socket.write(buf)) {
      const drained = await Promise.race([new Promise<boolean>((res) => c.socket.once('drain', () => { res(true); })), sleep(2000).then(() => false)]);
      if (!drained) return r;
    }
  }
  return rounds;
}

describe('MQTT floods against the server', () => {
  let server: Psrtd;
  let bystander: MqttBystander;
  before(async () => {
    server = await startPsrtd({ server: { data_queue: DATA_QUEUE, data_drain_timeout: 1 }, proto: { timeout: 10 }, mqtt: {} });
    bystander = await MqttBystander.create(server.mqttPort);
  });
  after(async () => {
    await bystander.close();
    await server.stop();
  });

  test('PUBRELs sent without reading the PUBCOMPs: the server stops reading; memory stays bounded', async () => {
    const pid = server.proc.pid as number;
    const before = rssMb(pid);
    const c = await rawClient(server.mqttPort, 'pubrel-flood');
    try {
      c.socket.pause(); // never reads the answers
      const round = Buffer.concat(Array.from({ length: 65535 }, (_, i) => mqttPacket.generate({ cmd: 'pubrel', messageId: i + 1 })));
      const rounds = await flood(c, round, 40); // at most 10 MB of PUBRELs
      const grown = rssMb(pid) - before;
      assert.ok(rounds < 40, `the server kept reading all ${rounds} rounds`);
      assert.ok(grown < 100, `RSS grew by ${grown.toFixed(0)} MB`);
      await bystander.check();
    } finally {
      c.socket.destroy();
    }
  });

  test(`a subscription matching ${RETAINED} retained messages (data_queue ${DATA_QUEUE}) gets them all`, async () => {
    const pub = await rawClient(server.mqttPort, 'retained-publisher');
    const msgs = Array.from({ length: RETAINED }, (_, i) => publishPacket(`ret/${i}`, 'v', { retain: true }));
    pub.send(Buffer.concat(msgs));
    pub.send(mqttPacket.generate({ cmd: 'pingreq' }));
    await pub.read(2, 5000); // PINGRESP: every publish before it is retained
    pub.socket.destroy();
    const from = server.output.length;
    for (const qos of [0, 1] as const) {
      const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${server.mqttPort}`, { protocolVersion: 5, clientId: `retained-${qos}`, reconnectPeriod: 0 });
      try {
        let got = 0;
        client.on('message', () => { got++; });
        await client.subscribeAsync('ret/#', { qos });
        for (let i = 0; i < 100 && got < RETAINED; i++) await sleep(50);
        assert.equal(got, RETAINED, `QoS ${qos}`);
        assert.ok(client.connected);
      } finally {
        client.end(true);
      }
    }
    assert.deepEqual(server.output.slice(from).filter((l) => /does not read|too slow/.test(l)), []);
    await bystander.check();
  });

  /** Retained `${prefix}/0 … n-1` of `size` bytes each (megabytes: more than the socket buffers hold). */
  async function retainBig(pub: RawConn, prefix: string, n: number, size: number, qos: 0 | 1 = 0): Promise<void> {
    const big = Buffer.alloc(size, 0x61);
    pub.send(Buffer.concat(Array.from({ length: n }, (_, i) => publishPacket(`${prefix}/${i}`, big, { retain: true, qos, id: 1 + (i % 65535) }))));
    pub.send(mqttPacket.generate({ cmd: 'pingreq' }));
    await pub.read(2 + qos * 4 * n, 5000); // the PUBACKs, then the PINGRESP
  }

  /** A raw 3.1.1 subscriber that reads up to its SUBACK and then stops reading until resumed. */
  async function pausedReader(clientId: string, filter: string, clean = true): Promise<{ sub: RawConn; seen: { topic: string; payload: number; retain: boolean }[] }> {
    const sub = await rawClient(server.mqttPort, clientId, clean);
    const seen: { topic: string; payload: number; retain: boolean }[] = [];
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    const state = { subacked: false };
    parser.on('packet', (p) => {
      if (p.cmd === 'publish') seen.push({ topic: p.topic, payload: Buffer.from(p.payload).length, retain: p.retain });
      if (p.cmd === 'suback' && !state.subacked) {
        state.subacked = true;
        sub.socket.pause(); // only at the first SUBACK: later ones are answers to later requests
      }
    });
    sub.socket.removeAllListeners('data');
    sub.socket.on('data', (d: Buffer) => parser.parse(d));
    sub.send(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: filter, qos: 0 }] }));
    for (let i = 0; i < 100 && !state.subacked; i++) await sleep(20);
    assert.ok(state.subacked, 'SUBACK');
    await sleep(150); // the queue fills behind the paused reader, the pacer waits (data_drain_timeout is 1 s)
    return { sub, seen };
  }

  test('a retained message replaced or deleted while the set is paced is not sent after its replacement', async () => {
    const N = 3000;
    const pub = await rawClient(server.mqttPort, 'sup-publisher');
    let sub: RawConn | undefined;
    try {
      await retainBig(pub, 'sup', N, 4096);
      const reader = await pausedReader('sup-reader', 'sup/#');
      sub = reader.sub;
      pub.send(Buffer.concat([publishPacket(`sup/${N - 1}`, 'new', { retain: true }), publishPacket(`sup/${N - 2}`, '', { retain: true })]));
      pub.send(mqttPacket.generate({ cmd: 'pingreq' }));
      await sleep(100); // taken: the publisher now waits for the full reader (so its PINGRESP does too)
      sub.socket.resume();
      await pub.read(2, 5000);
      const { seen } = reader;
      for (let i = 0; i < 200 && seen.length < N; i++) await sleep(50);
      await sleep(200);
      const last = seen.filter((m) => m.topic === `sup/${N - 1}`);
      const deleted = seen.filter((m) => m.topic === `sup/${N - 2}`);
      assert.deepEqual(last, [{ topic: `sup/${N - 1}`, payload: 3, retain: false }], 'the replaced topic: only its live replacement');
      assert.deepEqual(deleted, [{ topic: `sup/${N - 2}`, payload: 0, retain: false }], 'the deleted topic: only the deleting publish');
      assert.equal(seen.length, N, 'every other retained message, once');
      await bystander.check();
    } finally {
      pub.socket.destroy();
      sub?.socket.destroy();
    }
  });

  test('after UNSUBSCRIBE the rest of a paced retained set is not sent', async () => {
    const N = 3000;
    const pub = await rawClient(server.mqttPort, 'uns-publisher');
    let sub: RawConn | undefined;
    try {
      await retainBig(pub, 'uns', N, 8192); // 24 MB: the kernel's buffers hold well under half
      const reader = await pausedReader('uns-reader', 'uns/#');
      sub = reader.sub;
      sub.send(mqttPacket.generate({ cmd: 'unsubscribe', messageId: 2, unsubscriptions: ['uns/#'] }));
      await sleep(100);
      sub.socket.resume();
      sub.send(mqttPacket.generate({ cmd: 'pingreq' })); // answered after everything queued before it
      await sleep(1000);
      const got = reader.seen.length;
      assert.ok(got < N / 2, `${got} of ${N} retained messages after UNSUBSCRIBE`);
      assert.ok(!sub.closed, 'the reader stays connected');
      await bystander.check();
    } finally {
      pub.socket.destroy();
      sub?.socket.destroy();
    }
  });
  test('a repeated SUBSCRIBE replaces the retained set in progress instead of sending two at once', async () => {
    const N = 2000;
    const pub = await rawClient(server.mqttPort, 'rep-publisher');
    let sub: RawConn | undefined;
    try {
      await retainBig(pub, 'rep', N, 8192);
      const reader = await pausedReader('rep-reader', 'rep/#');
      sub = reader.sub;
      sub.send(mqttPacket.generate({ cmd: 'subscribe', messageId: 3, subscriptions: [{ topic: 'rep/#', qos: 0 }] }));
      await sleep(100);
      sub.socket.resume();
      const distinct = (): number => new Set(reader.seen.map((m) => m.topic)).size;
      for (let i = 0; i < 200 && !(distinct() === N && reader.seen.at(-1)?.topic === `rep/${N - 1}`); i++) await sleep(50);
      await sleep(300);
      assert.equal(distinct(), N, 'the second set is complete');
      // The first set stopped where the second began: what was already queued or in the socket
      // buffers (a few MB), not all N again.
      assert.ok(reader.seen.length < 2 * N - 200, `${reader.seen.length} deliveries for ${N} topics`);
    } finally {
      pub.socket.destroy();
      sub?.socket.destroy();
    }
  });

  test('a re-SUBSCRIBE without a set of its own (retain handling 2): the set in progress goes on under the new options', async () => {
    const N = 2000;
    const pub = await rawClient(server.mqttPort, 'rh2-publisher');
    const sub = await RawConn.open(server.mqttPort);
    try {
      await retainBig(pub, 'rh2', N, 4096, 1);
      const seen: { topic: string; qos: number; id: unknown }[] = [];
      const acks: number[] = [];
      const parser = mqttPacket.parser({ protocolVersion: 5 });
      parser.on('packet', (p) => {
        if (p.cmd === 'publish') {
          seen.push({ topic: p.topic, qos: p.qos, id: p.properties?.subscriptionIdentifier });
          if (p.qos === 1) sub.send(mqttPacket.generate({ cmd: 'puback', messageId: p.messageId ?? 0 }, { protocolVersion: 5 }));
        } else if (p.cmd === 'connack' || p.cmd === 'suback') {
          acks.push(acks.length);
          if (p.cmd === 'suback' && acks.length === 2) sub.socket.pause(); // only after the first SUBACK
        }
      });
      sub.socket.removeAllListeners('data');
      sub.socket.on('data', (d: Buffer) => parser.parse(d));
      const v5 = { protocolVersion: 5 } as const;
      // A small receive maximum: the QoS 1 messages wait in the session's queue, whose pause
      // point stops the pacer, rather than in socket buffers of a size this test cannot know.
      sub.send(mqttPacket.generate({ cmd: 'connect', protocolVersion: 5, clientId: 'rh2-reader', clean: true, keepalive: 0, properties: { receiveMaximum: 10 } }, v5));
      const subscribe = (messageId: number, qos: 0 | 1, rh: 0 | 2): Buffer =>
        mqttPacket.generate({ cmd: 'subscribe', messageId, properties: { subscriptionIdentifier: messageId }, subscriptions: [{ topic: 'rh2/#', qos, rh, nl: false, rap: false }] }, v5);
      sub.send(subscribe(1, 1, 0));
      for (let i = 0; i < 100 && acks.length < 2; i++) await sleep(20);
      await sleep(150); // the queue fills behind the paused reader, the pacer waits
      sub.send(subscribe(2, 0, 2)); // the same filter at QoS 0, no retained messages of its own
      await sleep(100);
      sub.socket.resume();
      // QoS 0 messages do not wait for the queued QoS 1 ones: the order across topics varies.
      for (let i = 0; i < 200 && seen.length < N; i++) await sleep(50);
      await sleep(200);
      assert.equal(new Set(seen.map((m) => m.topic)).size, N, 'the set is complete (not stopped)');
      assert.equal(seen.length, N, 'each message once');
      // MQTT 5 §3.8.4: the new subscription replaces the old one, options included: what was
      // not handed over yet goes at the new maximum QoS with the new subscription identifier.
      assert.deepEqual(seen.find((m) => m.topic === `rh2/${N - 1}`), { topic: `rh2/${N - 1}`, qos: 0, id: 2 });
      const early = seen.filter((m) => m.qos === 1).length;
      assert.ok(early < N / 2, `${early} of ${N} at the old QoS 1 (only what was queued before)`);
      assert.deepEqual(seen.filter((m) => (m.qos === 1 ? m.id !== 1 : m.id !== 2)), [], 'identifier and QoS change together');
    } finally {
      sub.socket.destroy();
      // Deleted: the retained store is shared with the tests that follow.
      pub.send(Buffer.concat(Array.from({ length: N }, (_, i) => publishPacket(`rh2/${i}`, '', { retain: true }))));
      pub.send(mqttPacket.generate({ cmd: 'pingreq' }));
      await pub.read(2, 5000);
      pub.socket.destroy();
    }
  });

  test('a persistent session that loses its connection gets the rest of the set over the next one', async () => {
    const N = 3000;
    const pub = await rawClient(server.mqttPort, 'park-publisher');
    let sub: RawConn | undefined;
    let back: RawConn | undefined;
    try {
      await retainBig(pub, 'park', N, 4096);
      const reader = await pausedReader('park-reader', 'park/#', false);
      reader.sub.socket.destroy(); // what was queued for it is lost with the connection (QoS 0)
      sub = reader.sub;
      await sleep(300); // the server sees the close: the session is offline, its pacer waits
      // Parsed from the first byte: the rest of the set follows the CONNACK at once.
      back = await RawConn.open(server.mqttPort);
      const topics: string[] = [];
      const parser = mqttPacket.parser({ protocolVersion: 4 });
      parser.on('packet', (p) => {
        if (p.cmd === 'publish') topics.push(p.topic);
      });
      back.socket.removeAllListeners('data');
      back.socket.on('data', (d: Buffer) => parser.parse(d));
      back.send(mqttPacket.generate({ cmd: 'connect', protocolVersion: 4, clientId: 'park-reader', clean: false, keepalive: 0 }));
      for (let i = 0; i < 200 && topics.at(-1) !== `park/${N - 1}`; i++) await sleep(50);
      assert.equal(topics.at(-1), `park/${N - 1}`, `${topics.length} after reconnecting`);
      const first = Number(topics[0]?.slice('park/'.length));
      assert.deepEqual(topics, Array.from({ length: N - first }, (_, i) => `park/${first + i}`), 'the rest, in order');
      assert.ok(topics.length > 0 && first > 0, 'the rest of the set, not a new one');
    } finally {
      pub.socket.destroy();
      sub?.socket.destroy();
      back?.socket.destroy();
    }
  });
  test('a retained message sent on SUBSCRIBE counts its latency from then, not from its publish', async () => {
    const pub = await rawClient(server.mqttPort, 'age-publisher');
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${server.mqttPort}`, { protocolVersion: 4, clientId: 'age-reader', reconnectPeriod: 0 });
    try {
      pub.send(publishPacket('age/x', 'old', { retain: true }));
      pub.send(mqttPacket.generate({ cmd: 'pingreq' }));
      await pub.read(2, 5000);
      await sleep(700); // older than server.latency_warn (500 ms in these tests)
      const from = server.output.length;
      const got = new Promise<string>((resolve) => client.once('message', (_t, payload) => { resolve(payload.toString()); }));
      await client.subscribeAsync('age/x', { qos: 0 });
      assert.equal(await got, 'old');
      await sleep(200);
      assert.deepEqual(server.output.slice(from).filter((l) => l.includes('high latency')), []);
    } finally {
      pub.socket.destroy();
      client.end(true);
    }
  });
});

