/**
 * Cross-protocol semantics on one psrtd: PSRT (TCP and UDP) publishes reach MQTT subscribers and
 * MQTT publishes reach PSRT subscribers with payload bytes untouched (0x00 bytes, 1 MB); topic
 * normalisation (PSRT sees `a/b`, MQTT sees `/a//b` byte-exact); entry QoS (acked PSRT = 1,
 * UDP without ack = 0); priority 0x7f and no retained messages for PSRT subscribers; a PSRT
 * topic too long for MQTT, or empty (a publish to `/`), reaches PSRT subscribers only; stats.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import type { MqttClient } from 'mqtt';
import { mqttConnect, until, type Version } from '../helpers/mqtt-client.js';
import { MosquittoSub, mosquittoPub, requireMosquittoClients } from '../helpers/mqtt-tools.js';
import { PsrtPublisher, PsrtSubscriber } from '../helpers/psrt-peers.js';
import { startPsrtd, type Psrtd } from '../helpers/psrtd.js';
import { UDP_ACL, plain, udpPasswd } from '../helpers/udp-fixture.js';
import { ACK_OK, UdpPeer } from '../helpers/udp-peer.js';
import { PASSWORD } from '../helpers/users.js';

interface Got {
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos: number;
  readonly retain: boolean;
}

function inbox(c: MqttClient): Got[] {
  const got: Got[] = [];
  c.on('message', (topic, payload, packet) => {
    got.push({ topic, payload: Buffer.from(payload), qos: packet.qos, retain: packet.retain });
  });
  return got;
}

/** Binary payload: 0x00 bytes at both ends and inside, every byte value, random tail. */
function binary(size: number): Buffer {
  const b = randomBytes(size);
  b[0] = 0;
  b[size - 1] = 0;
  for (let i = 0; i < Math.min(256, size - 2); i++) b[i + 1] = i;
  return b;
}

const MB = 1024 * 1024;

