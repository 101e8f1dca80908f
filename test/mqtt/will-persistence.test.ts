/**
 * The wills of connections open at a crash, end to end: a real psrtd killed with SIGKILL after
 * an autosave and started again on the same `mqtt.persistence_file`, with Debian's
 * mosquitto_sub/pub and MQTT.js (3.1.1 and 5.0). Pass criteria: the retained wills of
 * clean-session connections open at the crash are published at the restart, retained, before
 * any client can connect (a device back at once and saying "online" stays online); a client
 * that disconnected cleanly before the last autosave gets no will; a v5 will with a delay keeps
 * its properties and waits for its delay, counted from when psrtd was last alive, and a client
 * back within it gets none; after a SIGTERM stop the file holds no open connection's will and
 * the next start publishes nothing twice; a file of the previous format still loads.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { decodeState, encodeState } from '../../src/mqtt/state-codec.js';
import { until } from '../helpers/mqtt-client.js';
import { openClient, sleep, url } from '../helpers/mqtt-raw.js';
import { MosquittoSub, mosquittoPub, requireMosquittoClients } from '../helpers/mqtt-tools.js';
import { startPsrtd, type Psrtd } from '../helpers/psrtd.js';

function start(file: string, mqttOpts: Record<string, string | number> = {}): Promise<Psrtd> {
  return startPsrtd({ mqtt: { persistence_file: file, autosave_interval: 3600, ...mqttOpts } });
}

async function pub(server: Psrtd, args: string[]): Promise<void> {
  const r = await mosquittoPub(server.mqttPort, args);
  assert.equal(r.code, 0, r.stdout + r.stderr);
}

/** The client ids whose open connection's will the file holds now, sorted. */
function openWillIds(file: string): string {
  if (!existsSync(file)) return '';
  return decodeState(readFileSync(file)).openWills.map((w) => w.clientId).sort().join();
}

/** A 3.1.1 clean-session MQTT.js device with a retained "offline" will, online now. */
async function device(port: number, id: string, version: 4 | 5 = 4): Promise<MqttClient> {
  const c = await mqtt.connectAsync(url(port), { protocolVersion: version, clientId: id, clean: true, reconnectPeriod: 0, will: { topic: `devices/${id}/status`, payload: Buffer.from('offline'), qos: 1, retain: true } });
  await c.publishAsync(`devices/${id}/status`, 'online', { qos: 1, retain: true });
  return c;
}

/** What a fresh subscriber to `devices/+/status` gets: [topic, payload, retained], sorted. */
async function statuses(port: number, n: number): Promise<string[][]> {
  const sub = await MosquittoSub.start(port, ['-q', '1', '-t', 'devices/+/status']);
  try {
    await sub.waitMessages(n);
    await sleep(300);
    return sub.messages.map((m) => [m.topic, m.payload.toString(), String(m.retain)]).sort();
  } finally {
    await sub.stop();
  }
}

