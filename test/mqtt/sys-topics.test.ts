/**
 * `$SYS/broker/...` statistics (mqtt.sys_interval): Mosquitto's topics and formats, retained so
 * a new subscriber gets them at once, updated within the interval, PSRT and MQTT clients counted
 * together; silent with sys_interval 0 and after a SIGHUP that sets 0; never delivered to PSRT
 * subscribers; subject to the ACL; and nobody may publish to `$SYS` (MQTT publish, will, or a
 * PSRT publish reaching MQTT subscribers). Checked with Debian's mosquitto_sub and MQTT.js.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { MqttClient } from 'mqtt';
import { mqttConnect, subackCodes, until } from '../helpers/mqtt-client.js';
import { MOSQUITTO_SUB, mosquittoPub, requireMosquittoClients, runTool } from '../helpers/mqtt-tools.js';
import { PsrtPublisher, PsrtSubscriber } from '../helpers/psrt-peers.js';
import { startPsrtd, writeConfig, type Psrtd, type PsrtdOptions } from '../helpers/psrtd.js';
import { rawSession } from '../helpers/mqtt-raw.js';
import { PASSWORD, TEST_ACL, makePasswd } from '../helpers/users.js';

const SYS = '$SYS/broker/';
const TOPICS = [
  'version', 'uptime', 'clients/connected', 'clients/disconnected', 'clients/total', 'clients/maximum',
  'subscriptions/count', 'retained messages/count', 'messages/received', 'messages/sent',
  'publish/messages/received', 'publish/messages/sent', 'publish/messages/dropped',
  ...['messages/received', 'messages/sent', 'publish/received', 'publish/sent', 'publish/dropped'].flatMap((l) => ['1min', '5min', '15min'].map((w) => `load/${l}/${w}`)),
].map((t) => SYS + t);
const LOAD = `${SYS}load/`;

interface Got {
  readonly topic: string;
  readonly payload: string;
  readonly retain: boolean;
}

function inbox(c: MqttClient): Got[] {
  const got: Got[] = [];
  c.on('message', (topic, payload, packet) => {
    got.push({ topic, payload: payload.toString(), retain: packet.retain });
  });
  return got;
}

/** The last value received on `topic`. */
function last(got: readonly Got[], topic: string): string | undefined {
  return got.findLast((m) => m.topic === topic)?.payload;
}

