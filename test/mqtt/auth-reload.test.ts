/**
 * SIGHUP reload applies to MQTT logins exactly as to PSRT ones (test/e2e/lifecycle.test.ts is
 * the PSRT reference): new logins get the new ACL and passwords, a broken ACL keeps the old
 * rules, open sessions keep their login-time ACL. Each step checks a PSRT session beside the
 * MQTT one.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { MqttClient } from 'mqtt';
import { collect, mqttConnect, refusedCode, subackCodes } from '../helpers/mqtt-client.js';
import { startPsrtd, type Psrtd } from '../helpers/psrtd.js';
import { login, publishFrame, type RawConn } from '../helpers/raw.js';
import { hashSync } from '@node-rs/bcrypt';
import { PASSWORD, makePasswd } from '../helpers/users.js';

// `admin` (a password in makePasswd) publishes everywhere: a bystander that feeds subscribers.
const ACL_A = 'user1:\n  sub: ["a/#"]\n  pub: ["a/#"]\nadmin:\n  pub: ["#"]\n';
const ACL_B = 'user1:\n  sub: ["b/#"]\n  pub: ["b/#"]\nadmin:\n  pub: ["#"]\n';

/** Sends SIGHUP and waits until psrtd has loaded the password file again (after the ACL). */
async function reload(server: Psrtd, expect = /loading password file/): Promise<void> {
  const before = server.output.filter((l) => expect.test(l)).length;
  server.proc.kill('SIGHUP');
  const t0 = performance.now();
  while (server.output.filter((l) => expect.test(l)).length === before) {
    if (performance.now() - t0 > 10_000) throw new Error(`no ${expect} after SIGHUP:\n${server.output.join('\n')}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  await new Promise((r) => setTimeout(r, 50)); // the snapshot is installed right after the log line
}

/** v5 PUBACK reason of a QoS 1 publish: 0 or 0x87. */
async function pubackCode(c: MqttClient, topic: string): Promise<number> {
  try {
    await c.publishAsync(topic, 'x', { qos: 1 });
    return 0;
  } catch (e) {
    return (e as { code?: number }).code ?? -1;
  }
}

async function psrtPublish(ctl: RawConn, topic: string): Promise<string> {
  ctl.send(publishFrame(topic, 'x'));
  return (await ctl.read(1)).toString('hex');
}

describe('SIGHUP reload and MQTT', () => {
  let server: Psrtd;
  const passwd = makePasswd().replace(/^limited:/m, 'user1:');
  before(async () => {
    server = await startPsrtd({ mqtt: {}, acl: ACL_A, passwd, auth: { allow_anonymous: false } });
  });
  after(async () => {
    await server.stop();
  });

  test('new MQTT logins get the reloaded ACL, open sessions keep theirs, a broken ACL changes nothing', async () => {
    const clients: MqttClient[] = [];
    const psrt: RawConn[] = [];
    try {
      const mqttBefore = await mqttConnect(server.mqttPort, 5, { user: 'user1', password: PASSWORD });
      clients.push(mqttBefore);
      const psrtBefore = (await login(server.port, 'user1', PASSWORD)).ctl;
      psrt.push(psrtBefore);
      assert.equal(await pubackCode(mqttBefore, 'a/x'), 0);
      assert.equal(await pubackCode(mqttBefore, 'b/x'), 0x87);

      // A broken ACL: the reload fails, old rules stay for new logins of both protocols.
      writeFileSync(join(server.dir, 'acl.yml'), 'user1: [this is: not valid\n');
      await reload(server, /ACL reload failed/);
      const mqttMid = await mqttConnect(server.mqttPort, 4, { user: 'user1', password: PASSWORD });
      clients.push(mqttMid);
      assert.deepEqual(await subackCodes(mqttMid, { 'a/#': { qos: 1 }, 'b/#': { qos: 1 } }), [1, 0x80]);

      writeFileSync(join(server.dir, 'acl.yml'), ACL_B);
      await reload(server);
      const mqttAfter = await mqttConnect(server.mqttPort, 5, { user: 'user1', password: PASSWORD });
      clients.push(mqttAfter);
      const psrtAfter = (await login(server.port, 'user1', PASSWORD)).ctl;
      psrt.push(psrtAfter);
      assert.equal(await pubackCode(mqttAfter, 'b/x'), 0);
      assert.equal(await pubackCode(mqttAfter, 'a/x'), 0x87);
      assert.deepEqual(await subackCodes(mqttAfter, { 'a/#': { qos: 1 }, 'b/#': { qos: 1 } }), [0x87, 1]);
      assert.equal(await psrtPublish(psrtAfter, 'b/x'), '01');
      assert.equal(await psrtPublish(psrtAfter, 'a/x'), 'fe');

      // Sessions opened before the reload keep their login-time ACL: MQTT as PSRT.
      assert.equal(await pubackCode(mqttBefore, 'a/x'), 0);
      assert.equal(await pubackCode(mqttBefore, 'b/x'), 0x87);
      assert.deepEqual(await subackCodes(mqttBefore, { 'b/#': { qos: 0 } }), [0x87]);
      assert.equal(await psrtPublish(psrtBefore, 'a/x'), '01');
      assert.equal(await psrtPublish(psrtBefore, 'b/x'), 'fe');
      assert.deepEqual(await subackCodes(mqttMid, { 'a/+': { qos: 0 } }), [0]);
    } finally {
      await Promise.all(clients.map((c) => c.endAsync()));
      for (const c of psrt) c.destroy();
    }
  });

  test('a resumed persistent MQTT session gets the ACL of its new login (like a new PSRT login)', async () => {
    writeFileSync(join(server.dir, 'acl.yml'), ACL_A);
    await reload(server);
    const first = await mqttConnect(server.mqttPort, 5, { user: 'user1', password: PASSWORD, clientId: 'reload-pers', clean: false, expiry: 60 });
    assert.equal(await pubackCode(first, 'a/x'), 0);
    await first.endAsync();
    writeFileSync(join(server.dir, 'acl.yml'), ACL_B);
    await reload(server);
    const again = await mqttConnect(server.mqttPort, 5, { user: 'user1', password: PASSWORD, clientId: 'reload-pers', clean: false, expiry: 60 });
    try {
      assert.equal(again.connected, true);
      assert.equal(await pubackCode(again, 'b/x'), 0);
      assert.equal(await pubackCode(again, 'a/x'), 0x87);
    } finally {
      await again.endAsync();
    }
  });

  test('a resumed persistent session keeps only the subscriptions its new login may make', async () => {
    writeFileSync(join(server.dir, 'acl.yml'), ACL_A);
    await reload(server);
    const opts = { user: 'user1', password: PASSWORD, clientId: 'reload-subs', clean: false, expiry: 60 };
    const first = await mqttConnect(server.mqttPort, 5, opts);
    assert.deepEqual(await subackCodes(first, { 'a/#': { qos: 1 }, '$share/g/a/+': { qos: 0 } }), [1, 0]);
    await first.endAsync();
    writeFileSync(join(server.dir, 'acl.yml'), ACL_B);
    await reload(server);
    const feeder = await mqttConnect(server.mqttPort, 5, { user: 'admin', password: PASSWORD });
    const again = await mqttConnect(server.mqttPort, 5, opts);
    const got = collect(again);
    try {
      assert.equal(again.connected, true);
      assert.deepEqual(await subackCodes(again, { 'b/#': { qos: 1 } }), [1]);
      await feeder.publishAsync('a/x', 'revoked', { qos: 1 });
      await feeder.publishAsync('b/x', 'granted', { qos: 1 });
      await new Promise((r) => setTimeout(r, 300));
      // The new login may not subscribe a/# (SUBACK 0x87), so the session's old a/# and its
      // shared a/+ must not keep delivering a/x either.
      assert.deepEqual(got.map((m) => m.payload), ['granted']);
    } finally {
      await Promise.all([again.endAsync(), feeder.endAsync()]);
    }
  });

  test('a changed password applies to new MQTT logins; the open connection continues', async () => {
    writeFileSync(join(server.dir, 'acl.yml'), ACL_A);
    await reload(server);
    const open = await mqttConnect(server.mqttPort, 4, { user: 'user1', password: PASSWORD });
    try {
      // A valid file (a garbage one would be refused by reload) with a new password for user1.
      const rotated = passwd.replace(/^user1:.*$/m, `user1:${hashSync('another-secret', 4)}`);
      assert.notEqual(rotated, passwd);
      writeFileSync(join(server.dir, 'passwd'), rotated);
      await reload(server);
      assert.equal(await refusedCode(mqttConnect(server.mqttPort, 4, { user: 'user1', password: PASSWORD })), 4);
      assert.equal(await refusedCode(mqttConnect(server.mqttPort, 5, { user: 'user1', password: PASSWORD })), 0x86);
      await assert.rejects(login(server.port, 'user1', PASSWORD));
      await open.publishAsync('a/x', 'still logged in', { qos: 1 });
      assert.equal(open.connected, true);
    } finally {
      await open.endAsync();
      writeFileSync(join(server.dir, 'passwd'), passwd);
    }
  });
});
