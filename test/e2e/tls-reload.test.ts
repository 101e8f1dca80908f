/**
 * Certificate rotation on SIGHUP: new TLS connections on every listener (PSRT STARTTLS,
 * `mqtt.bind_tls`, `mqtt.wss_bind`) get the replaced identity, open connections keep theirs,
 * and a broken replacement (mismatched pair, missing file, expired certificate) is refused with
 * a log line naming the files while the current identity stays in use.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import mqtt from 'mqtt';
import { makeExpiredCert, makeTestPki, type TestPki } from '../helpers/certs.js';
import { startPsrtd, type Psrtd } from '../helpers/psrtd.js';
import { tlsOpen } from '../helpers/tls-peer.js';

function fingerprint(certFile: string): string {
  return new X509Certificate(readFileSync(certFile)).fingerprint256;
}

/** Fingerprint of the certificate a TLS-from-the-first-byte listener serves. */
function servedBy(port: number, ca: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const s: TLSSocket = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ca }, () => {
      resolve(s.getPeerCertificate().fingerprint256);
      s.destroy();
    });
    s.once('error', reject);
  });
}

/** Fingerprint of the certificate PSRT STARTTLS serves (control greeting). */
async function servedByStarttls(port: number, ca: Buffer): Promise<string> {
  let secure: TLSSocket | null = null;
  const conn = await tlsOpen(port, { ca, onSocket: (s) => { secure = s; } });
  const fp = (secure as TLSSocket | null)?.getPeerCertificate().fingerprint256 ?? '';
  conn.socket.destroy();
  return fp;
}

let a: TestPki;
let b: TestPki;
let ca: Buffer;
let dir: string;
before(() => {
  a = makeTestPki();
  b = makeTestPki();
  ca = Buffer.concat([a.caPem, b.caPem]);
  dir = mkdtempSync(join(tmpdir(), 'psrt-rotate-'));
});
after(() => {
  a.remove();
  b.remove();
  rmSync(dir, { recursive: true, force: true });
});

/** Puts `cert` and `key` where the config points (the way an operator's deploy script does). */
function install(prefix: string, cert: string, key: string): void {
  copyFileSync(cert, join(dir, `${prefix}.crt`));
  copyFileSync(key, join(dir, `${prefix}.key`));
}

/** Sends SIGHUP and resolves with the log lines written after it, once one matches `done`. */
async function hup(server: Psrtd, done: RegExp): Promise<string> {
  const seen = server.output.length;
  server.proc.kill('SIGHUP');
  for (let i = 0; i < 100; i++) {
    const log = server.output.slice(seen).join('\n');
    if (done.test(log)) return log;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`no ${String(done)} after SIGHUP`);
}

describe('SIGHUP reloads the PSRT identity (shared by mqtts and wss)', () => {
  let server: Psrtd;
  let client: mqtt.MqttClient;
  before(async () => {
    install('psrt', a.serverCert, a.serverKey);
    server = await startPsrtd({
      proto: { tls_cert: join(dir, 'psrt.crt'), tls_key: join(dir, 'psrt.key'), timeout: 5 },
      mqtt: { bind_tls: ['127.0.0.1:0'], wss_bind: ['127.0.0.1:0'] },
    });
    client = await mqtt.connectAsync(`mqtts://localhost:${server.mqttTlsPort}`, { reconnectPeriod: 0, ca });
  });
  after(async () => {
    await client.endAsync();
    assert.equal(await server.stop(), 0);
  });

  test('new connections get the new certificate; an open connection keeps working', async () => {
    const old = fingerprint(a.serverCert);
    assert.equal(await servedByStarttls(server.port, ca), old);
    assert.equal(await servedBy(server.mqttTlsPort, ca), old);
    install('psrt', b.serverCert, b.serverKey);
    const log = await hup(server, /reloaded TLS identity/);
    assert.match(log, /reloaded TLS identity \(proto\.tls_cert: .*psrt\.crt, proto\.tls_key: .*psrt\.key\)/);
    const now = fingerprint(b.serverCert);
    assert.equal(await servedByStarttls(server.port, ca), now);
    assert.equal(await servedBy(server.mqttTlsPort, ca), now);
    assert.equal(await servedBy(server.mqttWssPort, ca), now);
    await client.subscribeAsync('rot/#');
    const got = new Promise<string>((resolve) => client.once('message', (_t, p) => { resolve(p.toString()); }));
    await client.publishAsync('rot/a', 'still here');
    assert.equal(await got, 'still here');
  });

  test('a broken replacement is refused with the files named; the current identity stays', async () => {
    const current = fingerprint(b.serverCert);
    const cases: [string, () => void, RegExp][] = [
      ['mismatched pair', () => { install('psrt', a.serverCert, b.serverKey); }, /key values mismatch/],
      ['missing key', () => { rmSync(join(dir, 'psrt.key')); }, /ENOENT/],
      ['expired certificate', () => { install('psrt', makeExpiredCert(a), a.serverKey); }, /expired on/],
    ];
    for (const [name, breakIt, why] of cases) {
      breakIt();
      const log = await hup(server, /TLS reload failed/);
      assert.match(log, /TLS reload failed: .*proto\.tls_cert: .*psrt\.crt, proto\.tls_key: .*psrt\.key/, name);
      assert.match(log, why, name);
      assert.equal(await servedByStarttls(server.port, ca), current, name);
      assert.equal(await servedBy(server.mqttTlsPort, ca), current, name);
    }
  });
});

