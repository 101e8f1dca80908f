/**
 * MQTT logins and rights come from the same htpasswd file and acl.yml as PSRT: CONNECT
 * username/password, anonymous only with allow_anonymous, denied SUBSCRIBE (SUBACK 0x80 / 0x87)
 * and PUBLISH (dropped / PUBACK-PUBREC 0x87) without losing the connection, checked with MQTT.js
 * and mosquitto clients, and the same user over PSRT for comparison.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { collect, mqttConnect, refusedCode, subackCodes, until } from '../helpers/mqtt-client.js';
import { MosquittoSub, mosquittoPub, requireMosquittoClients } from '../helpers/mqtt-tools.js';
import { startPsrtd, type Psrtd } from '../helpers/psrtd.js';
import { hex, login, publishFrame, topicsFrame } from '../helpers/raw.js';
import { PASSWORD, TEST_ACL, makePasswd } from '../helpers/users.js';

const ACL = `${TEST_ACL}watcher:\n  sub: ["#"]\n`;
const PASSWD = `${makePasswd()}${makePasswd().split('\n')[0]?.replace(/^limited:/, 'watcher:') ?? ''}\n`;

describe('MQTT auth with the PSRT password file and ACL', () => {
  let server: Psrtd;
  let anon: Psrtd;
  before(async () => {
    requireMosquittoClients();
    server = await startPsrtd({ mqtt: {}, passwd: PASSWD, acl: ACL, auth: { allow_anonymous: false } });
    anon = await startPsrtd({ mqtt: {}, passwd: PASSWD, acl: ACL });
  });
  after(async () => {
    await Promise.all([server.stop(), anon.stop()]);
  });

  for (const version of [4, 5] as const) {
    const bad = version === 4 ? { password: 4, notAuthorised: 5 } : { password: 0x86, notAuthorised: 0x87 };

    test(`v${version}: CONNECT with htpasswd users; anonymous only with allow_anonymous; unknown, wrong password and no-ACL users refused`, async () => {
      const ok = await mqttConnect(server.mqttPort, version, { user: 'limited', password: PASSWORD });
      await ok.endAsync();
      assert.equal(await refusedCode(mqttConnect(server.mqttPort, version)), bad.notAuthorised, 'anonymous without allow_anonymous');
      assert.equal(await refusedCode(mqttConnect(server.mqttPort, version, { user: 'limited', password: 'wrong' })), bad.password);
      assert.equal(await refusedCode(mqttConnect(server.mqttPort, version, { user: 'ghost', password: PASSWORD })), bad.password);
      assert.equal(await refusedCode(mqttConnect(server.mqttPort, version, { user: 'noacl', password: PASSWORD })), bad.notAuthorised);
      const anonymous = await mqttConnect(anon.mqttPort, version);
      await anonymous.subscribeAsync('any/#', { qos: 1 });
      await anonymous.endAsync();
      // PSRT on the same server says the same about the same credentials.
      const psrt = await login(server.port, 'limited', PASSWORD);
      psrt.ctl.destroy();
      await assert.rejects(login(server.port, 'limited', 'wrong'));
    });

    test(`v${version}: a denied subscription gets SUBACK ${version === 4 ? '0x80' : '0x87'}, granted ones their QoS; the client stays connected`, async () => {
      const c = await mqttConnect(server.mqttPort, version, { user: 'limited', password: PASSWORD });
      const got = collect(c);
      try {
        const denied = version === 4 ? 0x80 : 0x87;
        const codes = await subackCodes(c, { 'allowed/#': { qos: 1 }, 'secret/#': { qos: 1 }, 'plus/x': { qos: 2 }, 'plus/x/y': { qos: 0 } });
        assert.deepEqual(codes, [1, denied, 2, denied]);
        await c.publishAsync('allowed/a', 'still here', { qos: 1 });
        await until(() => got.length === 1, 'own message');
        assert.equal(c.connected, true);
        assert.deepEqual(got, [{ topic: 'allowed/a', payload: 'still here', qos: 1 }]);
      } finally {
        await c.endAsync();
      }
    });

    test(`v${version}: a denied publish is ${version === 4 ? 'dropped (acked normally)' : 'answered 0x87 in PUBACK/PUBREC'}; nobody gets it; the client stays connected`, async () => {
      const watcher = await mqttConnect(server.mqttPort, 5, { user: 'watcher', password: PASSWORD });
      const seen = collect(watcher);
      await watcher.subscribeAsync('#', { qos: 2 });
      const c = await mqttConnect(server.mqttPort, version, { user: 'limited', password: PASSWORD });
      try {
        await c.publishAsync('secret/q0', 'no', { qos: 0 });
        for (const qos of [1, 2] as const) {
          const p = c.publishAsync(`secret/q${qos}`, 'no', { qos });
          if (version === 4) await p;
          else await assert.rejects(p, (e: { code?: number }) => e.code === 0x87);
        }
        await c.publishAsync('allowed/probe', 'yes', { qos: 1 });
        await until(() => seen.length > 0, 'probe');
        await new Promise((r) => setTimeout(r, 100));
        assert.deepEqual(seen.map((m) => m.topic), ['allowed/probe']);
        assert.equal(c.connected, true);
        // The publish ACL is matched on the normalised topic, as for PSRT: `/allowed//x` is allowed/x.
        await c.publishAsync('/allowed//x', 'normalised', { qos: 1 });
        await until(() => seen.length === 2, 'normalised publish');
        assert.equal(seen[1]?.topic, '/allowed//x');
        // The same user over PSRT is refused the same topic.
        const psrt = await login(server.port, 'limited', PASSWORD);
        psrt.ctl.send(publishFrame('secret/q1', 'no'));
        assert.deepEqual(await psrt.ctl.read(1), hex('FE'));
        psrt.ctl.send(topicsFrame(2, ['secret/#']));
        assert.deepEqual(await psrt.ctl.read(1), hex('FE'));
        psrt.ctl.destroy();
      } finally {
        await Promise.all([c.endAsync(), watcher.endAsync()]);
      }
    });
  }

  test('a user without rights (ACL entry with nothing) logs in and is refused everything', async () => {
    const c = await mqttConnect(server.mqttPort, 5, { user: 'norights', password: PASSWORD });
    try {
      assert.deepEqual(await subackCodes(c, { '#': { qos: 0 } }), [0x87]);
      await assert.rejects(c.publishAsync('a', 'x', { qos: 1 }), (e: { code?: number }) => e.code === 0x87);
      assert.equal(c.connected, true);
    } finally {
      await c.endAsync();
    }
  });

  test('mosquitto clients: -u/-P login, a bad password refused, a denied topic gets 128 while others work', async () => {
    const refused = await mosquittoPub(server.mqttPort, ['-u', 'limited', '-P', 'wrong', '-t', 'allowed/x', '-m', 'x']);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stdout + refused.stderr, /bad user name or password/i);
    const anonymous = await mosquittoPub(server.mqttPort, ['-t', 'allowed/x', '-m', 'x']);
    assert.match(anonymous.stdout + anonymous.stderr, /not authori[sz]ed/i);
    const sub = await MosquittoSub.start(server.mqttPort, ['-u', 'limited', '-P', PASSWORD, '-q', '1', '-t', 'allowed/#', '-t', 'secret/#', '-C', '1']);
    try {
      assert.deepEqual(sub.grantedQos, [1, 128]);
      const pub = await mosquittoPub(server.mqttPort, ['-u', 'limited', '-P', PASSWORD, '-q', '1', '-t', 'allowed/m', '-m', 'hello']);
      assert.equal(pub.code, 0, pub.stdout + pub.stderr);
      await sub.waitMessages(1);
      assert.deepEqual(sub.messages.map((m) => [m.topic, m.payload.toString()]), [['allowed/m', 'hello']]);
    } finally {
      await sub.stop();
    }
  });
});
