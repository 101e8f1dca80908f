/**
 * `%u` / `%c` levels in acl.yml against real clients: one pattern entry serves several users,
 * each limited to its own topics (login for `%u`, MQTT client id for `%c`), over MQTT 3.1.1
 * (mosquitto_sub/pub), MQTT 5 (MQTT.js) and PSRT; a denied subscription or publish is answered
 * as any other ACL denial and reaches nobody.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { collect, mqttConnect, subackCodes, until } from '../helpers/mqtt-client.js';
import { MosquittoSub, mosquittoPub, requireMosquittoClients } from '../helpers/mqtt-tools.js';
import { startPsrtd, type Psrtd } from '../helpers/psrtd.js';
import { hex, login, publishFrame, topicsFrame } from '../helpers/raw.js';
import { PASSWORD, makePasswd } from '../helpers/users.js';

const PATTERN = '  sub: ["site/%u/cmd/#"]\n  pub: ["site/%u/data/#", "dev/%c/state"]\n';
const ACL = `limited:\n${PATTERN}norights:\n${PATTERN}admin:\n  sub: ["#"]\n  pub: ["#"]\n`;

describe('ACL %u / %c levels with real clients', () => {
  let server: Psrtd;
  before(async () => {
    requireMosquittoClients();
    server = await startPsrtd({ mqtt: {}, passwd: makePasswd(), acl: ACL, auth: { allow_anonymous: false } });
  });
  after(async () => {
    await server.stop();
  });

  test('MQTT 5: own topics by login and client id granted, others 0x87; nobody gets a denied message', async () => {
    const watcher = await mqttConnect(server.mqttPort, 5, { user: 'admin', password: PASSWORD });
    const seen = collect(watcher);
    await watcher.subscribeAsync('#', { qos: 1 });
    const c = await mqttConnect(server.mqttPort, 5, { user: 'limited', password: PASSWORD, clientId: 'pump-7' });
    try {
      assert.deepEqual(await subackCodes(c, { 'site/limited/cmd/#': { qos: 1 }, 'site/norights/cmd/#': { qos: 1 }, 'site/+/cmd/#': { qos: 1 } }), [1, 0x87, 0x87]);
      await c.publishAsync('site/limited/data/t', 'own', { qos: 1 });
      await c.publishAsync('dev/pump-7/state', 'on', { qos: 1 });
      for (const topic of ['site/norights/data/t', 'dev/pump-8/state', 'site/%u/data/t']) {
        await assert.rejects(c.publishAsync(topic, 'no', { qos: 1 }), (e: { code?: number }) => e.code === 0x87, topic);
      }
      await watcher.publishAsync('site/limited/cmd/go', 'cmd', { qos: 1 });
      await until(() => seen.length >= 3, 'the granted messages');
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(seen.map((m) => m.topic).sort(), ['dev/pump-7/state', 'site/limited/cmd/go', 'site/limited/data/t']);
    } finally {
      await Promise.all([c.endAsync(), watcher.endAsync()]);
    }
  });

  test('MQTT 3.1.1 (mosquitto_sub/pub): the second user of the same entry gets its own topics only', async () => {
    const watcher = await mqttConnect(server.mqttPort, 4, { user: 'admin', password: PASSWORD });
    const seen = collect(watcher);
    await watcher.subscribeAsync('dev/#', { qos: 1 });
    const sub = await MosquittoSub.start(server.mqttPort, ['-V', 'mqttv311', '-u', 'norights', '-P', PASSWORD, '-q', '1', '-t', 'site/norights/cmd/#', '-t', 'site/limited/cmd/#']);
    try {
      assert.deepEqual(sub.grantedQos, [1, 128]);
      for (const topic of ['dev/valve-4/state', 'dev/valve-3/state']) {
        // 3.1.1 has no refusal code for a publish: the denied one is acked and dropped.
        const pub = await mosquittoPub(server.mqttPort, ['-V', 'mqttv311', '-u', 'norights', '-P', PASSWORD, '-i', 'valve-3', '-q', '1', '-t', topic, '-m', 'open']);
        assert.equal(pub.code, 0, pub.stderr);
      }
      await until(() => seen.length === 1, 'the own state');
      assert.deepEqual(seen.map((m) => m.topic), ['dev/valve-3/state']);
      const admin = await mosquittoPub(server.mqttPort, ['-V', 'mqttv311', '-u', 'admin', '-P', PASSWORD, '-q', '1', '-t', 'site/norights/cmd/x', '-m', 'go']);
      assert.equal(admin.code, 0, admin.stderr);
      await sub.waitFor(() => sub.messages.length === 1, 5000, 'the command');
      assert.equal(sub.messages[0]?.topic, 'site/norights/cmd/x');
    } finally {
      await Promise.all([sub.stop(), watcher.endAsync()]);
    }
  });

  test('PSRT: %u is the login; %c never matches (PSRT has no client id)', async () => {
    const { ctl } = await login(server.port, 'limited', PASSWORD);
    try {
      ctl.send(topicsFrame(2, ['site/limited/cmd/#']));
      assert.deepEqual(await ctl.read(1), hex('01'));
      ctl.send(topicsFrame(2, ['site/norights/cmd/#']));
      assert.deepEqual(await ctl.read(1), hex('FE'));
      ctl.send(publishFrame('site/limited/data/x', 'v'));
      assert.deepEqual(await ctl.read(1), hex('01'));
      ctl.send(publishFrame('dev/limited/state', 'v'));
      assert.deepEqual(await ctl.read(1), hex('FE'));
    } finally {
      ctl.destroy();
    }
  });
});