/** `mosquitto_sub -t '$SYS/#' -v` lines as topic → payload (topics may contain a space). */
function parseVerbose(stdout: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const topic = TOPICS.find((t) => line.startsWith(`${t} `));
    if (topic !== undefined) values.set(topic, line.slice(topic.length + 1));
    else if (line !== '') values.set(line, '');
  }
  return values;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('$SYS/broker statistics for MQTT clients', () => {
  let server: Psrtd;
  let silent: Psrtd;
  const clients: MqttClient[] = [];
  const base: PsrtdOptions = { passwd: makePasswd(), acl: TEST_ACL };

  async function connect(version: 4 | 5, opts: Parameters<typeof mqttConnect>[2] = {}): Promise<MqttClient> {
    const c = await mqttConnect(server.mqttPort, version, opts);
    clients.push(c);
    return c;
  }

  /** An anonymous v5 client subscribed to `$SYS/#`, after it has seen the retained values. */
  async function watcher(): Promise<Got[]> {
    const c = await connect(5);
    const got = inbox(c);
    await c.subscribeAsync('$SYS/#', { qos: 0 });
    await until(() => got.filter((m) => m.retain).length >= TOPICS.length, 'the retained $SYS values');
    return got;
  }

  before(async () => {
    requireMosquittoClients();
    [server, silent] = await Promise.all([
      startPsrtd({ ...base, mqtt: { sys_interval: 1 } }),
      startPsrtd({ ...base, mqtt: { sys_interval: 0 } }),
    ]);
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true)));
    await Promise.all([server.stop(), silent.stop()]);
  });

  test("mosquitto_sub -t '$SYS/#' -v: every topic at once, retained, in Mosquitto's formats", async () => {
    const t0 = performance.now();
    const args = ['-h', '127.0.0.1', '-p', String(server.mqttPort), '-t', '$SYS/#', '-v', '--retained-only', '-C', String(TOPICS.length), '-W', '10'];
    const r = await runTool(MOSQUITTO_SUB, args);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(performance.now() - t0 < 5000, 'the retained values came at once');
    const values = parseVerbose(r.stdout);
    assert.deepEqual([...values.keys()].sort(), [...TOPICS].sort());
    assert.match(values.get(`${SYS}version`) ?? '', /^psrtd version \d+\.\d+\.\d+$/);
    assert.match(values.get(`${SYS}uptime`) ?? '', /^\d+ seconds$/);
    for (const t of TOPICS.slice(2)) assert.match(values.get(t) ?? '', t.startsWith(LOAD) ? /^\d+\.\d\d$/ : /^\d+$/, t);
  });

  test('updated within sys_interval; clients/connected and subscriptions/count count MQTT and PSRT clients', async () => {
    const got = await watcher();
    const uptime = (): number => Number.parseInt(last(got, `${SYS}uptime`) ?? '0', 10);
    const before = uptime();
    await until(() => uptime() >= before + 2, 'two uptime updates', 4000);
    const connected = Number(last(got, `${SYS}clients/connected`));
    const subscriptions = Number(last(got, `${SYS}subscriptions/count`));
    const mqtt = await mqttConnect(server.mqttPort, 4);
    await mqtt.subscribeAsync('a/#');
    const psrt = await PsrtSubscriber.open(server.port, ['b/#']);
    try {
      await until(() => last(got, `${SYS}clients/connected`) === String(connected + 2), `clients/connected ${connected + 2}`, 3000);
      await until(() => last(got, `${SYS}subscriptions/count`) === String(subscriptions + 2), `subscriptions/count ${subscriptions + 2}`, 3000);
      assert.ok(Number(last(got, `${SYS}clients/maximum`)) >= connected + 2);
    } finally {
      await mqtt.endAsync();
      psrt.close();
    }
    await until(() => last(got, `${SYS}clients/connected`) === String(connected), `clients/connected back to ${connected}`, 3000);
    // Only changed values are published again: version never, publish/messages/dropped (nothing dropped) neither.
    const updated = new Set(got.filter((m) => !m.retain).map((m) => m.topic));
    assert.ok(!updated.has(`${SYS}version`) && !updated.has(`${SYS}publish/messages/dropped`), [...updated].join(', '));
  });

  test('load/messages/received: a burst shows in the 1, 5 and 15 minute averages, in that order', async () => {
    const got = await watcher();
    const load = (w: string): number => Number(last(got, `${LOAD}messages/received/${w}`) ?? 'NaN');
    const before = load('1min');
    const c = await connect(4);
    for (let i = 0; i < 100; i++) c.publish('burst/x', 'x');
    await until(() => load('1min') > before + 10, 'the 1 minute average up', 4000);
    await sleep(50); // the other windows of the same update
    assert.ok(load('1min') > load('5min') && load('5min') > load('15min') && load('15min') > 0, `${load('1min')} ${load('5min')} ${load('15min')}`);
  });

  test('a persistent session without its connection counts in clients/disconnected', async () => {
    const got = await watcher();
    const before = Number(last(got, `${SYS}clients/disconnected`));
    const c = await mqttConnect(server.mqttPort, 5, { clientId: 'sys-persistent', clean: false, expiry: 60 });
    await c.endAsync();
    await until(() => last(got, `${SYS}clients/disconnected`) === String(before + 1), 'clients/disconnected + 1', 3000);
    const back = await mqttConnect(server.mqttPort, 5, { clientId: 'sys-persistent', clean: true });
    await back.endAsync();
    await until(() => last(got, `${SYS}clients/disconnected`) === String(before), 'clients/disconnected back', 3000);
  });

  test('sys_interval: 0: mosquitto_sub and MQTT.js get nothing on $SYS', async () => {
    const c = await mqttConnect(silent.mqttPort, 5);
    const got = inbox(c);
    try {
      await c.subscribeAsync('$SYS/#', { qos: 0 });
      const r = await runTool(MOSQUITTO_SUB, ['-h', '127.0.0.1', '-p', String(silent.mqttPort), '-t', '$SYS/#', '-v', '-W', '2']);
      assert.equal(r.stdout, '');
      assert.deepEqual(got, []);
    } finally {
      await c.endAsync();
    }
  });

  test('a PSRT # subscriber gets no $SYS update; a PSRT publish on $SYS/... reaches PSRT but no MQTT subscriber', async () => {
    const psrt = await PsrtSubscriber.open(server.port, ['#']);
    const pub = await PsrtPublisher.open(server.port);
    try {
      const got = await watcher();
      const updates = (): number => got.filter((m) => !m.retain && m.topic === `${SYS}uptime`).length;
      await until(() => updates() >= 2, 'two $SYS updates while the PSRT subscriber listens', 4000);
      // PSRT masks treat `$` as any other character: `#` would match `$SYS/...` if it were handed over.
      assert.equal(await pub.publish(`${SYS}clients/connected`, 'forged'), 1);
      assert.equal(await pub.publish('plain/probe', 'p'), 1);
      await psrt.waitFor(2);
      await sleep(300);
      assert.deepEqual(psrt.messages.map((m) => [m.topic, m.payload.toString()]), [[`${SYS}clients/connected`, 'forged'], ['plain/probe', 'p']]);
      assert.ok(!got.some((m) => m.payload === 'forged'), 'no MQTT subscriber got the PSRT publish on $SYS');
    } finally {
      psrt.close();
      pub.ctl.destroy();
    }
  });

  for (const version of [4, 5] as const) {
    test(`v${version}: a user whose ACL has no $SYS mask gets SUBACK ${version === 4 ? '0x80' : '0x87'} and nothing`, async () => {
      const c = await connect(version, { user: 'limited', password: PASSWORD });
      const got = inbox(c);
      const denied = version === 4 ? 0x80 : 0x87;
      assert.deepEqual(await subackCodes(c, { '$SYS/#': { qos: 0 }, [`${SYS}uptime`]: { qos: 0 }, 'allowed/#': { qos: 0 } }), [denied, denied, 0]);
      await sleep(1500); // past an update
      assert.deepEqual(got, []);
    });

    test(`v${version}: publishing to $SYS is refused (${version === 4 ? 'dropped' : 'PUBACK 0x87'}) even with pub "#", and never delivered or retained`, async () => {
      const got = await watcher();
      const c = await connect(version);
      for (const topic of [`${SYS}uptime`, '$SYS/x']) {
        await c.publishAsync(topic, 'forged', { qos: 0, retain: true });
        const p = c.publishAsync(topic, 'forged', { qos: 1, retain: true });
        if (version === 4) await p;
        else await assert.rejects(p, (e: { code?: number }) => e.code === 0x87);
      }
      await c.publishAsync('allowed/probe', 'still connected', { qos: 1 });
      await server.waitForLog(/mqtt: pub access denied for \$SYS\//);
      await sleep(1200); // past an update
      assert.ok(!got.some((m) => m.payload === 'forged'), 'no subscriber got a forged $SYS message');
      const retained = await runTool(MOSQUITTO_SUB, ['-h', '127.0.0.1', '-p', String(server.mqttPort), '-t', '$SYS/x', '-t', `${SYS}uptime`, '-v', '-C', '1', '-W', '5']);
      assert.match(retained.stdout, /^\$SYS\/broker\/uptime \d+ seconds\n$/, 'the retained uptime is the broker\'s, $SYS/x holds nothing');
    });
  }

  test('a will on $SYS is refused when it falls due (socket lost)', async () => {
    const got = await watcher();
    const conn = await rawSession(server.mqttPort, { clientId: 'sys-will', will: { topic: `${SYS}uptime`, payload: 'forged', retain: true } });
    conn.destroy();
    await server.waitForLog(/mqtt: will of sys-will denied by ACL for \$SYS\/broker\/uptime/);
    await sleep(1200); // past an update
    assert.ok(!got.some((m) => m.payload === 'forged'), 'nobody got the will');
  });
});

