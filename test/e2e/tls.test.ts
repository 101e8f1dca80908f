/**
 * STARTTLS end to end (PROTOCOL.md §4, §9.3, §10 items 3–6; SERVER.md §4.4–4.5) against a real
 * psrtd, with a PKI generated at test time (test/helpers/certs.ts).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeTestPki, type TestPki } from '../helpers/certs.js';
import { PSRTD_BIN, startPsrtd, writeConfig, type Psrtd, type PsrtdOptions } from '../helpers/psrtd.js';
import { Bystander, RawConn, attachData, deliveredFrame, hex, login, publishFrame, topicsFrame } from '../helpers/raw.js';
import { tlsAttachData, tlsLogin, tlsOpen } from '../helpers/tls-peer.js';
import { PASSWORD, TEST_ACL, makePasswd } from '../helpers/users.js';

async function ok(conn: RawConn, frame: Buffer): Promise<void> {
  conn.send(frame);
  assert.deepEqual(await conn.read(1), Buffer.from([1]));
}

/** Publishes on `pub` and expects the delivered frame on `data`. */
async function roundTrip(pub: RawConn, data: RawConn, topic: string, payload: string): Promise<void> {
  await ok(pub, publishFrame(topic, payload));
  assert.deepEqual(await data.read(deliveredFrame(topic, payload).length), deliveredFrame(topic, payload));
}

/** Runs psrtd with a config that must not start; resolves with exit code and output. */
function runFailing(opts: PsrtdOptions, env: Record<string, string> = {}): Promise<{ code: number | null; out: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'psrtd-fail-'));
  const config = writeConfig(dir, opts);
  const proc = spawn(process.execPath, [PSRTD_BIN, '-C', config], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, INVOCATION_ID: 'test', ...env },
  });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const killer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
  return new Promise((resolve) => {
    proc.once('exit', (code) => {
      clearTimeout(killer);
      rmSync(dir, { recursive: true, force: true });
      resolve({ code, out });
    });
  });
}

let pki: TestPki;
before(() => {
  pki = makeTestPki();
});
after(() => {
  pki.remove();
});