describe('MQTT wills of connections open at a crash', () => {
  let dir = '';
  before(() => {
    requireMosquittoClients();
    dir = mkdtempSync(join(tmpdir(), 'psrtd-wills-'));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  test('SIGKILL: clean sessions\' retained wills go out at the restart, before clients connect; a clean DISCONNECT before the autosave gets none', async () => {
    const file = join(dir, 'crash.bin');
    const a = await start(file, { autosave_interval: 1 });
    let m1: MosquittoSub | null = null;
    let j1: MqttClient | null = null;
    try {
      await pub(a, ['-r', '-q', '1', '-t', 'devices/m1/status', '-m', 'online']);
      m1 = await MosquittoSub.start(a.mqttPort, ['-i', 'm1', '-q', '1', '-t', 'devices/m1/cmd', '--will-topic', 'devices/m1/status', '--will-payload', 'offline', '--will-qos', '1', '--will-retain']);
      j1 = await device(a.mqttPort, 'j1');
      const gone = await device(a.mqttPort, 'gone', 5);
      await until(() => openWillIds(file) === 'gone,j1,m1', 'an autosave with the three open wills', 10_000);
      await gone.endAsync(); // DISCONNECT 0x00: its will is discarded
      await until(() => openWillIds(file) === 'j1,m1', 'the autosave after the clean DISCONNECT', 10_000);
    } finally {
      await a.stop('SIGKILL');
      await m1?.stop();
      j1?.end(true);
    }
    const expected = [
      ['devices/gone/status', 'online', 'true'],
      ['devices/j1/status', 'online', 'true'],
      ['devices/m1/status', 'offline', 'true'],
    ];
    const b = await start(file, { autosave_interval: 1 });
    try {
      assert.ok(b.output.some((l) => l.includes(`mqtt: psrtd did not stop cleanly: 2 will(s) of connections open at the last save of ${file} published or scheduled`)), b.output.join('\n'));
      // j1 is back at once and says so: that comes after its will.
      const back = await device(b.mqttPort, 'j1');
      assert.deepEqual(await statuses(b.mqttPort, 3), expected);
      await back.endAsync();
      // The wills sent at the start leave the file with the next autosave: a second crash
      // does not send them again.
      await until(() => openWillIds(file) === '', 'the autosave after the start', 10_000);
    } finally {
      await b.stop('SIGKILL');
    }
    const c = await start(file);
    try {
      assert.ok(!c.output.some((l) => l.includes('did not stop cleanly')), c.output.join('\n'));
      assert.deepEqual(await statuses(c.mqttPort, 3), expected);
    } finally {
      assert.equal(await c.stop('SIGTERM'), 0);
    }
  });

  test('SIGKILL: a v5 will with a delay keeps its properties and waits for it; a client back within it gets none', async () => {
    const file = join(dir, 'delay.bin');
    const a = await start(file, { autosave_interval: 1 });
    const willProps = { willDelayInterval: 4, contentType: 'text/plain', userProperties: { site: 'plant-1' } };
    const willing = (id: string): Promise<MqttClient> => mqtt.connectAsync(url(a.mqttPort), {
      protocolVersion: 5, clientId: id, clean: false, reconnectPeriod: 0, properties: { sessionExpiryInterval: 3600 },
      will: { topic: `dev/${id}/status`, payload: Buffer.from('offline'), qos: 1, retain: true, properties: willProps },
    });
    const clients = [await willing('v1'), await willing('v2')];
    let killedAt = 0;
    try {
      await until(() => openWillIds(file) === 'v1,v2', 'an autosave with both open wills', 10_000);
    } finally {
      killedAt = Date.now();
      await a.stop('SIGKILL');
      for (const c of clients) c.end(true);
    }
    const b = await start(file);
    try {
      const back = await openClient(b.mqttPort, { protocolVersion: 5, clientId: 'v2', clean: false, properties: { sessionExpiryInterval: 3600 } });
      assert.equal(back.connack.sessionPresent, true);
      const watcher = await openClient(b.mqttPort, { protocolVersion: 5, clientId: 'watcher' });
      await watcher.client.subscribeAsync('dev/+/status', { qos: 1 });
      // psrtd was last alive at most one autosave (1 s) before the kill: not due before 3 s after it.
      if (Date.now() - killedAt < 2500) assert.equal(watcher.inbox.messages.length, 0, 'not before its delay');
      const [got] = await watcher.inbox.waitFor(1, 10_000);
      assert.ok(Date.now() - killedAt >= 2900, `published ${Date.now() - killedAt} ms after the crash`);
      assert.equal(got?.topic, 'dev/v1/status');
      assert.equal(got.payload, 'offline');
      assert.equal(got.packet.properties?.contentType, 'text/plain');
      assert.deepEqual({ ...got.packet.properties.userProperties }, { site: 'plant-1' });
      await sleep(Math.max(0, killedAt + 6000 - Date.now())); // past v2's due time too
      assert.deepEqual(watcher.inbox.messages.map((m) => m.topic), ['dev/v1/status'], 'v2 came back within its delay');
      await Promise.all([back.client.endAsync(), watcher.client.endAsync()]);
    } finally {
      assert.equal(await b.stop('SIGTERM'), 0);
    }
  });

  test('SIGTERM: the stop sends the wills; the file holds none, and the next start sends nothing twice', async () => {
    const file = join(dir, 'sigterm.bin');
    const a = await start(file);
    const watch = { protocolVersion: 5 as const, clientId: 'watch', clean: false, properties: { sessionExpiryInterval: 3600 } };
    let m1: MosquittoSub | null = null;
    let j1: MqttClient | null = null;
    try {
      const w = await openClient(a.mqttPort, watch);
      await w.client.subscribeAsync('devices/+/status', { qos: 1 });
      await w.client.endAsync();
      m1 = await MosquittoSub.start(a.mqttPort, ['-i', 'm1', '-q', '1', '-t', 'devices/m1/cmd', '--will-topic', 'devices/m1/status', '--will-payload', 'offline', '--will-qos', '1', '--will-retain']);
      j1 = await device(a.mqttPort, 'j1'); // its "online" is queued for watch
    } finally {
      assert.equal(await a.stop('SIGTERM'), 0);
      await m1?.stop();
      j1?.end(true);
    }
    const saved = decodeState(readFileSync(file));
    assert.deepEqual(saved.openWills, []);
    assert.equal(saved.version, 2, 'what a psrtd reading only version 2 still reads');
    const b = await start(file);
    try {
      assert.ok(!b.output.some((l) => l.includes('did not stop cleanly')), b.output.join('\n'));
      const w = await openClient(b.mqttPort, watch);
      await w.inbox.waitFor(3, 10_000);
      await sleep(1000);
      assert.deepEqual(w.inbox.messages.map((m) => `${m.topic}=${m.payload}`).sort(), ['devices/j1/status=offline', 'devices/j1/status=online', 'devices/m1/status=offline']);
      await w.client.endAsync();
    } finally {
      assert.equal(await b.stop('SIGTERM'), 0);
    }
  });

  test('a file of the previous format (version 2, written by the psrtd before) still loads', async () => {
    const file = join(dir, 'v2.bin');
    const record = { rawTopic: 'devices/old/status', payload: Buffer.from('offline'), qos: 1 as const, props: null, expiresAtMs: 0 };
    const bytes = encodeState({ retained: [record], savedAtMs: Date.now(), sessions: [] });
    assert.equal(decodeState(bytes).version, 2);
    writeFileSync(file, bytes, { mode: 0o600 });
    const b = await start(file);
    try {
      await b.waitForLog(new RegExp(`mqtt: loaded 1 retained message\\(s\\) from ${file}$`));
      assert.deepEqual(await statuses(b.mqttPort, 1), [['devices/old/status', 'offline', 'true']]);
    } finally {
      assert.equal(await b.stop('SIGTERM'), 0);
    }
  });
});