describe('mqtt.sys_interval reloaded on SIGHUP', () => {
  let server: Psrtd;
  const opts = (interval: number): PsrtdOptions => ({ mqtt: { sys_interval: interval } });

  before(async () => {
    requireMosquittoClients();
    server = await startPsrtd(opts(0));
  });
  after(async () => {
    await server.stop();
  });

  async function sysOutput(): Promise<string> {
    return (await runTool(MOSQUITTO_SUB, ['-h', '127.0.0.1', '-p', String(server.mqttPort), '-t', '$SYS/#', '-v', '--retained-only', '-W', '2'])).stdout;
  }

  test('0 → 1 starts the updates, 1 → 0 stops them and deletes the retained values', async () => {
    assert.equal(await sysOutput(), '');
    writeConfig(server.dir, opts(1));
    server.proc.kill('SIGHUP');
    await server.waitForLog(/mqtt\.sys_interval: 1 s \(was 0 s\)/);
    assert.match(await sysOutput(), /^\$SYS\/broker\/version psrtd version /m);
    writeConfig(server.dir, opts(0));
    server.proc.kill('SIGHUP');
    await server.waitForLog(/mqtt\.sys_interval: 0 s \(was 1 s\)/);
    assert.equal(await sysOutput(), '');
  });

  test('a bad value keeps the running interval and says why', async () => {
    writeConfig(server.dir, { mqtt: { sys_interval: -1 } });
    server.proc.kill('SIGHUP');
    await server.waitForLog(/mqtt\.sys_interval not reloaded, 0 s kept: .*mqtt\.sys_interval: must be at least 0/);
  });
});

