/**
 * Persistent MQTT sessions in `mqtt.persistence_file`, end to end: a real psrtd stopped and
 * started again on the same file, with Debian's mosquitto_sub/pub, MQTT.js and a byte-level
 * client. Pass criteria: offline sessions (3.1.1 clean session 0, v5 Session Expiry) get back
 * every QoS 1/2 message queued for them before the restart, byte-exact with their v5
 * properties, and the ones published after it (their subscriptions came back too), with
 * CONNACK session present; a clean session is not saved; a delivery in flight at the stop is
 * sent again with DUP and its packet id, a released QoS 2 delivery continues with PUBREL, and
 * a QoS 2 publish received but not released is not delivered twice when the client sends it
 * again; SIGKILL keeps what the last autosave held, and a client connected until the crash keeps
 * its session however long it was connected; the expiry keeps counting while psrtd is down; a
 * subscription today's ACL forbids is not restored, nor delivered what it had queued;
 * clean-session traffic alone never rewrites the file.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import mqtt from 'mqtt';
import { decodeState } from '../../src/mqtt/state-codec.js';
import { startPsrtd, type Psrtd } from '../helpers/psrtd.js';
import { ackPacket, openClient, parsePublish, publishPacket, rawSession, rawSubscribe, readPacket, sleep, url } from '../helpers/mqtt-raw.js';
import { MosquittoSub, mosquittoPub, requireMosquittoClients } from '../helpers/mqtt-tools.js';

const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

function start(file: string, mqttOpts: Record<string, string | number> = {}, acl?: string): Promise<Psrtd> {
  return startPsrtd({ mqtt: { persistence_file: file, autosave_interval: 3600, ...mqttOpts }, ...(acl === undefined ? {} : { acl }) });
}

async function pub(server: Psrtd, args: string[]): Promise<void> {
  const r = await mosquittoPub(server.mqttPort, args);
  assert.equal(r.code, 0, r.stdout + r.stderr);
}

/** A persistent mosquitto_sub session that subscribed and went away. */
async function offlineMosquittoSession(server: Psrtd, args: string[]): Promise<void> {
  const sub = await MosquittoSub.start(server.mqttPort, args);
  await sub.stop();
}

