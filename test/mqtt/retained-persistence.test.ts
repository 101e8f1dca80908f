/**
 * `mqtt.persistence_file` end to end: a real psrtd stopped and started again on the same file.
 * Pass criteria: every retained message published by mosquitto_pub (3.1.1 and 5.0) and MQTT.js
 * comes back byte-exact with its QoS and v5 properties, the expiry still counting; a deleted one
 * stays deleted and an expired one is gone; the autosave writes the file without a shutdown
 * (SIGKILL loses nothing saved); retained limits apply to what is loaded; a corrupted file is
 * moved to `.bad` and logged while psrtd serves; a failing save keeps the previous file and is
 * retried; a save that hangs at shutdown is given up after 5 s and psrtd still ends; a file
 * deleted while running is written again at shutdown; saves never go through the `<file>.tmp`
 * another psrtd on the same file would write too; a directory that cannot take the file is a
 * start error.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import mqtt, { type IClientPublishOptions, type MqttClient } from 'mqtt';
import { decodeRetained, encodeRetained } from '../../src/mqtt/state-codec.js';
import { runPsrtdToExit, startPsrtd, writeConfig, type Psrtd } from '../helpers/psrtd.js';
import { MosquittoSub, mosquittoPub, requireMosquittoClients } from '../helpers/mqtt-tools.js';
import { until } from '../helpers/mqtt-client.js';

const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

interface Got {
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos: number;
  readonly retain: boolean;
  readonly properties: Record<string, unknown>;
}

function start(file: string, mqttOpts: Record<string, string | number> = {}): Promise<Psrtd> {
  return startPsrtd({ mqtt: { persistence_file: file, autosave_interval: 3600, ...mqttOpts } });
}

async function connect(server: Psrtd, version: 4 | 5, clientId: string): Promise<MqttClient> {
  return mqtt.connectAsync(`mqtt://127.0.0.1:${server.mqttPort}`, { protocolVersion: version, clientId, reconnectPeriod: 0, connectTimeout: 5000 });
}

/** Subscribes `filter` at QoS 2 and collects until `n` messages and then a live probe arrived. */
async function retainedOf(server: Psrtd, filter: string, n: number, version: 4 | 5 = 5): Promise<Got[]> {
  const c = await connect(server, version, `reader-${String(version)}`);
  const got: Got[] = [];
  try {
    c.on('message', (topic, payload, packet) => {
      const properties: Record<string, unknown> = { ...(packet.properties ?? {}) };
      // MQTT.js gives user properties as a null-prototype object.
      if (packet.properties?.userProperties !== undefined) properties.userProperties = { ...packet.properties.userProperties };
      got.push({ topic, payload: Buffer.from(payload), qos: packet.qos, retain: packet.retain, properties });
    });
    await c.subscribeAsync(filter, { qos: 2 });
    await until(() => got.length >= n, `${n} retained messages (have ${got.length})`, 10_000);
    // Nothing else is retained: a live probe comes next.
    const probe = `${filter.replace('#', '')}probe`;
    await c.publishAsync(probe, 'probe', { qos: 1 });
    await until(() => got.some((g) => g.topic === probe), 'the probe', 10_000);
    return got.filter((g) => g.topic !== probe).sort((a, b) => a.topic.localeCompare(b.topic));
  } finally {
    await c.endAsync();
  }
}

async function pub(server: Psrtd, args: string[]): Promise<void> {
  const r = await mosquittoPub(server.mqttPort, args);
  assert.equal(r.code, 0, r.stdout + r.stderr);
}

