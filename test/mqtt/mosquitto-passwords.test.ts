/**
 * A Mosquitto password file used as it is (`auth.mosquitto_passwords: true`): hashes written by
 * the real mosquitto_passwd log in over MQTT (mosquitto_pub, MQTT.js) and PSRT; a wrong password
 * and a user not in the file are refused; a password changed with mosquitto_passwd takes effect
 * at SIGHUP. Without the key the same file logs in nobody and the log says which key to set.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { mqttConnect, refusedCode } from '../helpers/mqtt-client.js';
import { MosquittoSub, mosquittoPub, requireMosquittoClients } from '../helpers/mqtt-tools.js';
import { startPsrtd, type Psrtd } from '../helpers/psrtd.js';
import { login } from '../helpers/raw.js';
import { loadBcrypt } from '../../src/auth/password-verifier.js';

const MOSQUITTO_PASSWD = '/usr/bin/mosquitto_passwd';
const ACL = 'alice:\n  sub: ["#"]\n  pub: ["#"]\ncarol:\n  sub: ["#"]\n  pub: ["plant/#"]\ndave:\n  pub: ["#"]\nerin:\n  pub: ["#"]\n';

/**
 * A password file written by mosquitto_passwd: alice (PBKDF2, the default), carol (`-H sha512`)
 * and dave, whose password is empty (Mosquitto never lets him in: an empty password is absent).
 */
function mosquittoPasswdFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'psrt-mosquitto-passwd-'));
  try {
    const file = join(dir, 'passwd');
    execFileSync(MOSQUITTO_PASSWD, ['-c', '-b', file, 'alice', 'alice-pw'], { timeout: 10_000 });
    execFileSync(MOSQUITTO_PASSWD, ['-H', 'sha512', '-b', file, 'carol', 'carol pw'], { timeout: 10_000 });
    execFileSync(MOSQUITTO_PASSWD, ['-b', file, 'dave', ''], { timeout: 10_000 });
    return readFileSync(file, 'utf8');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Resolves once psrtd has logged a line with `text` (its log lines arrive in batches). */
async function logged(server: Psrtd, text: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!server.output.some((l) => l.includes(text))) {
    if (Date.now() > deadline) throw new Error(`not logged: ${text}\n${server.output.join('\n')}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Resolves once psrtd has logged `count` completed SIGHUP reloads. */
async function reloads(server: Psrtd, count: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (server.output.filter((l) => l.includes('SIGHUP reload done')).length < count) {
    if (Date.now() > deadline) throw new Error(`no reload ${String(count)}:\n${server.output.join('\n')}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function pubArgs(user: string, password: string, topic: string): string[] {
  return ['-u', user, '-P', password, '-t', topic, '-m', 'x', '-q', '1', '-V', 'mqttv311'];
}

describe('auth.mosquitto_passwords: a mosquitto_passwd file used as it is', () => {
  let on: Psrtd;
  let off: Psrtd;
  before(async () => {
    requireMosquittoClients();
    const file = mosquittoPasswdFile();
    // erin: an htpasswd -B line of the empty password, beside the Mosquitto ones.
    const erin = `erin:${await (await loadBcrypt()).hash('', 5)}\n`;
    on = await startPsrtd({ mqtt: {}, acl: ACL, auth: { allow_anonymous: false, mosquitto_passwords: true, password_file: 'mosquitto.passwd' }, files: { 'mosquitto.passwd': file + erin } });
    off = await startPsrtd({ mqtt: {}, acl: ACL, auth: { allow_anonymous: false, password_file: 'mosquitto.passwd' }, files: { 'mosquitto.passwd': `# migrated\n${file}` } });
  });
  after(async () => {
    await Promise.all([on.stop(), off.stop()]);
  });

  test('mosquitto_pub, MQTT.js and PSRT log in with the Mosquitto hashes; wrong passwords are refused', async () => {
    assert.ok(on.output.some((l) => l.includes('mosquitto.passwd:2: 1 user has a Mosquitto 1.x $6$ hash')), on.output.join('\n'));
    const sub = await MosquittoSub.start(on.mqttPort, ['-u', 'alice', '-P', 'alice-pw', '-t', 'plant/#', '-q', '1']);
    try {
      const pub = await mosquittoPub(on.mqttPort, pubArgs('carol', 'carol pw', 'plant/a'));
      assert.equal(pub.code, 0, pub.stderr);
      await sub.waitMessages(1);
      assert.deepEqual(sub.messages.map((m) => m.topic), ['plant/a']);
    } finally {
      await sub.stop();
    }
    const wrong = await mosquittoPub(on.mqttPort, pubArgs('alice', 'alice-PW', 'plant/b'));
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr + wrong.stdout, /not authori[sz]ed|bad user name or password|Connection Refused/i);
    assert.equal(await refusedCode(mqttConnect(on.mqttPort, 5, { user: 'carol', password: 'carol' })), 0x86);
    assert.equal(await refusedCode(mqttConnect(on.mqttPort, 5, { user: 'ghost', password: 'alice-pw' })), 0x86);
    const v5 = await mqttConnect(on.mqttPort, 5, { user: 'alice', password: 'alice-pw' });
    await v5.endAsync();
    const psrt = await login(on.port, 'carol', 'carol pw');
    psrt.ctl.destroy();
    await assert.rejects(login(on.port, 'carol', 'carol pw '));
  });

  test('a user name without a password is refused as Mosquitto refuses it; a Mosquitto hash never takes an empty password', async () => {
    for (const user of ['dave', 'erin', 'alice', 'ghost']) {
      const bare = await mosquittoPub(on.mqttPort, ['-u', user, '-t', 'plant/x', '-m', 'x', '-V', 'mqttv311']);
      assert.notEqual(bare.code, 0, `${user}: ${bare.stdout}`);
      assert.match(bare.stderr + bare.stdout, /bad user name or password/i, user);
    }
    await logged(on, 'login failed for dave (no password)');
    assert.equal(await refusedCode(mqttConnect(on.mqttPort, 5, { user: 'dave', password: '' })), 0x86);
    await assert.rejects(login(on.port, 'dave', ''));
    // bcrypt keeps the PSRT reference's rule: a login with an empty password is a bcrypt check.
    const psrt = await login(on.port, 'erin', '');
    psrt.ctl.destroy();
  });

  test('a password changed with mosquitto_passwd takes effect at SIGHUP', async () => {
    execFileSync(MOSQUITTO_PASSWD, ['-b', join(on.dir, 'mosquitto.passwd'), 'alice', 'new alice pw'], { timeout: 10_000 });
    on.proc.kill('SIGHUP');
    await reloads(on, 1);
    const ok = await mqttConnect(on.mqttPort, 4, { user: 'alice', password: 'new alice pw' });
    await ok.endAsync();
    assert.equal(await refusedCode(mqttConnect(on.mqttPort, 4, { user: 'alice', password: 'alice-pw' })), 4);
  });

  test('without the key nobody logs in with them, and the log names the line and the key', async () => {
    assert.ok(off.output.some((l) => l.includes('mosquitto.passwd:2: the hash of alice is a mosquitto_passwd hash (set auth.mosquitto_passwords: true to accept it, or use htpasswd -B)')), off.output.join('\n'));
    assert.ok(off.output.some((l) => l.includes('mosquitto.passwd:3: the hash of carol is a mosquitto_passwd hash')));
    assert.equal(await refusedCode(mqttConnect(off.mqttPort, 4, { user: 'alice', password: 'alice-pw' })), 4);
    await assert.rejects(login(off.port, 'carol', 'carol pw'));
  });
});
