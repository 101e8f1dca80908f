/**
 * Interoperability with Debian's mosquitto_pub / mosquitto_sub (MQTT 3.1, 3.1.1 and 5.0): QoS
 * 0/1/2, binary payloads, retained messages, wills, persistent sessions, TLS with a test CA.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { makeTestPki, type TestPki } from '../helpers/certs.js';
import { RawConn } from '../helpers/raw.js';
import { MosquittoSub, mosquittoPub, requireMosquittoClients } from '../helpers/mqtt-tools.js';
import { startPsrtd, type Psrtd } from '../helpers/psrtd.js';

const VERSIONS = [
  { name: 'v3.1', flag: 'mqttv31' },
  { name: 'v3.1.1', flag: 'mqttv311' },
  { name: 'v5', flag: 'mqttv5' },
] as const;

/** A payload with every byte value, 0x00 included. */
const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

describe('mosquitto_pub / mosquitto_sub', () => {
  let server: Psrtd;
  before(async () => {
    requireMosquittoClients();
    server = await startPsrtd({ mqtt: {} });
  });
  after(async () => {
    await server.stop();
  });

  for (const v of VERSIONS) {
    test(`${v.name}: QoS 0/1/2 delivered with min(published, granted) QoS and the right acks`, async () => {
      const topic = `interop/${v.name}/qos`;
      const sub2 = await MosquittoSub.start(server.mqttPort, ['-V', v.flag, '-q', '2', '-t', `${topic}/#`, '-C', '3']);
      const sub1 = await MosquittoSub.start(server.mqttPort, ['-V', v.flag, '-q', '1', '-t', `${topic}/#`, '-C', '3']);
      try {
        assert.deepEqual(sub2.grantedQos, [2]);
        assert.deepEqual(sub1.grantedQos, [1]);
        const acks = ['', 'received PUBACK', 'received PUBCOMP'];
        for (const qos of [0, 1, 2]) {
          const r = await mosquittoPub(server.mqttPort, ['-V', v.flag, '-q', String(qos), '-t', `${topic}/q${qos}`, '-m', `m${qos}`]);
          assert.equal(r.code, 0, r.stdout + r.stderr);
          if (qos > 0) assert.match(r.stdout, new RegExp(acks[qos] ?? ''));
          if (qos === 2) assert.match(r.stdout, /received PUBREC/);
        }
        await Promise.all([sub2.waitMessages(3), sub1.waitMessages(3)]);
        assert.deepEqual(sub2.messages.map((m) => [m.topic, m.qos, m.payload.toString()]), [
          [`${topic}/q0`, 0, 'm0'], [`${topic}/q1`, 1, 'm1'], [`${topic}/q2`, 2, 'm2'],
        ]);
        assert.deepEqual(sub1.messages.map((m) => m.qos), [0, 1, 1]);
        assert.equal(await sub2.exit(), 0);
        assert.equal(await sub1.exit(), 0);
      } finally {
        await Promise.all([sub1.stop(), sub2.stop()]);
      }
    });

    test(`${v.name}: binary payload (every byte value, 0x00 included) and an empty payload arrive exact`, async () => {
      const topic = `interop/${v.name}/bin`;
      const sub = await MosquittoSub.start(server.mqttPort, ['-V', v.flag, '-q', '1', '-t', topic, '-C', '2']);
      try {
        const r = await mosquittoPub(server.mqttPort, ['-V', v.flag, '-q', '1', '-t', topic, '-s'], ALL_BYTES);
        assert.equal(r.code, 0, r.stdout + r.stderr);
        const e = await mosquittoPub(server.mqttPort, ['-V', v.flag, '-q', '1', '-t', topic, '-n']);
        assert.equal(e.code, 0, e.stdout + e.stderr);
        await sub.waitMessages(2);
        assert.deepEqual(sub.messages[0]?.payload, ALL_BYTES);
        assert.equal(sub.messages[1]?.payload.length, 0);
      } finally {
        await sub.stop();
      }
    });

    test(`${v.name}: a retained message goes to later subscribers with the retain flag; an empty one clears it`, async () => {
      const topic = `interop/${v.name}/ret`;
      const r = await mosquittoPub(server.mqttPort, ['-V', v.flag, '-q', '1', '-r', '-t', topic, '-m', 'kept']);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const late = await MosquittoSub.start(server.mqttPort, ['-V', v.flag, '-q', '1', '-t', `interop/${v.name}/#`, '-C', '1']);
      try {
        await late.waitMessages(1);
        assert.deepEqual(late.messages.map((m) => [m.topic, m.retain, m.qos, m.payload.toString()]), [[topic, true, 1, 'kept']]);
      } finally {
        await late.stop();
      }
      const clear = await mosquittoPub(server.mqttPort, ['-V', v.flag, '-q', '1', '-r', '-t', topic, '-n']);
      assert.equal(clear.code, 0);
      // After clearing, the first message a new subscriber gets is a live probe, not the old one.
      const fresh = await MosquittoSub.start(server.mqttPort, ['-V', v.flag, '-q', '1', '-t', topic, '-C', '1']);
      try {
        await mosquittoPub(server.mqttPort, ['-V', v.flag, '-q', '1', '-t', topic, '-m', 'probe']);
        await fresh.waitMessages(1);
        assert.deepEqual(fresh.messages.map((m) => [m.retain, m.payload.toString()]), [[false, 'probe']]);
      } finally {
        await fresh.stop();
      }
    });

    test(`${v.name}: the will is published when the client dies, not after a clean DISCONNECT`, async () => {
      const willTopic = `interop/${v.name}/will`;
      const watcher = await MosquittoSub.start(server.mqttPort, ['-V', v.flag, '-q', '1', '-t', willTopic]);
      try {
        // A clean run with a will (mosquitto_pub ends with DISCONNECT): no will.
        const clean = await mosquittoPub(server.mqttPort, [
          '-V', v.flag, '-t', `interop/${v.name}/other`, '-m', 'x', '--will-topic', willTopic, '--will-payload', 'clean', '--will-qos', '1',
        ]);
        assert.equal(clean.code, 0);
        // A client killed without DISCONNECT: its will goes out.
        const dying = await MosquittoSub.start(server.mqttPort, [
          '-V', v.flag, '-t', `interop/${v.name}/none`, '--will-topic', willTopic, '--will-payload', 'died', '--will-qos', '1',
        ]);
        await dying.stop('SIGKILL');
        await watcher.waitMessages(1);
        await mosquittoPub(server.mqttPort, ['-V', v.flag, '-q', '1', '-t', willTopic, '-m', 'probe']);
        await watcher.waitMessages(2);
        assert.deepEqual(watcher.messages.map((m) => [m.qos, m.payload.toString()]), [[1, 'died'], [1, 'probe']]);
      } finally {
        await watcher.stop();
      }
    });

    test(`${v.name}: a persistent session (-c -i) gets the QoS 1/2 messages published while it was away, not QoS 0`, async () => {
      const topic = `interop/${v.name}/pers`;
      const id = `pers-${v.name}`;
      const session = v.flag === 'mqttv5' ? ['-c', '-i', id, '-x', '60'] : ['-c', '-i', id];
      const first = await MosquittoSub.start(server.mqttPort, ['-V', v.flag, ...session, '-q', '2', '-t', topic]);
      await first.stop('SIGKILL');
      for (const qos of [0, 1, 2]) {
        const r = await mosquittoPub(server.mqttPort, ['-V', v.flag, '-q', String(qos), '-t', topic, '-m', `away${qos}`]);
        assert.equal(r.code, 0);
      }
      // Back again: no SUBSCRIBE needed (mosquitto_sub subscribes anyway; the session already has it).
      const back = await MosquittoSub.start(server.mqttPort, ['-V', v.flag, ...session, '-q', '2', '-t', topic, '-C', '3'], { waitSuback: false });
      try {
        await back.waitFor(() => back.lines.some((l) => /received CONNACK \(0\)|CONNACK \(0\)/.test(l)), 10_000, 'CONNACK');
        await mosquittoPub(server.mqttPort, ['-V', v.flag, '-q', '1', '-t', topic, '-m', 'live']);
        await back.waitMessages(3);
        // libmosquitto hands a QoS 2 message to the application only at PUBREL: order across QoS varies.
        const got = back.messages.map((m) => [m.qos, m.payload.toString()] as const).sort((a, b) => a[1].localeCompare(b[1]));
        assert.deepEqual(got, [[1, 'away1'], [2, 'away2'], [1, 'live']]);
      } finally {
        await back.stop();
      }
      // A clean session with the same id discards the stored one.
      const clean = await MosquittoSub.start(server.mqttPort, ['-V', v.flag, '-i', id, '-q', '1', '-t', `${topic}/x`]);
      await clean.stop();
    });
  }

  test('a 3.1.1 publisher and a 5.0 subscriber (and the reverse) see each other', async () => {
    const sub5 = await MosquittoSub.start(server.mqttPort, ['-V', 'mqttv5', '-q', '1', '-t', 'interop/mix/#', '-C', '1']);
    const sub3 = await MosquittoSub.start(server.mqttPort, ['-V', 'mqttv311', '-q', '1', '-t', 'interop/mix/#', '-C', '1']);
    try {
      await mosquittoPub(server.mqttPort, ['-V', 'mqttv311', '-q', '1', '-t', 'interop/mix/a', '-m', 'from3']);
      await Promise.all([sub5.waitMessages(1), sub3.waitMessages(1)]);
      assert.equal(sub5.messages[0]?.payload.toString(), 'from3');
      assert.equal(sub3.messages[0]?.payload.toString(), 'from3');
    } finally {
      await Promise.all([sub5.stop(), sub3.stop()]);
    }
  });

  test('a 3.1 publisher reaches 3.1.1 and 5.0 subscribers, and a 3.1 subscriber gets theirs', async () => {
    const sub5 = await MosquittoSub.start(server.mqttPort, ['-V', 'mqttv5', '-q', '2', '-t', 'interop/mix31/#', '-C', '2']);
    const sub31 = await MosquittoSub.start(server.mqttPort, ['-V', 'mqttv31', '-q', '2', '-t', 'interop/mix31/#', '-C', '2']);
    try {
      assert.deepEqual(sub31.grantedQos, [2]);
      await mosquittoPub(server.mqttPort, ['-V', 'mqttv31', '-q', '2', '-t', 'interop/mix31/a', '-m', 'from31']);
      await mosquittoPub(server.mqttPort, ['-V', 'mqttv5', '-q', '1', '-t', 'interop/mix31/b', '-m', 'from5']);
      await Promise.all([sub5.waitMessages(2), sub31.waitMessages(2)]);
      const seen = (s: MosquittoSub): string[] => s.messages.map((m) => `${m.qos}:${m.payload.toString()}`).sort();
      assert.deepEqual(seen(sub5), ['1:from5', '2:from31']);
      assert.deepEqual(seen(sub31), ['1:from5', '2:from31']);
    } finally {
      await Promise.all([sub5.stop(), sub31.stop()]);
    }
  });
});