describe('STARTTLS with a PEM identity', () => {
  let server: Psrtd;
  let bystander: Bystander;
  before(async () => {
    server = await startPsrtd({
      acl: TEST_ACL,
      passwd: makePasswd(),
      proto: { tls_cert: pki.serverCert, tls_key: pki.serverKey, timeout: 10 },
    });
    bystander = await Bystander.create(server.port);
  });
  after(async () => {
    bystander.close();
    assert.equal(await server.stop(), 0);
  });

  test('greeting + ClientHello in one write: the reply EE AA 01 00 arrives inside TLS', async () => {
    const { ctl, token } = await tlsLogin(server.port, pki.caPem);
    assert.equal(token.length, 32);
    await ok(ctl, hex('00')); // NOP
    await server.waitForLog(/127\.0\.0\.1:\d+ using TLS connection/);
    ctl.destroy();
  });

  test('greeting and ClientHello in separate segments', async () => {
    const c = await tlsOpen(server.port, { ca: pki.caPem, separate: true });
    c.send(hex('01 00 00 00 00'));
    assert.deepEqual(await c.read(4), hex('EE AA 01 00'));
    assert.equal((await c.read(32)).length, 32);
    c.destroy();
  });

  test('TLS control + TLS data socket and plain clients share topics', async () => {
    const tlsSide = await tlsLogin(server.port, pki.caPem, 'limited', PASSWORD);
    const tlsData = await tlsAttachData(server.port, pki.caPem, tlsSide.token);
    const plainSide = await login(server.port);
    const plainData = await attachData(server.port, plainSide.token, 255);
    await ok(tlsSide.ctl, topicsFrame(2, ['allowed/#']));
    await ok(plainSide.ctl, topicsFrame(2, ['allowed/#']));
    // plain → TLS and TLS → plain (each subscriber also gets its own message)
    await roundTrip(plainSide.ctl, tlsData, 'allowed/a', 'from plain');
    assert.deepEqual(await plainData.read(deliveredFrame('allowed/a', 'from plain').length), deliveredFrame('allowed/a', 'from plain'));
    await roundTrip(tlsSide.ctl, plainData, 'allowed/b', 'from tls');
    assert.deepEqual(await tlsData.read(deliveredFrame('allowed/b', 'from tls').length), deliveredFrame('allowed/b', 'from tls'));
    // an ACL denial over TLS is an FE like on plain TCP
    tlsSide.ctl.send(publishFrame('denied/x', 'no'));
    assert.deepEqual(await tlsSide.ctl.read(1), hex('FE'));
    for (const c of [tlsSide.ctl, tlsData, plainSide.ctl, plainData]) c.destroy();
  });

  test('a client trusting another CA fails cleanly; the server logs it and carries on', async () => {
    await assert.rejects(tlsOpen(server.port, { ca: pki.otherCaPem }), (e: NodeJS.ErrnoException) => {
      assert.match(String(e.code), /UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT/);
      return true;
    });
    await server.waitForLog(/Client 127\.0\.0\.1:\d+ error\. I\/O error: TLS handshake failed/);
    await assert.rejects(tlsOpen(server.port, { ca: pki.caPem, servername: 'example.com' }), {
      code: 'ERR_TLS_CERT_ALTNAME_INVALID',
    });
    await bystander.check();
    (await tlsLogin(server.port, pki.caPem)).ctl.destroy();
  });

  test('a garbage "ClientHello" is dropped at once without affecting others', async () => {
    const c = await RawConn.open(server.port);
    c.send(Buffer.concat([hex('EE AA 01'), Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')]));
    await c.expectClose(1500, 0); // long before T (10 s): a TLS alert at most, never plain bytes
    await bystander.check();
    const d = await RawConn.open(server.port);
    d.send(Buffer.concat([hex('EE AB 01 16 03 01 00 05'), Buffer.alloc(5, 0xff)]));
    await d.expectClose(1500, 64);
    await bystander.check();
  });

  test('a plain data socket may serve a TLS control session and vice versa', async () => {
    const tlsSide = await tlsLogin(server.port, pki.caPem);
    const plainData = await attachData(server.port, tlsSide.token, 255);
    await ok(tlsSide.ctl, topicsFrame(2, ['mix']));
    await roundTrip(tlsSide.ctl, plainData, 'mix', 'm');
    tlsSide.ctl.destroy();
    plainData.destroy();
  });
});

describe('TLS handshake deadline (T = 1 s)', () => {
  let server: Psrtd;
  before(async () => {
    server = await startPsrtd({ proto: { tls_cert: pki.serverCert, tls_key: pki.serverKey, timeout: 1 } });
  });
  after(async () => {
    assert.equal(await server.stop(), 0);
  });

  test('no ClientHello after the TLS greeting: dropped after T', async () => {
    const c = await RawConn.open(server.port);
    const started = performance.now();
    c.send('EE AA 01');
    await c.expectClose(3000);
    const elapsed = performance.now() - started;
    assert.ok(elapsed > 800 && elapsed < 2500, `closed after ${elapsed} ms`);
    await server.waitForLog(/error\. Timeout: TLS handshake timed out/);
  });

  test('half a ClientHello: dropped after T; a good client still works', async () => {
    const c = await RawConn.open(server.port);
    c.send('EE AA 01 16 03 01 02 00 01 00 01 fc 03 03'); // record header promising 512 bytes
    await c.expectClose(3000);
    const { ctl } = await tlsLogin(server.port, pki.caPem);
    await ok(ctl, hex('00'));
    ctl.destroy();
  });
});

describe('allow_no_tls: false', () => {
  let server: Psrtd;
  before(async () => {
    server = await startPsrtd({
      proto: { tls_cert: pki.serverCert, tls_key: pki.serverKey, allow_no_tls: false, timeout: 10 },
    });
  });
  after(async () => {
    assert.equal(await server.stop(), 0);
  });

  test('plain control and data greetings are closed without a reply', async () => {
    for (const greeting of ['EE AA 00 01 00 00 00 00', 'EE AB 00']) {
      const c = await RawConn.open(server.port);
      c.send(greeting);
      await c.expectClose(3000, 0);
    }
    await server.waitForLog(/I\/O error: Communication without TLS is forbidden/);
  });

  test('TLS control and data sockets are accepted', async () => {
    const { ctl, token } = await tlsLogin(server.port, pki.caPem);
    const data = await tlsAttachData(server.port, pki.caPem, token);
    await ok(ctl, topicsFrame(2, ['t']));
    await roundTrip(ctl, data, 't', 'secure only');
    ctl.destroy();
    data.destroy();
  });
});

describe('PKCS#12 identity and fips', () => {
  test('tls_pkcs12 (empty password) serves TLS; fips: true is reported as unsupported', async () => {
    const server = await startPsrtd({ proto: { tls_pkcs12: pki.serverP12, fips: true, timeout: 10 } });
    try {
      await server.waitForLog(/loading TLS PKCS12 .*server\.p12/);
      await server.waitForLog(/fips.*not supported/i);
      const { ctl, token } = await tlsLogin(server.port, pki.caPem);
      const data = await tlsAttachData(server.port, pki.caPem, token);
      await ok(ctl, topicsFrame(2, ['p12']));
      await roundTrip(ctl, data, 'p12', 'x');
      ctl.destroy();
      data.destroy();
    } finally {
      assert.equal(await server.stop(), 0);
    }
  });

  test('a legacy-encrypted PKCS#12 fails start-up with a hint; the legacy provider loads it', async (t) => {
    const legacy = pki.serverP12Legacy;
    if (legacy === null) {
      t.skip('this openssl cannot write legacy PKCS#12');
      return;
    }
    const failed = await runFailing({ proto: { tls_pkcs12: legacy } });
    assert.equal(failed.code, 1);
    assert.match(failed.out, /unable to load TLS identity.*legacy/s);
    const server = await startPsrtd({ proto: { tls_pkcs12: legacy }, env: { NODE_OPTIONS: '--openssl-legacy-provider' } });
    try {
      (await tlsLogin(server.port, pki.caPem)).ctl.destroy();
    } finally {
      assert.equal(await server.stop(), 0);
    }
  });

  test('a broken identity is fatal at start-up', async () => {
    const mismatched = await runFailing({ proto: { tls_cert: pki.caCert, tls_key: pki.serverKey } });
    assert.equal(mismatched.code, 1);
    assert.ok(mismatched.out.includes(`unable to load TLS identity (proto.tls_cert: ${pki.caCert}, proto.tls_key: ${pki.serverKey})`), mismatched.out);
    const missing = await runFailing({ proto: { tls_pkcs12: join(pki.dir, 'nope.p12') } });
    assert.equal(missing.code, 1);
    assert.ok(missing.out.includes(`unable to load TLS identity (proto.tls_pkcs12: ${join(pki.dir, 'nope.p12')})`), missing.out);
    // A PEM that is not one: OpenSSL's message alone does not say which file it read.
    const garbage = join(pki.dir, 'garbage.pem');
    writeFileSync(garbage, 'not a certificate\n');
    const bad = await runFailing({ proto: { tls_cert: garbage, tls_key: pki.serverKey } });
    assert.equal(bad.code, 1);
    assert.ok(bad.out.includes(`(proto.tls_cert: ${garbage}, proto.tls_key: ${pki.serverKey})`), bad.out);
  });

  test('an encrypted key or a PKCS#12 with a password fails start-up saying so', async () => {
    // psrtd has no passphrase option (nor has the reference): OpenSSL's own words are
    // `bad decrypt` and `mac verify failure`, which do not tell an operator what to change.
    const encKey = join(pki.dir, 'server-enc.key');
    execFileSync('openssl', ['pkcs8', '-topk8', '-in', pki.serverKey, '-out', encKey, '-passout', 'pass:secret']);
    const enc = await runFailing({ proto: { tls_cert: pki.serverCert, tls_key: encKey } });
    assert.equal(enc.code, 1);
    assert.match(enc.out, /unable to load TLS identity \(proto\.tls_cert: .*, proto\.tls_key: .*server-enc\.key\): .*the private key is encrypted/, enc.out);
    const p12 = join(pki.dir, 'server-pass.p12');
    execFileSync('openssl', ['pkcs12', '-export', '-in', pki.serverCert, '-inkey', pki.serverKey, '-out', p12, '-passout', 'pass:secret']);
    const pass = await runFailing({ proto: { tls_pkcs12: p12 } });
    assert.equal(pass.code, 1);
    assert.match(pass.out, /unable to load TLS identity \(proto\.tls_pkcs12: .*server-pass\.p12\): .*PKCS#12 file needs an empty password/, pass.out);
  });

  test('without a TLS identity a TLS greeting is closed', async () => {
    const server = await startPsrtd();
    try {
      const c = await RawConn.open(server.port);
      c.send('EE AA 01');
      await c.expectClose(3000, 0);
      await server.waitForLog(/I\/O error: TLS is not configured/);
    } finally {
      assert.equal(await server.stop(), 0);
    }
  });
});
