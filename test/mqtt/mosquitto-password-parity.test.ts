/**
 * Mosquitto's password checks judged by Mosquitto itself: one password file, written by the real
 * mosquitto_passwd (passwords that are not UTF-8 among them) with lines rewritten into forms
 * Mosquitto's reader lets through, is given to a real Mosquitto 2 and to psrtd
 * (auth.mosquitto_passwords). The same CONNECTs, the password sent as raw bytes by a raw socket
 * (3.1.1) and by MQTT.js (5.0, a Buffer password), must be accepted or refused alike by both,
 * and as listed.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import mqtt from 'mqtt';
import { Mosquitto } from '../helpers/engines.js';
import { rawConnect } from '../helpers/mqtt-raw.js';
import { requireMosquittoClients } from '../helpers/mqtt-tools.js';
import { startPsrtd, type Psrtd } from '../helpers/psrtd.js';
import { loadBcrypt } from '../../src/auth/password-verifier.js';

const MOSQUITTO_PASSWD = '/usr/bin/mosquitto_passwd';
const bytes = (hex: string): Buffer => Buffer.from(hex, 'hex');
const text = (s: string): Buffer => Buffer.from(s, 'utf8');
/** "café" in Latin-1 (e9 alone is not UTF-8): what a device with a Latin-1 password sends. */
const LATIN1_CAFE = bytes('636166e9');

/** Users made by mosquitto_passwd: name, password bytes, `-H sha512` (a Mosquitto 1.x `$6$` hash). */
const USERS: readonly (readonly [string, Buffer, boolean?])[] = [
  ['latin', LATIN1_CAFE],
  ['latin6', LATIN1_CAFE, true],
  ['utf8', text('café')],
  ['binary', bytes('fffe80017f')],
  ['short', text('abc')],
  ['empty', Buffer.alloc(0)],
  ['base', text('pw')],
];

/** `base`'s line (password `pw`) as Mosquitto 2.0.11 still reads it, or (refused) does not. */
function rewritten(hash: string): Record<string, string> {
  const [, , , salt, digest] = hash.split('$') as [string, string, string, string, string];
  return {
    lead0: `$7$0101$${salt}$${digest}`,
    plus: `$7$+101$${salt}$${digest}`,
    suffix: `$7$101abc$${salt}$${digest}`,
    wrapped: `$7$4294967397$${salt}$${digest}`,
    emptyfield: `$7$$101$${salt}$${digest}`,
    nolead: `7$101$${salt}$${digest}`,
    extra: `${hash}$extra`,
    hexcount: `$7$0x65$${salt}$${digest}`, // atoi: 0 iterations
    nopad: `$7$101$${salt}$${digest.replace(/=+$/, '')}`,
  };
}

interface Case {
  readonly user: string;
  readonly password: Buffer;
  readonly accepted: boolean;
}

const CASES: readonly Case[] = [
  { user: 'latin', password: LATIN1_CAFE, accepted: true },
  { user: 'latin', password: text('café'), accepted: false },
  { user: 'latin6', password: LATIN1_CAFE, accepted: true },
  { user: 'latin6', password: text('café'), accepted: false },
  { user: 'utf8', password: text('café'), accepted: true },
  { user: 'utf8', password: LATIN1_CAFE, accepted: false },
  { user: 'binary', password: bytes('fffe80017f'), accepted: true },
  { user: 'binary', password: bytes('fffe80017e'), accepted: false },
  // Mosquitto hashes the password as a C string: up to the first NUL.
  { user: 'short', password: text('abc\0xyz'), accepted: true },
  { user: 'short', password: text('\0abc'), accepted: false },
  { user: 'empty', password: Buffer.alloc(0), accepted: false },
  ...['lead0', 'plus', 'suffix', 'wrapped', 'emptyfield', 'nolead', 'extra'].map((user) => ({ user, password: text('pw'), accepted: true })),
  ...['hexcount', 'nopad'].map((user) => ({ user, password: text('pw'), accepted: false })),
];

/** Adds a user with mosquitto_passwd; bash's printf makes the bytes (a command line is bytes, a JS string is not). */
function addUser(file: string, user: string, password: Buffer, sha512: boolean, create: boolean): void {
  const escaped = [...password].map((b) => `\\x${b.toString(16).padStart(2, '0')}`).join('');
  const flags = `${create ? '-c ' : ''}${sha512 ? '-H sha512' : ''}`;
  execFileSync('/bin/bash', ['-c', `printf -v pw -- "$3"; exec ${MOSQUITTO_PASSWD} ${flags} -b "$1" "$2" "$pw"`, 'bash', file, user, escaped], { timeout: 10_000 });
}

