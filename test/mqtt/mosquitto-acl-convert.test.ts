/**
 * `psrtd --convert-mosquitto-acl` judged by Mosquitto itself: the same acl_file and password
 * file (written by mosquitto_passwd) are given to a real Mosquitto and, converted, to psrtd; the
 * same clients (MQTT.js 5, logins and client ids) then try the same subscriptions and publishes
 * on both, and every outcome must be the same.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { MqttClient } from 'mqtt';
import { Mosquitto } from '../helpers/engines.js';
import { mqttConnect } from '../helpers/mqtt-client.js';
import { requireMosquittoClients } from '../helpers/mqtt-tools.js';
import { PSRTD_BIN, startPsrtd, type Psrtd } from '../helpers/psrtd.js';

const ACL_FILE = `# anonymous clients
topic read public/#
topic write public/in

user alice
topic readwrite plant/line1/#
topic read alerts/+

user bob
topic write plant/line2/cmd
topic plant/shared
topic deny plant/line1/#

user watcher
topic readwrite #

pattern read devices/%u/cmd/#
pattern write devices/%u/%c/state
pattern read broadcast/%c
pattern deny private/%u/#
`;

const USERS: Readonly<Record<string, string>> = { alice: 'a-pw', bob: 'b-pw', carol: 'c-pw', watcher: 'w-pw' };

interface Who {
  readonly user?: string;
  readonly clientId: string;
}

const CLIENTS: readonly Who[] = [{ clientId: 'anon1' }, { user: 'alice', clientId: 'a1' }, { user: 'bob', clientId: 'b1' }, { user: 'carol', clientId: 'c1' }];
const FILTERS = ['public/#', 'public/x', 'plant/#', 'plant/line1/#', 'plant/line1/+/t', 'plant/line2/cmd', 'plant/shared', 'alerts/+', 'alerts/a', 'devices/alice/cmd/#', 'devices/bob/cmd/x', 'devices/+/cmd/#', 'broadcast/a1', 'broadcast/c1', '#'];
const TOPICS = [
  'public/in', 'public/x', 'plant/line1/a/t', 'plant/line2/cmd', 'plant/shared', 'alerts/a', 'devices/alice/cmd/go', 'devices/carol/cmd/go',
  'broadcast/a1', 'broadcast/c1', 'devices/alice/a1/state', 'devices/bob/b1/state', 'devices/carol/c1/state', 'devices/carol/x/state', 'devices/anon1/anon1/state',
];

function passwordFile(dir: string): string {
  const file = join(dir, 'passwd');
  for (const [i, [user, password]] of Object.entries(USERS).entries()) {
    execFileSync('/usr/bin/mosquitto_passwd', [...(i === 0 ? ['-c'] : []), '-b', file, user, password], { timeout: 10_000 });
  }
  return file;
}

function connect(port: number, who: Who): Promise<MqttClient> {
  return mqttConnect(port, 5, { clientId: who.clientId, ...(who.user === undefined ? {} : { user: who.user, password: USERS[who.user] ?? '' }) });
}

const nameOf = (who: Who): string => who.user ?? 'anonymous';

/** The watcher (read and write everything) with what it has received, as `payload topic`. */
async function watcherOn(port: number): Promise<{ client: MqttClient; seen: Set<string> }> {
  const client = await mqttConnect(port, 5, { user: 'watcher', password: USERS.watcher ?? '', clientId: 'w' });
  const seen = new Set<string>();
  client.on('message', (topic, payload) => seen.add(`${payload.toString()} ${topic}`));
  await client.subscribeAsync('#', { qos: 1 });
  return { client, seen };
}

async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timeout: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * What each client receives through each filter (`who filter: t1 t2 …`): every client
 * subscribes to the filter, the watcher publishes every topic once, and once the watcher has
 * its own copies back (and 50 ms more) the client's messages are taken.
 */
async function received(port: number, round: number): Promise<string[]> {
  const out: string[] = [];
  const watcher = await watcherOn(port);
  try {
    for (const [f, filter] of FILTERS.entries()) {
      const clients = await Promise.all(CLIENTS.map((who) => connect(port, who)));
      const got = clients.map(() => [] as string[]);
      clients.forEach((c, i) => c.on('message', (topic) => got[i]?.push(topic)));
      await Promise.all(clients.map((c) => c.subscribeAsync(filter, { qos: 1 }).catch(() => undefined)));
      const tag = `r${String(round)}f${String(f)}`;
      for (const topic of TOPICS) await watcher.client.publishAsync(topic, tag, { qos: 1 });
      await until(() => TOPICS.every((t) => watcher.seen.has(`${tag} ${t}`)), `the watcher's copies of ${tag}`);
      await new Promise((r) => setTimeout(r, 50));
      await Promise.all(clients.map((c) => c.endAsync()));
      CLIENTS.forEach((who, i) => out.push(`${nameOf(who)} ${filter}: ${[...new Set(got[i])].sort().join(' ')}`));
    }
  } finally {
    await watcher.client.endAsync();
  }
  return out;
}

