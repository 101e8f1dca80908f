/**
 * `mqtt.ws_trusted_proxies`: behind a reverse proxy every WebSocket client arrives from the
 * proxy's address. A proxy listed there is believed about its client (the rightmost
 * `X-Forwarded-For` entry): that address is the client's in the log and for the per-address
 * login budget. Any other peer's header is ignored.
 *
 * Pass criteria (MQTT.js over ws://, 30 users logging in at once with cost-10 bcrypt hashes, one
 * `X-Forwarded-For` address each):
 * - trusted proxy (127.0.0.1): all 30 log in, and the log names each client "10.0.0.N via 127.0.0.1:port";
 * - no trusted proxy: the same burst shares one budget and some logins are refused;
 * - a peer that is not a trusted proxy (127.0.0.2) keeps its own address whatever its header says.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { hashSync } from '@node-rs/bcrypt';
import mqtt from 'mqtt';
import { startPsrtd, type Psrtd } from '../helpers/psrtd.js';
import { PASSWORD } from '../helpers/users.js';

const USERS = 30;
const user = (i: number): string => `user${String(i)}`;
// Thirty users: a password verified once is remembered, so one user's logins would need one check.
const ACL = Array.from({ length: USERS }, (_, i) => `${user(i)}:\n  sub: ["#"]\n`).join('');
const PASSWD = Array.from({ length: USERS }, (_, i) => `${user(i)}:${hashSync(PASSWORD, 10)}\n`).join('');

function server(trusted: string[] | null): Promise<Psrtd> {
  const mqttSection: Record<string, string | string[]> = { ws_bind: '127.0.0.1:0' };
  if (trusted !== null) mqttSection.ws_trusted_proxies = trusted;
  return startPsrtd({ mqtt: mqttSection, acl: ACL, passwd: PASSWD, auth: { allow_anonymous: false } });
}

/** One MQTT.js login over ws:// with `forwardedFor` in X-Forwarded-For; true when it got in. */
async function login(s: Psrtd, i: number, forwardedFor: string, localAddress = '127.0.0.1'): Promise<boolean> {
  const client = mqtt.connect(`ws://127.0.0.1:${String(s.mqttWsPort)}/mqtt`, {
    username: user(i),
    password: PASSWORD,
    reconnectPeriod: 0,
    connectTimeout: 20_000,
    wsOptions: { headers: { 'X-Forwarded-For': forwardedFor }, localAddress },
  });
  try {
    return await new Promise<boolean>((resolve) => {
      client.once('connect', () => { resolve(true); });
      client.once('error', () => { resolve(false); });
      client.once('close', () => { resolve(false); });
    });
  } finally {
    await client.endAsync(true);
  }
}

function burst(s: Psrtd): Promise<boolean[]> {
  return Promise.all(Array.from({ length: USERS }, (_, i) => login(s, i, `198.51.100.9, 10.0.0.${String(i + 1)}`)));
}

describe('MQTT over WebSocket behind a reverse proxy', () => {
  let trusted: Psrtd;
  let plain: Psrtd;
  before(async () => {
    [trusted, plain] = await Promise.all([server(['127.0.0.1']), server(null)]);
  });
  after(async () => {
    await Promise.all([trusted.stop(), plain.stop()]);
  });

  test("a trusted proxy's clients each get their own login budget and address", async () => {
    const results = await burst(trusted);
    assert.equal(results.filter(Boolean).length, USERS);
    const line = await trusted.waitForLog(/mqtt: client connected: .*10\.0\.0\.7 via 127\.0\.0\.1:\d+/);
    assert.doesNotMatch(line, /198\.51\.100\.9/, 'only the entry the proxy wrote counts');
  });

  test('without ws_trusted_proxies the same burst shares one budget', async () => {
    const results = await burst(plain);
    assert.ok(results.some((ok) => !ok), 'some logins refused');
    assert.ok(results.some(Boolean), 'some logins in');
    await assert.rejects(plain.waitForLog(/ via 127\.0\.0\.1/, 500));
  });

  test('a peer that is not a trusted proxy keeps its own address', async () => {
    assert.equal(await login(trusted, 0, '10.9.9.9', '127.0.0.2'), true);
    await trusted.waitForLog(/mqtt: client connected: .*127\.0\.0\.2:\d+/);
    await assert.rejects(trusted.waitForLog(/10\.9\.9\.9/, 500));
  });
});