async function passwordFile(dir: string): Promise<string> {
  const file = join(dir, 'passwd');
  USERS.forEach(([user, password, sha512], i) => {
    addUser(file, user, password, sha512 === true, i === 0);
  });
  const base = /^base:(.*)$/m.exec(readFileSync(file, 'utf8'))?.[1];
  assert.ok(base !== undefined);
  for (const [user, hash] of Object.entries(rewritten(base))) appendFileSync(file, `${user}:${hash}\n`);
  // An htpasswd -B line (psrtd only: Mosquitto drops it) of the same Latin-1 bytes.
  appendFileSync(file, `bcrypt:${await (await loadBcrypt()).hash(LATIN1_CAFE, 5)}\n`);
  return file;
}

/** Accepted by a 3.1.1 CONNECT from a raw socket, and by MQTT.js 5? */
async function outcomes(port: number, c: Case): Promise<string> {
  const { conn, connack } = await rawConnect(port, { username: c.user, password: c.password });
  conn.destroy();
  const raw = connack.body[1] === 0;
  let mqttjs: boolean;
  try {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${String(port)}`, { protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 5000, username: c.user, password: c.password });
    await client.endAsync();
    mqttjs = true;
  } catch {
    mqttjs = false;
  }
  return `${c.user} ${c.password.toString('hex')}: raw ${raw ? 'accepted' : 'refused'}, MQTT.js ${mqttjs ? 'accepted' : 'refused'}`;
}

function expected(c: Case): string {
  const verdict = c.accepted ? 'accepted' : 'refused';
  return `${c.user} ${c.password.toString('hex')}: raw ${verdict}, MQTT.js ${verdict}`;
}

describe('Mosquitto password files: psrtd logs in whom Mosquitto logs in, with the same bytes', () => {
  let dir: string;
  let mosquitto: Mosquitto;
  let psrtd: Psrtd;
  before(async () => {
    requireMosquittoClients();
    dir = mkdtempSync(join(tmpdir(), 'psrt-mosquitto-parity-'));
    const file = await passwordFile(dir);
    mosquitto = await Mosquitto.start(false, undefined, `password_file ${file}\n`);
    const users = [...new Set([...CASES.map((c) => c.user), 'bcrypt'])];
    psrtd = await startPsrtd({
      mqtt: {},
      acl: users.map((u) => `${u}:\n  sub: ["#"]\n`).join(''),
      auth: { allow_anonymous: false, mosquitto_passwords: true, password_file: 'mosquitto.passwd' },
      files: { 'mosquitto.passwd': readFileSync(file, 'utf8') },
    });
  });
  after(async () => {
    await Promise.all([mosquitto.stop(), psrtd.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  test('binary passwords and leniently written lines: the same answers as Mosquitto 2', async () => {
    const want = CASES.map(expected);
    const theirs: string[] = [];
    const ours: string[] = [];
    for (const c of CASES) {
      theirs.push(await outcomes(mosquitto.port, c));
      ours.push(await outcomes(psrtd.mqttPort, c));
    }
    assert.deepEqual(theirs, want, 'Mosquitto itself');
    assert.deepEqual(ours, want, 'psrtd');
  });

  test('an htpasswd -B hash verifies the raw bytes too (psrtd only: Mosquitto knows no bcrypt)', async () => {
    const cases: Case[] = [
      { user: 'bcrypt', password: LATIN1_CAFE, accepted: true },
      { user: 'bcrypt', password: text('café'), accepted: false },
      // A NUL never matches a bcrypt hash (the PSRT reference's rule), also from an MQTT client.
      { user: 'bcrypt', password: Buffer.concat([LATIN1_CAFE, bytes('00')]), accepted: false },
    ];
    for (const c of cases) assert.equal(await outcomes(psrtd.mqttPort, c), expected(c));
  });

  test('a password of a NUL and more against a hash of "": Mosquitto lets it in, psrtd does not', async () => {
    const c: Case = { user: 'empty', password: bytes('0041'), accepted: true };
    assert.equal(await outcomes(mosquitto.port, c), expected(c), 'Mosquitto itself');
    assert.equal(await outcomes(psrtd.mqttPort, c), expected({ ...c, accepted: false }), 'psrtd: an empty password is no way in');
  });
});