/** `who topic: delivered|refused` for every client's publish of every topic. */
async function published(port: number): Promise<string[]> {
  const out: string[] = [];
  const watcher = await watcherOn(port);
  try {
    for (const who of CLIENTS) {
      const c = await connect(port, who);
      for (const topic of TOPICS) await c.publishAsync(topic, nameOf(who), { qos: 1 }).catch(() => undefined);
      await c.endAsync();
    }
    await watcher.client.publishAsync('public/end', 'end', { qos: 1 });
    await until(() => watcher.seen.has('end public/end'), 'the end marker');
    for (const who of CLIENTS) for (const topic of TOPICS) out.push(`${nameOf(who)} ${topic}: ${watcher.seen.has(`${nameOf(who)} ${topic}`) ? 'delivered' : 'refused'}`);
  } finally {
    await watcher.client.endAsync();
  }
  return out;
}

/**
 * A subscription wider than the user's read rules: Mosquitto accepts it and delivers the part
 * the rules allow; psrtd refuses it (SUBACK 0x87), as the PSRT reference does, and delivers
 * nothing. docs/mqtt.md says so; these are all such cases of this test.
 */
const WIDER_THAN_READ: readonly string[] = [
  'alice #', 'alice devices/+/cmd/#', 'alice plant/#', 'anonymous #', 'bob #', 'bob plant/#', 'carol #', 'carol devices/+/cmd/#',
];

describe('psrtd --convert-mosquitto-acl, against Mosquitto with the same files', () => {
  let dir: string;
  let mosquitto: Mosquitto;
  let psrtd: Psrtd;
  let converted: { status: number | null; stdout: string; stderr: string };
  before(async () => {
    requireMosquittoClients();
    dir = mkdtempSync(join(tmpdir(), 'psrt-mosquitto-acl-'));
    const passwd = passwordFile(dir);
    writeFileSync(join(dir, 'acl'), ACL_FILE);
    mosquitto = await Mosquitto.start(false, undefined, `password_file ${passwd}\nacl_file ${join(dir, 'acl')}\n`);
    const r = spawnSync(process.execPath, [PSRTD_BIN, '--convert-mosquitto-acl', join(dir, 'acl'), '--users', passwd], { encoding: 'utf8', timeout: 20_000 });
    converted = { status: r.status, stdout: r.stdout, stderr: r.stderr };
    psrtd = await startPsrtd({
      mqtt: {},
      acl: converted.stdout,
      auth: { allow_anonymous: true, mosquitto_passwords: true, password_file: 'mosquitto.passwd' },
      files: { 'mosquitto.passwd': readFileSync(passwd, 'utf8') },
    });
  });
  after(async () => {
    await Promise.all([mosquitto.stop(), psrtd.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  test('the acl_file converts without a problem; every user of the password file has an entry', () => {
    assert.equal(converted.status, 0, converted.stderr);
    // The deny rules overlap no grant; the watcher's # also covers $ topics in psrtd.
    assert.match(converted.stderr, /acl:15: warning: "#" also covers the topics beginning with \$/);
    assert.match(converted.stderr, /5 acl\.yml entries written, 0 rules not converted, 1 warning\n/);
    for (const user of ['"_"', '"alice"', '"bob"', '"carol"', '"watcher"']) assert.ok(converted.stdout.includes(`${user}:\n`), user);
  });

  test('every client receives through every filter what it receives from Mosquitto', async () => {
    const [theirs, ours] = [await received(mosquitto.port, 0), await received(psrtd.mqttPort, 1)];
    const differ = ours.map((o, i) => [o, theirs[i] ?? ''] as const).filter(([o, t]) => o !== t);
    // Where they differ, it is a wider subscription, and psrtd delivered nothing.
    assert.deepEqual(differ.map(([o]) => o.slice(0, o.indexOf(':'))).sort(), WIDER_THAN_READ, differ.map(([o, t]) => `psrtd ${o} | Mosquitto ${t}`).join('\n'));
    assert.ok(differ.every(([o]) => o.endsWith(': ')), differ.map(([o]) => o).join('\n'));
    assert.ok(ours.filter((o) => !o.endsWith(': ')).length >= 10, ours.join('\n'));
  });

  test('every publish is allowed or refused as Mosquitto decides it', async () => {
    const [theirs, ours] = [await published(mosquitto.port), await published(psrtd.mqttPort)];
    assert.deepEqual(ours, theirs);
    assert.ok(ours.filter((o) => o.endsWith('delivered')).length >= 5, ours.join('\n'));
    assert.ok(ours.filter((o) => o.endsWith('refused')).length >= 20, ours.join('\n'));
  });

  test('what acl.yml cannot say is reported with its line, not converted into something else', () => {
    const file = join(dir, 'deny.acl');
    writeFileSync(file, 'user alice\ntopic read plant/#\ntopic deny plant/secret\npattern read x/%u-data\n  # not a comment\ntopic read\n');
    const r = spawnSync(process.execPath, [PSRTD_BIN, '--convert-mosquitto-acl', file], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /deny\.acl:2: "plant\/#" left out for "alice": the deny rule of line 3/);
    assert.match(r.stderr, /deny\.acl:4: "x\/%u-data": psrtd's %u and %c stand for a whole level/);
    assert.match(r.stderr, /deny\.acl:5: not a Mosquitto ACL line/);
    // As in Mosquitto, a lone word after `topic` is the filter, with readwrite access.
    assert.match(r.stdout, /"alice":\n {2}sub: \["read"\]\n {2}pub: \["read"\]\n/);
    assert.match(r.stderr, /1 acl\.yml entries written, 3 rules not converted/);
  });
});