describe('MQTT sessions persist across restarts', () => {
  let dir = '';
  let file = '';
  before(() => {
    requireMosquittoClients();
    dir = mkdtempSync(join(tmpdir(), 'psrtd-sessions-'));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  test('queued messages and subscriptions of offline sessions come back after SIGTERM', async () => {
    file = join(dir, 'sigterm.bin');
    const a = await start(file);
    try {
      await offlineMosquittoSession(a, ['-c', '-i', 'm311', '-q', '1', '-t', 'q/311/#']);
      const v5 = await mqtt.connectAsync(url(a.mqttPort), { protocolVersion: 5, clientId: 'js5', clean: false, properties: { sessionExpiryInterval: 3600 }, reconnectPeriod: 0 });
      await v5.subscribeAsync('q/5/#', { qos: 2 });
      await v5.endAsync();
      // A clean session connected at the stop is not saved.
      const clean = await mqtt.connectAsync(url(a.mqttPort), { protocolVersion: 4, clientId: 'clean', clean: true, reconnectPeriod: 0 });
      await clean.subscribeAsync('q/#', { qos: 1 });
      const writer = await mqtt.connectAsync(url(a.mqttPort), { protocolVersion: 5, clientId: 'writer', reconnectPeriod: 0 });
      await writer.publishAsync('q/311/a', 'one', { qos: 1 });
      await writer.publishAsync('q/311/b', ALL_BYTES, { qos: 2 });
      const props = { contentType: 'text/plain', responseTopic: 'r/1', correlationData: Buffer.from([0, 255]), userProperties: { site: ['a', 'b'], unit: 'degC' }, messageExpiryInterval: 3600 };
      await writer.publishAsync('q/5/x', ALL_BYTES, { qos: 2, properties: props });
      await writer.publishAsync('q/5/y', 'y', { qos: 1 });
      await writer.endAsync();
      await clean.endAsync();
    } finally {
      assert.equal(await a.stop('SIGTERM'), 0);
    }
    assert.ok(a.output.some((l) => l.includes(`and 2 persistent session(s) saved in ${file}`)), a.output.join('\n'));
    const b = await start(file);
    try {
      await b.waitForLog(new RegExp(`mqtt: loaded 2 persistent session\\(s\\) from ${file}$`));
      // Delivered to the restored subscriptions while their clients are away.
      await pub(b, ['-q', '1', '-t', 'q/311/after', '-m', 'after']);
      await pub(b, ['-V', '5', '-q', '2', '-t', 'q/5/after', '-m', 'after']);
      const m311 = await MosquittoSub.start(b.mqttPort, ['-c', '-i', 'm311', '-q', '1', '-t', 'q/311/#'], { waitSuback: false });
      try {
        await m311.waitMessages(3);
        assert.deepEqual(m311.messages.map((m) => [m.topic, m.qos, m.payload.toString('hex')]), [
          ['q/311/a', 1, Buffer.from('one').toString('hex')],
          ['q/311/b', 1, ALL_BYTES.toString('hex')],
          ['q/311/after', 1, Buffer.from('after').toString('hex')],
        ]);
      } finally {
        await m311.stop();
      }
      const { client, inbox, connack } = await openClient(b.mqttPort, { protocolVersion: 5, clientId: 'js5', clean: false, properties: { sessionExpiryInterval: 3600 } });
      try {
        assert.equal(connack.sessionPresent, true);
        // Sorted: MQTT.js hands a QoS 2 message on at PUBREL, so QoS 1 ones overtake it.
        const got = [...(await inbox.waitFor(3, 10_000))].sort((x, y) => x.topic.localeCompare(y.topic));
        assert.deepEqual(got.map((m) => [m.topic, m.packet.qos, m.packet.payload.toString('hex')]), [
          ['q/5/after', 2, Buffer.from('after').toString('hex')],
          ['q/5/x', 2, ALL_BYTES.toString('hex')],
          ['q/5/y', 1, Buffer.from('y').toString('hex')],
        ]);
        const { messageExpiryInterval, ...rest } = got[1]?.packet.properties ?? {};
        assert.deepEqual({ ...rest, userProperties: { ...rest.userProperties } }, { contentType: 'text/plain', responseTopic: 'r/1', correlationData: Buffer.from([0, 255]), userProperties: { site: ['a', 'b'], unit: 'degC' } });
        assert.ok(typeof messageExpiryInterval === 'number' && messageExpiryInterval > 3500 && messageExpiryInterval <= 3600, `expiry ${String(messageExpiryInterval)}`);
      } finally {
        await client.endAsync();
      }
      const again = await openClient(b.mqttPort, { protocolVersion: 4, clientId: 'clean', clean: false });
      assert.equal(again.connack.sessionPresent, false, 'the clean session was not saved');
      await again.client.endAsync();
    } finally {
      await b.stop('SIGTERM');
    }
  });

  test('in-flight deliveries resume with DUP and PUBREL; an unreleased QoS 2 publish is not delivered twice', async () => {
    file = join(dir, 'inflight.bin');
    const a = await start(file);
    try {
      const raw = await rawSession(a.mqttPort, { clientId: 'raw1', clean: false });
      await rawSubscribe(raw, 'r/#', 2);
      await pub(a, ['-q', '1', '-t', 'r/1', '-m', 'first']);
      await pub(a, ['-q', '2', '-t', 'r/2', '-m', 'second']);
      const p1 = parsePublish(await readPacket(raw), 4);
      const p2 = parsePublish(await readPacket(raw), 4);
      assert.deepEqual([p1.topic, p1.qos, p2.topic, p2.qos], ['r/1', 1, 'r/2', 2]);
      raw.send(ackPacket(5, p2.id)); // PUBREC: released, PUBCOMP outstanding
      const rel = await readPacket(raw);
      assert.deepEqual([rel.type, rel.body.readUInt16BE(0)], [6, p2.id]);
      // An inbound QoS 2 publish answered with PUBREC, never released.
      raw.send(publishPacket('in/x', 'once', { qos: 2, id: 9 }));
      const rec = await readPacket(raw);
      assert.deepEqual([rec.type, rec.body.readUInt16BE(0)], [5, 9]);
      raw.destroy();
      await sleep(100);
      assert.equal(await a.stop('SIGTERM'), 0);
      const b = await start(file);
      try {
        const watcher = await openClient(b.mqttPort, { protocolVersion: 5, clientId: 'watcher' });
        await watcher.client.subscribeAsync('in/#', { qos: 2 });
        const back = await rawSession(b.mqttPort, { clientId: 'raw1', clean: false });
        const r1 = parsePublish(await readPacket(back), 4);
        assert.deepEqual([r1.topic, r1.qos, r1.dup, r1.id, r1.payload.toString()], ['r/1', 1, true, p1.id, 'first']);
        const r2 = await readPacket(back);
        assert.deepEqual([r2.type, r2.body.readUInt16BE(0)], [6, p2.id], 'PUBREL again, not the PUBLISH');
        back.send(ackPacket(4, p1.id));
        back.send(ackPacket(7, p2.id));
        back.send(publishPacket('in/x', 'once', { qos: 2, id: 9, dup: true }));
        const rec2 = await readPacket(back);
        assert.deepEqual([rec2.type, rec2.body.readUInt16BE(0)], [5, 9]);
        back.send(ackPacket(6, 9));
        const comp = await readPacket(back);
        assert.deepEqual([comp.type, comp.body.readUInt16BE(0)], [7, 9]);
        // A new publish goes through, and it is the first the watcher sees.
        back.send(publishPacket('in/y', 'probe', { qos: 1, id: 10 }));
        assert.equal((await readPacket(back)).type, 4);
        const seen = await watcher.inbox.waitFor(1);
        await sleep(200);
        assert.deepEqual(seen.map((m) => m.topic), ['in/y'], 'the resent QoS 2 publish was not delivered again');
        back.destroy();
        await watcher.client.endAsync();
      } finally {
        await b.stop('SIGTERM');
      }
    } finally {
      if (a.proc.exitCode === null) await a.stop('SIGKILL');
    }
  });

  test('SIGKILL keeps what the last autosave held; clean-session traffic alone does not rewrite the file', async () => {
    file = join(dir, 'sigkill.bin');
    const a = await start(file, { autosave_interval: 1 });
    try {
      await offlineMosquittoSession(a, ['-c', '-i', 'k311', '-q', '1', '-t', 'k/#']);
      // An autosave of the session alone first: the messages queued next are a change of their own.
      await sleep(1500);
      await pub(a, ['-q', '1', '-t', 'k/1', '-m', 'one']);
      await pub(a, ['-q', '2', '-t', 'k/2', '-m', 'two']);
      // Two autosaves later the file holds the session and its queue.
      await sleep(2500);
      const saved = statSync(file).mtimeMs;
      const clean = await mqtt.connectAsync(url(a.mqttPort), { protocolVersion: 4, clientId: 'busy', clean: true, reconnectPeriod: 0 });
      await clean.subscribeAsync('other/#', { qos: 1 });
      for (let i = 0; i < 20; i++) await clean.publishAsync('other/t', String(i), { qos: 1 });
      await clean.endAsync();
      await sleep(2500);
      assert.equal(statSync(file).mtimeMs, saved, 'clean sessions are not saved, so their traffic is no change');
    } finally {
      await a.stop('SIGKILL');
    }
    const b = await start(file);
    try {
      await b.waitForLog(/mqtt: loaded 1 persistent session\(s\)/);
      const sub = await MosquittoSub.start(b.mqttPort, ['-c', '-i', 'k311', '-q', '1', '-t', 'k/#'], { waitSuback: false });
      try {
        await sub.waitMessages(2);
        assert.deepEqual(sub.messages.map((m) => [m.topic, m.payload.toString()]), [['k/1', 'one'], ['k/2', 'two']]);
      } finally {
        await sub.stop();
      }
    } finally {
      await b.stop('SIGTERM');
    }
  });

  test('SIGKILL: a client connected for longer than its expiry interval, nothing else changing, keeps its session', async () => {
    file = join(dir, 'idle.bin');
    const a = await start(file, { autosave_interval: 1 });
    let idle: mqtt.MqttClient | null = null;
    try {
      idle = await mqtt.connectAsync(url(a.mqttPort), { protocolVersion: 5, clientId: 'idle', clean: false, properties: { sessionExpiryInterval: 8 }, reconnectPeriod: 0 });
      await idle.subscribeAsync('idle/#', { qos: 1 });
      await sleep(1500);
      const saved = statSync(file);
      // Connected and silent past its 8 s interval: its lifetime after a crash counts from when
      // psrtd was last alive, the file's time, kept current without rewriting the file.
      await sleep(10_500);
      const touched = statSync(file);
      assert.equal(touched.ino, saved.ino, 'not rewritten (a save renames a new file in)');
      assert.ok(touched.mtimeMs > saved.mtimeMs + 8000, `file time kept current: ${touched.mtimeMs - saved.mtimeMs} ms`);
    } finally {
      await a.stop('SIGKILL');
      idle?.end(true);
    }
    const b = await start(file);
    try {
      await b.waitForLog(new RegExp(`mqtt: loaded 1 persistent session\\(s\\) from ${file}$`));
      const back = await openClient(b.mqttPort, { protocolVersion: 5, clientId: 'idle', clean: false, properties: { sessionExpiryInterval: 8 } });
      assert.equal(back.connack.sessionPresent, true);
      await back.client.endAsync();
    } finally {
      await b.stop('SIGTERM');
    }
  });

  test('a delayed will waiting at the stop goes out when due after the restart, unless its client is back', async () => {
    const file = join(dir, 'wills.bin');
    const a = await start(file);
    const willing = (id: string, expiry: number, delay: number): Promise<mqtt.MqttClient> => mqtt.connectAsync(url(a.mqttPort), {
      protocolVersion: 5, clientId: id, clean: false, reconnectPeriod: 0, properties: { sessionExpiryInterval: expiry },
      will: { topic: `dev/${id}/status`, payload: Buffer.from('offline'), qos: 1, retain: true, properties: { willDelayInterval: delay } },
    });
    const clients = [await willing('w1', 3600, 8), await willing('w2', 3600, 8), await willing('w3', 2, 60)];
    // The stop closes their connections: each will now waits for min(delay, session expiry).
    assert.equal(await a.stop('SIGTERM'), 0);
    for (const c of clients) c.end(true);
    const stoppedAt = Date.now();
    await sleep(2200); // w3's session (2 s) ends while psrtd is down: its will is due
    const b = await start(file);
    try {
      await b.waitForLog(new RegExp(`mqtt: loaded 2 persistent session\\(s\\) from ${file} \\(1 expired while psrtd was down; 3 delayed will\\(s\\) scheduled again\\)`));
      const back = await openClient(b.mqttPort, { protocolVersion: 5, clientId: 'w2', clean: false, properties: { sessionExpiryInterval: 3600 } });
      assert.ok(Date.now() - stoppedAt < 8000, 'w2 is back within its will delay');
      const watcher = await openClient(b.mqttPort, { protocolVersion: 5, clientId: 'watcher' });
      await watcher.client.subscribeAsync('dev/+/status', { qos: 1 });
      const got = await watcher.inbox.waitFor(2, 15_000);
      await sleep(Math.max(0, stoppedAt + 9000 - Date.now())); // past w2's due time too
      assert.deepEqual(watcher.inbox.messages.map((m) => [m.topic, m.payload]).sort(), [['dev/w1/status', 'offline'], ['dev/w3/status', 'offline']]);
      assert.ok(got.every((m) => m.packet.qos === 1));
      await Promise.all([back.client.endAsync(), watcher.client.endAsync()]);
    } finally {
      assert.equal(await b.stop('SIGTERM'), 0);
    }
  });

  test('an anonymous session is not loaded once anonymous logins are off (nobody could resume it)', async () => {
    const file = join(dir, 'anonymous.bin');
    const a = await start(file);
    try {
      await offlineMosquittoSession(a, ['-c', '-i', 'anon', '-q', '1', '-t', 'anon/#']);
    } finally {
      assert.equal(await a.stop('SIGTERM'), 0);
    }
    const b = await startPsrtd({ auth: { allow_anonymous: false }, mqtt: { persistence_file: file, autosave_interval: 3600 } });
    try {
      await b.waitForLog(new RegExp(`mqtt: loaded 0 persistent session\\(s\\) from ${file} \\(1 dropped: their user can no longer log in \\(no ACL entry, or anonymous logins are off\\)\\)`));
    } finally {
      assert.equal(await b.stop('SIGTERM'), 0);
    }
    // What the load left out leaves the file (it is not reported again at every start).
    assert.deepEqual(decodeState(readFileSync(file)).sessions, []);
  });

  test('the expiry keeps counting while psrtd is down; a subscription the new ACL forbids is dropped', async () => {
    file = join(dir, 'expiry.bin');
    const a = await start(file);
    try {
      const short = await mqtt.connectAsync(url(a.mqttPort), { protocolVersion: 5, clientId: 'short', clean: false, properties: { sessionExpiryInterval: 2 }, reconnectPeriod: 0 });
      await short.subscribeAsync('ok/#', { qos: 1 });
      await short.endAsync();
      const long = await mqtt.connectAsync(url(a.mqttPort), { protocolVersion: 5, clientId: 'long', clean: false, properties: { sessionExpiryInterval: 3600 }, reconnectPeriod: 0 });
      await long.subscribeAsync(['ok/#', 'secret/#'], { qos: 1 });
      await long.endAsync();
      // Queued before the ACL changes: not delivered after it either.
      await pub(a, ['-q', '1', '-t', 'secret/old', '-m', 'hidden']);
    } finally {
      assert.equal(await a.stop('SIGTERM'), 0);
    }
    await sleep(2200);
    const acl = '_:\n  sub: ["ok/#"]\n  pub: ["#"]\n';
    const b = await start(file, {}, acl);
    try {
      await b.waitForLog(new RegExp(`mqtt: loaded 1 persistent session\\(s\\) from ${file} \\(1 expired while psrtd was down\\)`));
      await b.waitForLog(/mqtt: 1 subscription\(s\) of loaded sessions removed: the ACL no longer allows them \(with 1 queued message\(s\) on topics their users may no longer read\)/);
      await pub(b, ['-q', '1', '-t', 'secret/x', '-m', 'hidden']);
      await pub(b, ['-q', '1', '-t', 'ok/x', '-m', 'shown']);
      const gone = await openClient(b.mqttPort, { protocolVersion: 5, clientId: 'short', clean: false, properties: { sessionExpiryInterval: 2 } });
      assert.equal(gone.connack.sessionPresent, false, 'expired while psrtd was down');
      await gone.client.endAsync();
      const back = await openClient(b.mqttPort, { protocolVersion: 5, clientId: 'long', clean: false, properties: { sessionExpiryInterval: 3600 } });
      assert.equal(back.connack.sessionPresent, true);
      const got = await back.inbox.waitFor(1);
      await sleep(200);
      assert.deepEqual(got.map((m) => [m.topic, m.payload]), [['ok/x', 'shown']]);
      await back.client.endAsync();
    } finally {
      await b.stop('SIGTERM');
    }
  });
});