describe('the $SYS values take no room from retained_max_count / retained_max_bytes', () => {
  let server: Psrtd;

  before(async () => {
    requireMosquittoClients();
    server = await startPsrtd({ mqtt: { sys_interval: 1, retained_max_count: 3, retained_max_bytes: 64 } });
  });
  after(async () => {
    await server.stop();
  });

  test('with ~30 $SYS values (~1 KB) retained, clients still retain retained_max_count messages', async () => {
    // sys_interval is on by default: counted against the limits, it took ~30 places from an
    // existing configuration (with the limits here, every client retained message was refused).
    const port = String(server.mqttPort);
    const sys = await runTool(MOSQUITTO_SUB, ['-h', '127.0.0.1', '-p', port, '-t', '$SYS/broker/version', '--retained-only', '-C', '1', '-W', '5']);
    assert.match(sys.stdout, /^psrtd version /, 'the $SYS values are retained');
    for (const i of [1, 2, 3, 4]) {
      const r = await mosquittoPub(server.mqttPort, ['-t', `keep/${String(i)}`, '-m', `v${String(i)}`, '-r', '-q', '1']);
      assert.equal(r.code, 0, r.stderr);
    }
    const kept = await runTool(MOSQUITTO_SUB, ['-h', '127.0.0.1', '-p', port, '-t', 'keep/#', '-v', '--retained-only', '-W', '2']);
    const lines = kept.stdout.split('\n').filter((l) => l.startsWith('keep/')).sort();
    assert.deepEqual(lines, ['keep/1 v1', 'keep/2 v2', 'keep/3 v3'], 'three retained, the fourth refused: the limit still holds for clients');
    await server.waitForLog(/mqtt: retained store full \(retained_max_count \/ retained_max_bytes\), keep\/4 not retained/);
  });
});