describe('mosquitto clients over TLS', () => {
  let server: Psrtd;
  let pki: TestPki;
  before(async () => {
    requireMosquittoClients();
    pki = makeTestPki();
    server = await startPsrtd({ mqtt: { bind_tls: ['127.0.0.1:0'], tls_cert: pki.serverCert, tls_key: pki.serverKey } });
  });
  after(async () => {
    await server.stop();
    pki.remove();
  });

  for (const v of VERSIONS) {
    test(`${v.name}: publish and subscribe with --cafile; a client trusting another CA is refused`, async () => {
      assert.ok(server.mqttTlsPort > 0);
      const tls = ['--cafile', pki.caCert, '-V', v.flag];
      const sub = await MosquittoSub.start(server.mqttTlsPort, [...tls, '-q', '1', '-t', 'tls/#', '-C', '1']);
      try {
        const r = await mosquittoPub(server.mqttTlsPort, [...tls, '-q', '1', '-t', 'tls/a', '-m', 'secure']);
        assert.equal(r.code, 0, r.stdout + r.stderr);
        await sub.waitMessages(1);
        assert.deepEqual(sub.messages.map((m) => [m.topic, m.payload.toString()]), [['tls/a', 'secure']]);
      } finally {
        await sub.stop();
      }
      const wrong = await mosquittoPub(server.mqttTlsPort, ['--cafile', pki.otherCaCert, '-V', v.flag, '-t', 'tls/a', '-m', 'x']);
      assert.notEqual(wrong.code, 0);
      // Plain MQTT on the TLS port is not served either.
      const plain = await mosquittoPub(server.mqttTlsPort, ['-V', v.flag, '-t', 'tls/a', '-m', 'x']);
      assert.notEqual(plain.code, 0);
    });
  }

  test('garbage and a silent client on the TLS port are closed (silence within proto.timeout); a TLS client meanwhile works', async () => {
    const tls = ['--cafile', pki.caCert];
    const sub = await MosquittoSub.start(server.mqttTlsPort, [...tls, '-q', '1', '-t', 'tls/bad', '-C', '1']);
    const garbage = await RawConn.open(server.mqttTlsPort);
    const silent = await RawConn.open(server.mqttTlsPort);
    try {
      garbage.send(Buffer.from('this is not a TLS ClientHello\r\n\0\0\0'));
      // The TLS stack may answer with an alert before closing.
      await garbage.expectClose(3000, 64);
      const t0 = performance.now();
      await silent.expectClose(6000);
      const waited = performance.now() - t0;
      assert.ok(waited > 1000, `silent TLS client closed after ${waited.toFixed(0)} ms (timeout is 2 s)`);
      const r = await mosquittoPub(server.mqttTlsPort, [...tls, '-q', '1', '-t', 'tls/bad', '-m', 'fine']);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      await sub.waitMessages(1);
      assert.equal(sub.messages[0]?.payload.toString(), 'fine');
    } finally {
      garbage.destroy();
      silent.destroy();
      await sub.stop();
    }
  });
});