/** A TLS connection to `port` (optionally resuming `session`): its first ticket and whether it resumed. */
function ticketAndReuse(port: number, ca: Buffer, session?: Buffer): Promise<{ ticket: Buffer; reused: boolean }> {
  return new Promise((resolve, reject) => {
    const s: TLSSocket = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ca, ...(session === undefined ? {} : { session }) });
    const timer = setTimeout(() => { s.destroy(); reject(new Error('no session ticket within 5 s')); }, 5000);
    // A resumed connection may get no new ticket: its answer is the handshake itself.
    if (session !== undefined) {
      s.once('secureConnect', () => {
        clearTimeout(timer);
        resolve({ ticket: session, reused: s.isSessionReused() });
        s.destroy();
      });
    }
    s.once('session', (ticket: Buffer) => {
      clearTimeout(timer);
      resolve({ ticket, reused: s.isSessionReused() });
      s.destroy();
    });
    s.once('error', (e: Error) => { clearTimeout(timer); reject(e); });
  });
}

describe('SIGHUP with unchanged identity files', () => {
  test('keeps the identity and its ticket keys: a session from before the reload resumes after it', async () => {
    install('psrt', a.serverCert, a.serverKey);
    const server = await startPsrtd({
      proto: { tls_cert: join(dir, 'psrt.crt'), tls_key: join(dir, 'psrt.key'), timeout: 5 },
      mqtt: { bind_tls: ['127.0.0.1:0'] },
    });
    try {
      const first = await ticketAndReuse(server.mqttTlsPort, ca);
      // The TLS identity is reloaded synchronously right after this line (an ACL or password
      // change is the usual reason for a SIGHUP; it must not cost every client a full handshake).
      const log = await hup(server, /SIGHUP received/);
      assert.doesNotMatch(log, /reloaded TLS identity/);
      const again = await ticketAndReuse(server.mqttTlsPort, ca, first.ticket);
      assert.equal(again.reused, true, 'the session from before the SIGHUP is resumed');
    } finally {
      assert.equal(await server.stop(), 0);
    }
  });
});

describe('SIGHUP reloads an own mqtt.tls_* identity', () => {
  test('mqtts serves the new certificate, the PSRT listener keeps its own', async () => {
    install('psrt', a.serverCert, a.serverKey);
    install('mqtt', a.serverCert, a.serverKey);
    const server = await startPsrtd({
      proto: { tls_cert: join(dir, 'psrt.crt'), tls_key: join(dir, 'psrt.key'), timeout: 5 },
      mqtt: { bind_tls: ['127.0.0.1:0'], tls_cert: join(dir, 'mqtt.crt'), tls_key: join(dir, 'mqtt.key') },
    });
    try {
      install('mqtt', b.serverCert, b.serverKey);
      const log = await hup(server, /reloaded TLS identity \(mqtt\./);
      assert.match(log, /reloaded TLS identity \(mqtt\.tls_cert: .*mqtt\.crt, mqtt\.tls_key: .*mqtt\.key\)/);
      assert.equal(await servedBy(server.mqttTlsPort, ca), fingerprint(b.serverCert));
      assert.equal(await servedByStarttls(server.port, ca), fingerprint(a.serverCert));
    } finally {
      assert.equal(await server.stop(), 0);
    }
  });
});