describe('MQTT and PSRT on one server', () => {
  let server: Psrtd;
  const clients: MqttClient[] = [];
  const psrtSubs: PsrtSubscriber[] = [];
  let pub: PsrtPublisher;

  async function mqttSub(version: Version, filter: string, qos: 0 | 1 | 2): Promise<Got[]> {
    const c = await mqttConnect(server.mqttPort, version);
    clients.push(c);
    const got = inbox(c);
    await c.subscribeAsync(filter, { qos });
    return got;
  }

  async function psrtSub(masks: string[]): Promise<PsrtSubscriber> {
    const s = await PsrtSubscriber.open(server.port, masks);
    psrtSubs.push(s);
    return s;
  }

  before(async () => {
    requireMosquittoClients();
    server = await startPsrtd({
      mqtt: {},
      udp: true,
      passwd: udpPasswd(),
      acl: UDP_ACL,
      server: { max_pub_size: 2 * MB, bind_stats: '127.0.0.1:0' },
    });
    pub = await PsrtPublisher.open(server.port);
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.endAsync()));
    for (const s of psrtSubs) s.close();
    pub.close();
    await server.stop();
  });

  for (const version of [4, 5] as const) {
    test(`v${version}: acknowledged PSRT publishes reach MQTT subscribers as QoS 1 (granted 2), bytes exact up to 1 MB`, async () => {
      const q2 = await mqttSub(version, `x/psrt${version}/#`, 2);
      const q0 = await mqttSub(version, `x/psrt${version}/#`, 0);
      const payloads = [binary(300), Buffer.alloc(0), Buffer.from([0, 0, 0]), binary(MB)];
      for (const [i, p] of payloads.entries()) assert.equal(await pub.publish(`x/psrt${version}/${i}`, p, 0x10), 1);
      await until(() => q2.length === payloads.length && q0.length === payloads.length, 'PSRT messages over MQTT', 20_000);
      for (const [i, p] of payloads.entries()) {
        assert.equal(q2[i]?.topic, `x/psrt${version}/${i}`);
        assert.ok(q2[i].payload.equals(p), `payload ${i} intact (QoS 1 subscriber)`);
        assert.ok(q0[i]?.payload.equals(p), `payload ${i} intact (QoS 0 subscriber)`);
      }
      assert.deepEqual(q2.map((m) => m.qos), [1, 1, 1, 1]);
      assert.deepEqual(q0.map((m) => m.qos), [0, 0, 0, 0]);
      assert.ok(q2.every((m) => !m.retain));
    });

    test(`v${version}: MQTT publishes (QoS 0/1/2) reach PSRT subscribers with priority 0x7f, bytes exact up to 1 MB`, async () => {
      const psrt = await psrtSub([`x/mqtt${version}/#`]);
      const c = await mqttConnect(server.mqttPort, version);
      clients.push(c);
      const payloads = [binary(1000), Buffer.alloc(0), binary(MB)];
      for (const qos of [0, 1, 2] as const) {
        for (const [i, p] of payloads.entries()) await c.publishAsync(`x/mqtt${version}/q${qos}/${i}`, p, { qos });
      }
      await psrt.waitFor(9, 20_000);
      let k = 0;
      for (const qos of [0, 1, 2]) {
        for (const [i, p] of payloads.entries()) {
          const m = psrt.messages[k++];
          assert.equal(m?.topic, `x/mqtt${version}/q${qos}/${i}`);
          assert.equal(m.priority, 0x7f);
          assert.ok(m.payload.equals(p), `payload q${qos}/${i} intact`);
        }
      }
    });
  }

  test('a PSRT topic longer than an MQTT topic can be (65,535 bytes) reaches PSRT subscribers only', async () => {
    const psrt = await psrtSub(['x/long/#']);
    const q0 = await mqttSub(4, 'x/long/#', 0);
    const q1 = await mqttSub(5, 'x/long/#', 1);
    const long = `x/long/${'x'.repeat(70_000)}`;
    assert.equal(await pub.publish(long, 'too long for MQTT'), 1);
    assert.equal(await pub.publish('x/long/ok', 'fits'), 1);
    await until(() => q0.length === 1 && q1.length === 1, 'the short topic over MQTT');
    assert.deepEqual([q0[0]?.topic, q1[0]?.topic], ['x/long/ok', 'x/long/ok']);
    await psrt.waitFor(2);
    assert.deepEqual(psrt.messages.map((m) => m.topic), [long, 'x/long/ok']);
  });

  test('a PSRT publish to / (the empty topic) reaches PSRT subscribers only: an MQTT topic is never empty', async () => {
    // mosquitto_sub took the empty PUBLISH topic for a protocol error and dropped the connection.
    const psrt = await PsrtSubscriber.open(server.port, ['+']);
    const subs = [await MosquittoSub.start(server.mqttPort, ['-V', 'mqttv311', '-q', '1', '-t', '+', '-C', '1']), await MosquittoSub.start(server.mqttPort, ['-V', 'mqttv5', '-q', '1', '-t', '#', '-C', '1'])];
    try {
      assert.equal(await pub.publish('/', 'empty'), 1);
      assert.equal(await pub.publish('x-empty-probe', 'probe'), 1);
      await psrt.waitFor(2);
      assert.deepEqual(psrt.messages.map((m) => m.topic), ['', 'x-empty-probe']);
      for (const sub of subs) {
        assert.equal(await sub.exit(), 0, sub.lines.join('\n'));
        assert.deepEqual(sub.messages.map((m) => m.topic), ['x-empty-probe']);
      }
    } finally {
      psrt.close();
      for (const sub of subs) await sub.stop();
    }
  });

  test('a PSRT publish reaches mosquitto_sub byte-exact (binary with 0x00)', async () => {
    const sub = await MosquittoSub.start(server.mqttPort, ['-V', 'mqttv5', '-q', '2', '-t', 'x/mosq/#', '-C', '1']);
    try {
      const p = binary(4096);
      assert.equal(await pub.publish('x/mosq/a', p), 1);
      await sub.waitMessages(1);
      assert.equal(sub.messages[0]?.qos, 1);
      assert.ok(sub.messages[0].payload.equals(p));
    } finally {
      await sub.stop();
    }
  });

  test('an MQTT topic with a leading / and empty levels: PSRT sees it normalised, MQTT byte-exact', async () => {
    const psrt = await psrtSub(['n/#']);
    const exact = await mqttSub(5, '/n//a/+', 1);
    const plainFilter = await mqttSub(4, 'n/#', 1);
    const c = await mqttConnect(server.mqttPort, 5);
    clients.push(c);
    await c.publishAsync('/n//a/b', 'odd', { qos: 1 });
    await c.publishAsync('n/probe', 'probe', { qos: 1 });
    await psrt.waitFor(2);
    assert.deepEqual(psrt.messages.map((m) => [m.topic, m.payload.toString()]), [['n/a/b', 'odd'], ['n/probe', 'probe']]);
    await until(() => exact.length === 1 && plainFilter.length === 1, 'MQTT deliveries');
    assert.deepEqual(exact.map((m) => m.topic), ['/n//a/b']);
    // `n/#` does not match `/n//a/b` in MQTT: the MQTT side is not normalised.
    assert.deepEqual(plainFilter.map((m) => m.topic), ['n/probe']);
    // A PSRT publish to `/n//p` is normalised by PSRT before anyone sees it.
    const fromPsrt = await mqttSub(5, 'n/p', 1);
    assert.equal(await pub.publish('/n//p', 'from psrt'), 1);
    await until(() => fromPsrt.length === 1, 'normalised PSRT publish');
    assert.equal(fromPsrt[0]?.topic, 'n/p');
  });

  test('retained MQTT messages: live PSRT subscribers get them once as normal messages, later ones never; MQTT subscribers do', async () => {
    const live = await psrtSub(['r/#']);
    const c = await mqttConnect(server.mqttPort, 5);
    clients.push(c);
    await c.publishAsync('r/kept', 'retained', { qos: 1, retain: true });
    await live.waitFor(1);
    assert.deepEqual(live.messages.map((m) => [m.topic, m.priority, m.payload.toString()]), [['r/kept', 0x7f, 'retained']]);
    const late = await psrtSub(['r/#']);
    const lateMqtt = await mqttSub(4, 'r/#', 1);
    await until(() => lateMqtt.length === 1, 'retained for MQTT');
    assert.deepEqual(lateMqtt.map((m) => [m.topic, m.retain, m.payload.toString()]), [['r/kept', true, 'retained']]);
    assert.equal(await pub.publish('r/probe', 'probe'), 1);
    await late.waitFor(1);
    assert.deepEqual(late.messages.map((m) => m.topic), ['r/probe'], 'the late PSRT subscriber gets no retained message');
    // A PSRT publish is never retained: a new MQTT subscriber gets only the MQTT-retained one.
    const later = await mqttSub(5, 'r/#', 1);
    await until(() => later.length === 1, 'retained for the second MQTT subscriber');
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(later.map((m) => m.topic), ['r/kept']);
    await c.publishAsync('r/kept', '', { qos: 1, retain: true }); // clear for other tests
  });

  test('PSRT UDP: acknowledged publishes enter as QoS 1, unacknowledged as QoS 0; bytes exact', async () => {
    const q2 = await mqttSub(5, 'u/#', 2);
    const udp = await UdpPeer.open(server.udpPort);
    try {
      const p1 = binary(500);
      const p0 = binary(700);
      assert.deepEqual(await udp.request(plain('user1', PASSWORD, 'u/acked', p1, true)), ACK_OK);
      await udp.send(plain('user1', PASSWORD, 'u/noack', p0, false));
      await until(() => q2.length === 2, 'UDP messages over MQTT');
      assert.deepEqual(q2.map((m) => [m.topic, m.qos]), [['u/acked', 1], ['u/noack', 0]]);
      assert.ok(q2[0]?.payload.equals(p1));
      assert.ok(q2[1]?.payload.equals(p0));
    } finally {
      udp.socket.close();
    }
  });

  test('/status and /metrics count MQTT publishes, deliveries, subscriptions and refused logins', async () => {
    const before = await metrics(server);
    const c = await mqttConnect(server.mqttPort, 4);
    clients.push(c);
    await c.subscribeAsync('s/#', { qos: 1 });
    const got = inbox(c);
    await c.publishAsync('s/a', 'abcd', { qos: 1 });
    await until(() => got.length === 1, 'own message');
    const refused = await mosquittoPub(server.mqttPort, ['-u', 'user1', '-P', 'wrong', '-t', 's/x', '-m', 'x']);
    assert.notEqual(refused.code, 0);
    const afterM = await metrics(server);
    const delta = (k: string): number => (afterM.get(k) ?? NaN) - (before.get(k) ?? NaN);
    assert.equal(delta('psrt_pub_messages_total'), 1);
    assert.equal(delta('psrt_pub_bytes_total'), 4);
    assert.equal(delta('psrt_sent_messages_total'), 1);
    // The delivered PUBLISH only (30 0B, topic s/a, id, abcd: 13 bytes), not the CONNACK, SUBACK
    // and PUBACK written to the same client (they made it 26).
    assert.equal(delta('psrt_sent_bytes_total'), 13);
    assert.equal(delta('psrt_sub_ops_total'), 1);
    assert.equal(delta('psrt_rejected_logins_total'), 1);
    const status = JSON.parse(await get(server, '/status')) as { counters: Record<string, number> };
    assert.equal(status.counters.c_pub_messages, afterM.get('psrt_pub_messages_total'));
  });
});

function get(server: Psrtd, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: server.statsPort ?? 0, path, auth: `admin:${PASSWORD}` }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (s: string) => (body += s));
      res.on('end', () => {
        if (res.statusCode === 200) resolve(body);
        else reject(new Error(`${path}: HTTP ${res.statusCode}: ${body}`));
      });
    });
    req.on('error', reject);
    req.end();
  });
}

async function metrics(server: Psrtd): Promise<Map<string, number>> {
  const text = await get(server, '/metrics');
  const m = new Map<string, number>();
  for (const line of text.split('\n')) {
    const hit = /^([a-z_]+) ([0-9.e+-]+)$/.exec(line);
    if (hit !== null) m.set(hit[1] ?? '', Number(hit[2]));
  }
  return m;
}