describe('MQTT retained messages persist across restarts', () => {
  let dir: string;
  before(() => {
    requireMosquittoClients();
    dir = mkdtempSync(join(tmpdir(), 'psrtd-persist-'));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  test('SIGTERM saves, a restart loads: bytes, QoS and properties exact; deleted and expired stay gone', async () => {
    const file = join(dir, 'restart.bin');
    writeFileSync(join(dir, 'all-bytes'), ALL_BYTES);
    const a = await start(file);
    let expiringAt: number;
    try {
      const v5 = ['-V', '5', '-r', '-q', '1', '-t', 'p/v5', '-m', 'sensor 21.5'];
      const v5Props = ['-D', 'publish', 'message-expiry-interval', '3600', '-D', 'publish', 'content-type', 'x', '-D', 'publish', 'payload-format-indicator', '1',
        '-D', 'publish', 'response-topic', 'r/t', '-D', 'publish', 'correlation-data', 'abc', '-D', 'publish', 'user-property', 'k', 'v'];
      await pub(a, [...v5, ...v5Props]);
      await pub(a, ['-V', '311', '-r', '-q', '2', '-t', 'p/v311', '-f', join(dir, 'all-bytes')]);
      await pub(a, ['-V', '311', '-r', '-q', '1', '-t', 'p/deleted', '-m', 'gone soon']);
      await pub(a, ['-V', '5', '-r', '-q', '1', '-t', 'p/deleted', '-n']);
      const js = await connect(a, 5, 'writer-5');
      const jsProps: IClientPublishOptions['properties'] = {
        payloadFormatIndicator: false, contentType: 'application/octet-stream', responseTopic: 'reply/here',
        correlationData: Buffer.from([0, 1, 254, 255]), userProperties: { site: ['a', 'b'], unit: 'degC' },
      };
      await js.publishAsync('p/js', Buffer.from([0, 0xff, 0x10]), { qos: 0, retain: true, properties: jsProps });
      await js.publishAsync('p/replaced', 'old', { qos: 1, retain: true });
      await js.publishAsync('p/replaced', 'new', { qos: 2, retain: true });
      await js.endAsync();
      const js4 = await connect(a, 4, 'writer-4');
      await js4.publishAsync('p/js311', ALL_BYTES, { qos: 1, retain: true });
      await js4.endAsync();
      await pub(a, ['-V', '5', '-r', '-q', '1', '-t', 'p/expiring', '-m', 'short-lived', '-D', 'publish', 'message-expiry-interval', '1']);
      expiringAt = Date.now() + 1000;
    } finally {
      assert.equal(await a.stop('SIGTERM'), 0);
    }
    assert.ok(a.output.some((l) => l.includes(`persistent session(s) saved in ${file}`)), a.output.join('\n'));
    // p/expiring must be past its deadline whether it was left out when saving or when loading.
    await new Promise((r) => setTimeout(r, Math.max(0, expiringAt + 200 - Date.now())));
    const b = await start(file);
    try {
      await b.waitForLog(new RegExp(`mqtt: loaded 5 retained message\\(s\\) from ${file}`));
      const got = await retainedOf(b, 'p/#', 5);
      assert.deepEqual(got.map((g) => [g.topic, g.qos, g.retain, g.payload.toString('hex')]), [
        ['p/js', 0, true, '00ff10'],
        ['p/js311', 1, true, ALL_BYTES.toString('hex')],
        ['p/replaced', 2, true, Buffer.from('new').toString('hex')],
        ['p/v311', 2, true, ALL_BYTES.toString('hex')],
        ['p/v5', 1, true, Buffer.from('sensor 21.5').toString('hex')],
      ]);
      const [js, , , , v5] = got;
      assert.deepEqual(js?.properties, { payloadFormatIndicator: false, contentType: 'application/octet-stream', responseTopic: 'reply/here', correlationData: Buffer.from([0, 1, 254, 255]), userProperties: { site: ['a', 'b'], unit: 'degC' } });
      const { messageExpiryInterval, ...rest } = v5?.properties ?? {};
      assert.deepEqual(rest, { payloadFormatIndicator: true, contentType: 'x', responseTopic: 'r/t', correlationData: Buffer.from('abc'), userProperties: { k: 'v' } });
      assert.ok(typeof messageExpiryInterval === 'number' && messageExpiryInterval <= 3600 && messageExpiryInterval > 3500, `expiry ${String(messageExpiryInterval)}`);
      // The same through Debian's mosquitto_sub speaking 3.1.1.
      const sub = await MosquittoSub.start(b.mqttPort, ['-V', '311', '-q', '2', '-t', 'p/#', '-C', '5']);
      try {
        await sub.waitMessages(5);
        const seen = sub.messages.map((m) => [m.topic, m.qos, m.retain, m.payload.toString('hex')]).sort((x, y) => String(x[0]).localeCompare(String(y[0])));
        assert.deepEqual(seen, got.map((g) => [g.topic, g.qos, g.retain, g.payload.toString('hex')]));
      } finally {
        await sub.stop();
      }
    } finally {
      assert.equal(await b.stop('SIGTERM'), 0);
    }
  });

  test('the autosave writes the file without a shutdown (SIGKILL), and only when something changed', async () => {
    const file = join(dir, 'autosave.bin');
    // `$SYS` updates every second (uptime) are retained but neither saved nor a change.
    const a = await start(file, { autosave_interval: 1, sys_interval: 1 });
    try {
      const topicsInFile = (): string[] => (existsSync(file) ? decodeRetained(readFileSync(file)).map((r) => r.rawTopic) : []);
      const c = await connect(a, 5, 'auto');
      await c.publishAsync('auto/x', 'kept without SIGTERM', { qos: 1, retain: true });
      await c.publishAsync('auto/y', 'deleted later', { qos: 1, retain: true });
      await until(() => topicsInFile().length === 2, 'the autosave', 10_000);
      const saved = statSync(file);
      await new Promise((r) => setTimeout(r, 2500));
      const later = statSync(file);
      assert.deepEqual([later.ino, later.mtimeMs], [saved.ino, saved.mtimeMs], 'no change, no save');
      // A deletion alone is a change.
      await c.publishAsync('auto/y', '', { qos: 1, retain: true });
      await c.endAsync();
      await until(() => topicsInFile().join() === 'auto/x', 'the autosave of the deletion', 10_000);
    } finally {
      await a.stop('SIGKILL');
    }
    const b = await start(file);
    try {
      await b.waitForLog(/mqtt: loaded 1 retained message\(s\)/);
      const got = await retainedOf(b, 'auto/#', 1, 4);
      assert.deepEqual(got.map((g) => [g.topic, g.qos, g.payload.toString()]), [['auto/x', 1, 'kept without SIGTERM']]);
    } finally {
      assert.equal(await b.stop('SIGTERM'), 0);
    }
  });

  test('retained limits and expiry apply to what is loaded', async () => {
    const file = join(dir, 'limits.bin');
    const now = Date.now();
    const rec = (rawTopic: string, expiresAtMs = 0): Parameters<typeof encodeRetained>[0][number] => ({ rawTopic, payload: Buffer.from(rawTopic), qos: 1, props: null, expiresAtMs });
    writeFileSync(file, encodeRetained([rec('c/1'), rec('c/old', now - 1000), rec('c/2', now + 3_600_000), rec('c/3')]));
    const b = await start(file, { retained_max_count: 2 });
    try {
      await b.waitForLog(new RegExp(`mqtt: loaded 2 retained message\\(s\\) from ${file} \\(1 expired while psrtd was down\\)`));
      await b.waitForLog(new RegExp(`mqtt: 1 retained message\\(s\\) from ${file} dropped: retained_max_count`));
      const got = await retainedOf(b, 'c/#', 2);
      assert.deepEqual(got.map((g) => g.topic), ['c/1', 'c/2']);
    } finally {
      assert.equal(await b.stop('SIGTERM'), 0);
    }
  });

  test('a corrupted file is moved to .bad and logged; psrtd serves and saves anew', async () => {
    const file = join(dir, 'corrupt.bin');
    const bytes = encodeRetained([{ rawTopic: 'x/old', payload: Buffer.from('old'), qos: 0, props: null, expiresAtMs: 0 }]);
    bytes[20] = (bytes[20] ?? 0) ^ 1;
    writeFileSync(file, bytes);
    const b = await start(file);
    try {
      await b.waitForLog(new RegExp(`persistence file ${file} is unusable: checksum mismatch .*moved to ${file}\\.bad, starting with no retained messages or sessions`));
      assert.deepEqual(readFileSync(`${file}.bad`), bytes);
      const c = await connect(b, 5, 'after-bad');
      await c.publishAsync('x/new', 'fresh', { qos: 1, retain: true });
      await c.endAsync();
      const got = await retainedOf(b, 'x/#', 1);
      assert.deepEqual(got.map((g) => [g.topic, g.payload.toString()]), [['x/new', 'fresh']]);
    } finally {
      assert.equal(await b.stop('SIGTERM'), 0);
    }
    assert.deepEqual(decodeRetained(readFileSync(file)).map((r) => r.rawTopic), ['x/new']);
    assert.deepEqual(readFileSync(`${file}.bad`), bytes, 'the evidence is kept');
  });

  test('a save that fails is logged once, keeps the previous file, is retried, and shows in /status and /metrics', async () => {
    const file = join(dir, 'failing.bin');
    const c0 = encodeRetained([{ rawTopic: 'f/old', payload: Buffer.from('old'), qos: 1, props: null, expiresAtMs: 0 }]);
    writeFileSync(file, c0);
    const b = await startPsrtd({ server: { bind_stats: '127.0.0.1:0' }, mqtt: { persistence_file: file, autosave_interval: 1 } });
    const health = async (): Promise<{ status: Record<string, unknown>; metrics: string }> => {
      const base = `http://127.0.0.1:${String(b.statsPort)}`;
      const status = (await (await fetch(`${base}/status`)).json()) as { mqtt: { persistence: Record<string, unknown> } };
      return { status: status.mqtt.persistence, metrics: await (await fetch(`${base}/metrics`)).text() };
    };
    const loaded = await health();
    assert.deepEqual(loaded.status, { file, saves: 0, save_failures: 0, failing: false, last_save: null, last_save_duration_ms: 0, file_bytes: c0.length });
    // psrtd's temporary file as a directory: every save fails at its first step (permissions do not stop root).
    const tmp = `${file}.tmp.${String(b.proc.pid)}`;
    mkdirSync(tmp);
    try {
      const c = await connect(b, 5, 'failing');
      await c.publishAsync('f/new', 'new', { qos: 1, retain: true });
      await c.endAsync();
      await b.waitForLog(new RegExp(`mqtt: saving to ${file} failed: .*the previous file is kept`), 10_000);
      assert.deepEqual(readFileSync(file), c0);
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(b.output.filter((l) => l.includes(`saving to ${file}`)).length, 1, 'logged once');
      const failing = await health();
      assert.equal(failing.status.failing, true);
      assert.ok(Number(failing.status.save_failures) >= 2, JSON.stringify(failing.status));
      assert.match(failing.metrics, /^psrt_mqtt_persistence_failing 1$/m);
      assert.match(failing.metrics, /^psrt_mqtt_persistence_save_failures_total [2-9]\d*$/m);
      rmdirSync(tmp);
      await b.waitForLog(new RegExp(`mqtt: saved to ${file} again`), 10_000);
      assert.deepEqual(decodeRetained(readFileSync(file)).map((r) => r.rawTopic), ['f/old', 'f/new']);
      const saved = await health();
      assert.equal(saved.status.failing, false);
      assert.equal(saved.status.saves, 1);
      assert.equal(saved.status.file_bytes, statSync(file).size);
      const at = Number(saved.status.last_save) * 1000;
      assert.ok(at > Date.now() - 10_000 && at <= Date.now(), `last_save ${String(saved.status.last_save)}`);
      assert.match(saved.metrics, /^psrt_mqtt_persistence_failing 0$/m);
      assert.match(saved.metrics, /^psrt_mqtt_persistence_saves_total 1$/m);
      assert.match(saved.metrics, new RegExp(`^psrt_mqtt_persistence_file_bytes ${statSync(file).size}$`, 'm'));
      assert.match(saved.metrics, /^psrt_mqtt_persistence_last_save_timestamp_seconds \d+(\.\d+)?(e\+\d+)?$/m);
    } finally {
      assert.equal(await b.stop('SIGTERM'), 0);
    }
  });

  test('a save that hangs at shutdown is given up after 5 s: psrtd still ends (by SIGTERM), the previous file intact', async () => {
    const file = join(dir, 'hanging.bin');
    const c0 = encodeRetained([{ rawTopic: 'h/old', payload: Buffer.from('old'), qos: 1, props: null, expiresAtMs: 0 }]);
    writeFileSync(file, c0);
    const b = await start(file);
    // Opening a FIFO for writing blocks until a reader comes: a disk that hangs.
    const fifo = spawnSync('/usr/bin/mkfifo', [`${file}.tmp.${String(b.proc.pid)}`]);
    assert.equal(fifo.status, 0, String(fifo.stderr));
    const c = await connect(b, 5, 'hanging');
    await c.publishAsync('h/new', 'new', { qos: 1, retain: true });
    await c.endAsync();
    const exited = new Promise<string>((resolve) => b.proc.once('exit', (code, signal) => { resolve(`${String(code)}/${String(signal)}`); }));
    const t0 = performance.now();
    b.proc.kill('SIGTERM');
    const killer = setTimeout(() => b.proc.kill('SIGKILL'), 15_000);
    const end = await exited;
    clearTimeout(killer);
    const ms = performance.now() - t0;
    await b.stop();
    // Node's exit would wait for the stuck write's thread forever: psrtd ends by its stop
    // signal's default action instead, which systemd counts as a clean stop.
    assert.equal(end, 'null/SIGTERM', b.output.join('\n'));
    assert.ok(ms >= 4900 && ms < 8000, `exited after ${ms.toFixed(0)} ms`);
    assert.ok(b.output.some((l) => l.includes(`mqtt: saving to ${file} did not finish within 5 s`)), b.output.join('\n'));
    assert.deepEqual(readFileSync(file), c0);
  });

  test('a save that hangs while psrtd runs is logged once it outlasts 10 s, and again when it ends', async () => {
    const file = join(dir, 'stuck.bin');
    const b = await start(file, { autosave_interval: 1 });
    try {
      // Opening a FIFO for writing blocks until a reader comes: a disk that hangs.
      const fifoPath = `${file}.tmp.${String(b.proc.pid)}`;
      const fifo = spawnSync('/usr/bin/mkfifo', [fifoPath]);
      assert.equal(fifo.status, 0, String(fifo.stderr));
      const c = await connect(b, 5, 'stuck');
      await c.publishAsync('s/new', 'new', { qos: 1, retain: true });
      await c.endAsync();
      const stuck = new RegExp(`mqtt: a save to ${file} has been running for 1\\d s .*later saves wait for it`);
      await b.waitForLog(stuck, 20_000);
      await new Promise((r) => setTimeout(r, 2500));
      assert.equal(b.output.filter((l) => stuck.test(l)).length, 1, 'said once per hanging save');
      // The disk answers again: a reader drains the FIFO; the save ends (a FIFO cannot be
      // fsynced: that save fails and is logged), and the next autosave writes the file.
      const reader = spawn('/bin/cat', [fifoPath], { stdio: 'ignore' });
      await b.waitForLog(new RegExp(`mqtt: the save of ${file} finished after \\d+ s`), 10_000);
      await until(() => existsSync(file) && decodeRetained(readFileSync(file)).some((r) => r.rawTopic === 's/new'), 'the next autosave', 10_000);
      reader.kill();
    } finally {
      await b.stop('SIGKILL');
    }
  });

  test('a file deleted while psrtd runs is written again at SIGTERM even with no change since', async () => {
    const file = join(dir, 'deleted.bin');
    writeFileSync(file, encodeRetained([{ rawTopic: 'd/kept', payload: Buffer.from('v'), qos: 1, props: null, expiresAtMs: 0 }]));
    const b = await start(file);
    await b.waitForLog(/mqtt: loaded 1 retained message\(s\)/);
    unlinkSync(file);
    assert.equal(await b.stop('SIGTERM'), 0);
    assert.ok(b.output.some((l) => l.includes(`mqtt: ${file} was removed or replaced while psrtd runs; writing it again`)), b.output.join('\n'));
    assert.deepEqual(decodeRetained(readFileSync(file)).map((r) => r.rawTopic), ['d/kept']);
  });

  test('saves never use a name another psrtd on the same file writes too (<file>.tmp)', async () => {
    const file = join(dir, 'shared.bin');
    // Another process's temporary file; a shared name made two psrtd write one inode (a file
    // that fails its checksum). Here a directory, so a save through that name fails.
    mkdirSync(`${file}.tmp`);
    const b = await start(file, { autosave_interval: 1 });
    try {
      const c = await connect(b, 5, 'shared');
      await c.publishAsync('s/x', 'x', { qos: 1, retain: true });
      await c.endAsync();
      await until(() => existsSync(file), 'the autosave', 10_000);
      assert.deepEqual(decodeRetained(readFileSync(file)).map((r) => r.rawTopic), ['s/x']);
      assert.ok(!b.output.some((l) => l.includes('mqtt: saving to')), b.output.join('\n'));
    } finally {
      assert.equal(await b.stop('SIGTERM'), 0);
    }
  });

  test('a directory that does not exist (or is not a directory) is a start error', async () => {
    writeFileSync(join(dir, 'plain-file'), 'x');
    for (const [file, problem] of [[join(dir, 'missing', 'r.bin'), 'does not exist'], [join(dir, 'plain-file', 'r.bin'), 'is not a directory']] as const) {
      const confDir = mkdtempSync(join(tmpdir(), 'psrtd-persist-conf-'));
      try {
        const config = writeConfig(confDir, { mqtt: { bind: ['127.0.0.1:0'], persistence_file: file } });
        const { code, text } = await runPsrtdToExit(config);
        assert.equal(code, 1, text);
        assert.ok(text.includes(`psrtd: ${config}:`) && /:\d+: mqtt\.persistence_file: /.test(text) && text.includes(problem), text);
      } finally {
        rmSync(confDir, { recursive: true, force: true });
      }
    }
  });
});
