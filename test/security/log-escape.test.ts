/**
 * Log forging: login names and topics with newlines and terminal escape sequences must reach the
 * log escaped. Pass criteria: against a real psrtd, a failed login whose name contains
 * `\n<forged line>` and ESC sequences, and a denied subscription to such a topic, each produce
 * exactly one escaped line; no output line starts with the forged text or contains ESC; a
 * bystander keeps working. Unit part: escapeForLog's escapes and length cap.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { escapeForLog } from '../../src/protocol/log-escape.js';
import { startPsrtd, type Psrtd } from '../helpers/psrtd.js';
import { connectPacket } from '../helpers/mqtt-raw.js';
import { Bystander, RawConn, hex, login, loginFrame, topicsFrame } from '../helpers/raw.js';
import { PASSWORD, TEST_ACL, makePasswd } from '../helpers/users.js';

const FORGED = '2026-01-01T00:00:00+00:00  FORGED admin logged in';

describe('escapeForLog', () => {
  test('controls, ANSI, separators and backslash are escaped; safe text is returned as is', () => {
    assert.equal(escapeForLog('plain/topic'), 'plain/topic');
    assert.equal(escapeForLog('a\nb\r\t\x1b[31m\\'), 'a\\nb\\r\\t\\x1b[31m\\\\');
    assert.equal(escapeForLog('x\u0085y\u2028z\u202e'), 'x\\x85y\\u2028z\\u202e');
    assert.equal(escapeForLog('\x00\x7f'), '\\x00\\x7f');
  });
  test('long text is cut with the number of characters left out', () => {
    assert.equal(escapeForLog('a'.repeat(300), 10), `${'a'.repeat(10)}…(+290 chars)`);
    assert.equal(escapeForLog('\n'.repeat(3), 2), '\\n\\n…(+1 chars)');
  });
});

describe('log forging against psrtd', () => {
  let server: Psrtd;
  before(async () => {
    server = await startPsrtd({ acl: TEST_ACL, passwd: makePasswd(), mqtt: {} });
  });
  after(async () => {
    assert.equal(await server.stop(), 0);
  });

  test('a login name with a newline and ESC sequences is logged escaped', async () => {
    const bystander = await Bystander.create(server.port);
    const conn = await RawConn.open(server.port);
    conn.send(Buffer.concat([hex('EE AA 00'), loginFrame(`eve\n${FORGED}\x1b[2J\x1b]0;owned\x07`, 'wrong')]));
    await conn.expectClose(5000, 4);
    const line = await server.waitForLog(/login failed for eve/);
    assert.ok(line.includes('eve\\n2026-01-01T00:00:00+00:00  FORGED'), line);
    assert.ok(line.includes('\\x1b[2J\\x1b]0;owned\\x07'), line);
    await bystander.check();
    bystander.close();
  });

  test('an MQTT login name with a newline is logged escaped once (\\n, not \\\\n)', async () => {
    const conn = await RawConn.open(server.mqttPort);
    conn.send(connectPacket({ clientId: 'forger', username: `mallory\n${FORGED}\x1b[2J`, password: 'wrong' }));
    assert.deepEqual([...(await conn.read(4))], [0x20, 0x02, 0x00, 0x04], 'CONNACK bad user name or password');
    const line = await server.waitForLog(/login failed for mallory/);
    assert.ok(line.includes('login failed for mallory\\n2026-01-01T00:00:00+00:00  FORGED admin logged in\\x1b[2J'), line);
    assert.ok(!line.includes('\\\\'), `escaped twice: ${line}`);
    conn.destroy();
  });

  test('a denied subscription to a topic with control characters is logged escaped', async () => {
    const { ctl } = await login(server.port, 'limited', PASSWORD);
    ctl.send(topicsFrame(2, [`nope\n${FORGED}\x1b[31m`]));
    assert.deepEqual([...(await ctl.read(1))], [0xfe]);
    const line = await server.waitForLog(/sub access deneid for nope/);
    assert.ok(line.includes('nope\\n2026-01-01T00:00:00+00:00  FORGED admin logged in\\x1b[31m'), line);
    ctl.destroy();
  });

  test('no output line was forged or carries a raw escape character', () => {
    for (const l of server.output) {
      assert.ok(!l.startsWith(FORGED), `forged line: ${JSON.stringify(l)}`);
      assert.ok(!l.includes('\x1b') && !l.includes('\x07'), `raw control in: ${JSON.stringify(l)}`);
    }
  });
});
