/** PROTOCOL.md §10 items 1–13 (connection set-up and login), each with a bystander check. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startPsrtd, type Psrtd } from '../helpers/psrtd.js';
import { Bystander, RawConn, hex, login, loginFrame } from '../helpers/raw.js';
import { PASSWORD, TEST_ACL, makePasswd } from '../helpers/users.js';

describe('connection set-up and login (§10 1–13)', () => {
  let server: Psrtd;
  let bystander: Bystander;
  before(async () => {
    server = await startPsrtd({ acl: TEST_ACL, passwd: makePasswd(), proto: { timeout: 10 } });
    bystander = await Bystander.create(server.port);
  });
  after(async () => {
    bystander.close();
    assert.equal(await server.stop(), 0);
  });

  async function expectClosed(bytes: string | Buffer): Promise<void> {
    const c = await RawConn.open(server.port);
    c.send(bytes);
    await c.expectClose(3000, 4); // a greeting reply may precede the close
    await bystander.check();
  }

  test('2: header not EE AA/EE AB closes', async () => {
    await expectClosed('EE AC 00');
    await expectClosed('00 00 00');
  });

  test('5: mode byte other than 00/01 closes', async () => {
    await expectClosed('EE AA 02');
    await expectClosed('EE AB FF');
  });

  test('4: mode 01 while TLS is not configured closes', async () => {
    await expectClosed('EE AA 01');
  });

  test('7: login LEN > 1024 closes before the body arrives', async () => {
    const c = await RawConn.open(server.port);
    c.send('EE AA 00 01 04 00 00'); // LEN = 1025, no body sent
    assert.deepEqual(await c.read(4), hex('EE AA 01 00'));
    await c.expectClose();
    await bystander.check();
  });

  test('7b: login LEN = 1024 is read in full', async () => {
    const c = await RawConn.open(server.port);
    const body = Buffer.concat([Buffer.from('x'.repeat(1000)), Buffer.from([0]), Buffer.from('y'.repeat(23))]);
    const len = Buffer.alloc(4);
    len.writeUInt32LE(body.length);
    c.send(Buffer.concat([hex('EE AA 00'), len, body]));
    await c.read(4);
    await c.expectClose(); // unknown user: closed after the bcrypt check, not before
    await bystander.check();
  });

  test('8: login body without 00 closes', async () => {
    await expectClosed('EE AA 00 03 00 00 00 61 62 63');
  });

  test('9: login or password not UTF-8 closes', async () => {
    await expectClosed('EE AA 00 04 00 00 00 FF 00 61 62');
    await expectClosed('EE AA 00 04 00 00 00 61 00 C3 28');
  });

  test('11: wrong password, unknown user, password with 00 close', async () => {
    await expectClosed(Buffer.concat([hex('EE AA 00'), loginFrame('limited', 'wrong')]));
    await expectClosed(Buffer.concat([hex('EE AA 00'), loginFrame('nobody', PASSWORD)]));
    await expectClosed(Buffer.concat([hex('EE AA 00'), loginFrame('limited', `${PASSWORD}\0x`)]));
    await expectClosed(Buffer.concat([hex('EE AA 00'), loginFrame('', PASSWORD)]));
    await server.waitForLog(/Access denied: login failed for limited from 127\.0\.0\.1:\d+/);
  });

  test('12: authenticated user without ACL entry closes', async () => {
    await expectClosed(Buffer.concat([hex('EE AA 00'), loginFrame('noacl', PASSWORD)]));
    await server.waitForLog(/Access denied: No ACL for noacl/);
  });

  test('13: anonymous and password logins get a 32-byte token ($2y$ and $2b$ hashes)', async () => {
    for (const [user, pw] of [['', ''], ['limited', PASSWORD], ['repl', PASSWORD], ['norights', PASSWORD]] as const) {
      const { ctl, token } = await login(server.port, user, pw);
      assert.equal(token.length, 32);
      ctl.send('00'); // NOP
      assert.deepEqual(await ctl.read(1), hex('01'));
      ctl.destroy();
    }
    await bystander.check();
  });

  test('greeting, login and requests in one write: answered in order, anonymous, by bcrypt and by a remembered password', async () => {
    // Anonymous and remembered logins are decided within the read; a first password login
    // waits for bcrypt. The requests behind the login are handled after it either way.
    for (const [user, pw] of [['', ''], ['limited', PASSWORD], ['limited', PASSWORD]] as const) {
      const c = await RawConn.open(server.port);
      c.send(Buffer.concat([hex('EE AA 00'), loginFrame(user, pw), hex('00 00 00')]));
      assert.deepEqual(await c.read(4), hex('EE AA 01 00'));
      assert.equal((await c.read(32)).length, 32, `token for ${user || 'anonymous'}`);
      assert.deepEqual(await c.read(3), hex('01 01 01'), `NOP replies for ${user || 'anonymous'}`);
      c.destroy();
    }
    // A remembered success is for that password only.
    await expectClosed(Buffer.concat([hex('EE AA 00'), loginFrame('limited', `${PASSWORD}x`), hex('00')]));
    await bystander.check();
  });

  test('login and requests, then a half-close (FIN): everything answered, then closed', async () => {
    // As `printf … | nc -N` does. The reference reads on to EOF and answers every request before
    // it; the first password login (bcrypt pending when the FIN arrives) got no token at all.
    for (const [user, pw] of [['', ''], ['admin', PASSWORD], ['admin', PASSWORD]] as const) {
      const c = await RawConn.open(server.port);
      c.send(Buffer.concat([hex('EE AA 00'), loginFrame(user, pw), hex('00 00')]));
      c.socket.end();
      await c.expectClose(3000, 4 + 32 + 2);
      assert.equal(c.buffered, 4 + 32 + 2, `greeting reply, token and 2 replies for ${user || 'anonymous'}`);
      c.destroy();
    }
    await bystander.check();
  });

  test('tokens are distinct and random', async () => {
    const a = await login(server.port);
    const b = await login(server.port);
    assert.notDeepEqual(a.token, b.token);
    a.ctl.destroy();
    b.ctl.destroy();
  });

  test('greeting and login split byte by byte still work', async () => {
    const c = await RawConn.open(server.port);
    for (const b of hex('EE AA 00 01 00 00 00 00')) {
      c.send(Buffer.from([b]));
      await new Promise((r) => setTimeout(r, 2));
    }
    assert.deepEqual(await c.read(4), hex('EE AA 01 00'));
    assert.equal((await c.read(32)).length, 32);
    c.destroy();
  });

  test('a burst of 100 wrong-password logins does not delay other clients', async () => {
    const conns = await Promise.all(
      Array.from({ length: 100 }, async () => {
        const c = await RawConn.open(server.port);
        c.send(Buffer.concat([hex('EE AA 00'), loginFrame('limited', 'wrong-password')]));
        return c;
      }),
    );
    const t0 = performance.now();
    await bystander.check();
    const elapsed = performance.now() - t0;
    await Promise.all(conns.map((c) => c.expectClose(5000, 4)));
    assert.ok(elapsed < 250, `bystander round trip took ${elapsed.toFixed(1)} ms during the burst`);
  });
});

describe('login policy (§10 3, 10)', () => {
  let server: Psrtd;
  before(async () => {
    server = await startPsrtd({ proto: { allow_no_tls: false }, auth: { allow_anonymous: false } });
  });
  after(async () => {
    await server.stop();
  });

  test('3: plain greeting while allow_no_tls is false closes without a reply', async () => {
    const c = await RawConn.open(server.port);
    c.send('EE AA 00 01 00 00 00 00');
    await c.expectClose();
    await server.waitForLog(/Communication without TLS is forbidden/);
  });
});

describe('anonymous disabled (§10 10)', () => {
  let server: Psrtd;
  before(async () => {
    server = await startPsrtd({ auth: { allow_anonymous: false } });
  });
  after(async () => {
    await server.stop();
  });

  test('10: anonymous login closes when allow_anonymous is false', async () => {
    const c = await RawConn.open(server.port);
    c.send('EE AA 00 01 00 00 00 00');
    await c.expectClose(3000, 4);
    await server.waitForLog(/anonymous login failed/);
  });
});
