/**
 * Client certificates (mutual TLS) on the MQTT TLS listeners: `mqtt.tls_client_ca`,
 * `require_certificate`, `use_identity_as_username`, `tls_crl`, with mosquitto_pub/sub and
 * MQTT.js over mqtts and wss; refused handshakes and their log lines; SIGHUP with a new CRL.
 */
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect as tlsConnect, type SecureVersion, type TLSSocket } from 'node:tls';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { makeTestPki, type TestPki } from '../helpers/certs.js';
import { makeClientCert, makeCrl, makeExpiredClientCert, type ClientCert } from '../helpers/client-certs.js';
import { connectPacket } from '../helpers/mqtt-raw.js';
import { MosquittoSub, mosquittoPub, requireMosquittoClients } from '../helpers/mqtt-tools.js';
import { startPsrtd, type Psrtd } from '../helpers/psrtd.js';
import { RawConn, hex } from '../helpers/raw.js';

const ACL = [
  'dev1:', '  sub: ["dev1/#"]', '  pub: ["dev1/#"]',
  'dev2:', '  sub: ["dev2/#"]', '  pub: ["dev2/#"]',
  '_:', '  sub: ["#"]', '  pub: ["#"]', '  admin: true', '',
].join('\n');

/** The TLS-failure log is rate-limited to one line a second per kind: wait out the window. */
const quietWindow = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 1100));

/** A log line written after output index `mark` that matches `pattern`. */
async function logAfter(server: Psrtd, mark: number, pattern: RegExp): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const hit = server.output.slice(mark).find((l) => pattern.test(l));
    if (hit !== undefined) return hit;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`no log line ${String(pattern)}; output after mark:\n${server.output.slice(mark).join('\n')}`);
}

describe('MQTT client certificates with use_identity_as_username', () => {
  let pki: TestPki;
  let server: Psrtd;
  let dev1: ClientCert;
  let dev2: ClientCert;
  let revoked: ClientCert;
  let foreign: ClientCert;
  let expired: ClientCert;
  let noCn: ClientCert;
  before(async () => {
    requireMosquittoClients();
    pki = makeTestPki();
    dev1 = makeClientCert(pki, 'dev1', '/CN=dev1');
    dev2 = makeClientCert(pki, 'dev2', '/CN=dev2');
    revoked = makeClientCert(pki, 'revoked', '/CN=dev1');
    foreign = makeClientCert(pki, 'foreign', '/CN=dev1', 'other-ca');
    expired = makeExpiredClientCert(pki, 'expired', '/CN=dev1');
    noCn = makeClientCert(pki, 'nocn', '/O=acme');
    const crl = readFileSync(makeCrl(pki, 'crl.pem', [revoked]), 'utf8');
    server = await startPsrtd({
      acl: ACL,
      files: { 'crl.pem': crl },
      server: { bind_stats: '127.0.0.1:0' },
      mqtt: {
        bind_tls: ['127.0.0.1:0'], wss_bind: ['127.0.0.1:0'], ws_bind: ['127.0.0.1:0'], tls_cert: pki.serverCert, tls_key: pki.serverKey,
        tls_client_ca: pki.caCert, tls_crl: 'crl.pem', require_certificate: true, use_identity_as_username: true,
      },
    });
  });
  after(async () => {
    await server.stop();
    pki.remove();
  });

  const options = (c: ClientCert | null, extra: IClientOptions = {}): IClientOptions => ({
    protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5000, ca: pki.caPem,
    ...(c === null ? {} : { cert: c.certPem, key: c.keyPem }), ...extra,
  });
  const mqtts = (c: ClientCert | null, extra: IClientOptions = {}): Promise<MqttClient> =>
    mqtt.connectAsync(`mqtts://127.0.0.1:${server.mqttTlsPort}`, options(c, extra), false);
  const wss = (c: ClientCert | null, extra: IClientOptions = {}): Promise<MqttClient> =>
    mqtt.connectAsync(`wss://127.0.0.1:${server.mqttWssPort}/mqtt`, options(c, extra), false);
  const tlsArgs = (c: ClientCert): string[] => ['--cafile', pki.caCert, '--cert', c.cert, '--key', c.key];

  it('mosquitto_sub and mosquitto_pub log in as the CN and get its ACL (another topic: SUBACK 0x80)', async () => {
    const sub = await MosquittoSub.start(server.mqttTlsPort, [...tlsArgs(dev1), '-t', 'dev1/#', '-t', 'dev2/#', '-q', '1', '-u', 'dev2', '-P', 'wrong']);
    try {
      assert.deepEqual(sub.grantedQos, [1, 128], 'dev1/# granted, dev2/# refused: the CN is the user, the CONNECT username is not');
      const pub = await mosquittoPub(server.mqttTlsPort, [...tlsArgs(dev1), '-t', 'dev1/temp', '-m', '21.5', '-q', '1']);
      assert.equal(pub.code, 0, pub.stderr + pub.stdout);
      await sub.waitMessages(1);
      assert.equal(sub.messages[0]?.payload.toString(), '21.5');
      await server.waitForLog(/mqtt: client connected: dev1@127\.0\.0\.1:\d+/);
    } finally {
      await sub.stop();
    }
  });

  it('MQTT.js over mqtts and wss: the CN is the user, the CONNECT password is not checked', async () => {
    const a = await mqtts(dev1, { username: 'dev2', password: 'not checked' });
    const b = await wss(dev1, { protocolVersion: 5 });
    try {
      // MQTT.js rejects a SUBACK that refuses every filter; the packet says with which code.
      await assert.rejects(a.subscribeAsync('dev2/#', { qos: 1 }), (e: Error & { packet?: { granted?: number[] } }) => {
        assert.deepEqual(e.packet?.granted, [128], 'dev2/# is refused to dev1 whatever the CONNECT username');
        return true;
      });
      await assert.rejects(b.subscribeAsync('dev2/#', { qos: 1 }), (e: Error & { packet?: { granted?: number[] } }) => {
        assert.deepEqual(e.packet?.granted, [0x87], 'over wss too, dev1 is the user (anonymous could subscribe)');
        return true;
      });
      await b.subscribeAsync('dev1/#', { qos: 1 });
      const got = new Promise<string>((resolve) => { b.once('message', (t, p) => { resolve(`${t}=${p.toString()}`); }); });
      await a.publishAsync('dev1/over-mqtts', 'hello', { qos: 1 });
      assert.equal(await got, 'dev1/over-mqtts=hello');
      const listed = (await (await fetch(`http://127.0.0.1:${String(server.statsPort)}/clients`)).json()) as { clients: { protocol: string; user: string }[] };
      assert.deepEqual(listed.clients.filter((c) => c.protocol === 'mqtt').map((c) => c.user), ['dev1', 'dev1'], 'the stats client list shows the CN');
    } finally {
      await Promise.all([a.endAsync(), b.endAsync()]);
    }
  });

  it('refuses a client without a certificate, with one of another CA, a revoked and an expired one; others stay connected', async () => {
    const bystander = await mqtts(dev1);
    try {
      await bystander.subscribeAsync('dev1/#', { qos: 1 });
      const cases: [string, ClientCert | null, RegExp][] = [
        ['no certificate', null, /mqtt: client 127\.0\.0\.1:\d+ error: TLS handshake failed: .*peer did not return a certificate/],
        ['another CA', foreign, /mqtt: client 127\.0\.0\.1:\d+ error: client certificate refused: .*\((UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\)/],
        ['revoked', revoked, /mqtt: client 127\.0\.0\.1:\d+ error: client certificate refused: .*\(CERT_REVOKED\)/],
        ['expired', expired, /mqtt: client 127\.0\.0\.1:\d+ error: client certificate refused: .*\(CERT_HAS_EXPIRED\)/],
      ];
      for (const [what, cert, logged] of cases) {
        await quietWindow();
        const mark = server.output.length;
        await assert.rejects(mqtts(cert), `${what}: refused`);
        await logAfter(server, mark, logged);
      }
      await quietWindow();
      const mark = server.output.length;
      await assert.rejects(wss(null), 'wss without a certificate: refused');
      await logAfter(server, mark, /mqtt: WebSocket client 127\.0\.0\.1:\d+ error: TLS handshake failed: .*peer did not return a certificate/);
      const refused = await mosquittoPub(server.mqttTlsPort, ['--cafile', pki.caCert, '-t', 'dev1/x', '-m', 'x']);
      assert.notEqual(refused.code, 0, 'mosquitto_pub without a certificate is refused');
      const got = new Promise<string>((resolve) => { bystander.once('message', (_t, p) => { resolve(p.toString()); }); });
      const pub = await mosquittoPub(server.mqttTlsPort, [...tlsArgs(dev1), '-t', 'dev1/after', '-m', 'still here', '-q', '1']);
      assert.equal(pub.code, 0, pub.stderr);
      assert.equal(await got, 'still here', 'the connected client still receives');
    } finally {
      await bystander.endAsync();
    }
  });

  it('a certificate of a CA not in tls_client_ca, sent with that CA: the log names tls_client_ca, not the CRL', async () => {
    // mosquitto_pub sends the chain its --cafile completes. With that CA in the chain, OpenSSL's
    // last error is "unable to get certificate CRL" (there is no CRL of that CA), which sent the
    // operator after tls_crl; without tls_crl it is "self signed certificate in certificate chain".
    const bundle = join(pki.dir, 'ca-and-other-ca.crt');
    writeFileSync(bundle, Buffer.concat([pki.caPem, pki.otherCaPem]));
    const expected = /client certificate refused: not issued by a CA in mqtt\.tls_client_ca \(issuer CN=psrt-node other CA; OpenSSL: .*\)$/;
    await quietWindow();
    let mark = server.output.length;
    const pub = await mosquittoPub(server.mqttTlsPort, ['--cafile', bundle, '--cert', foreign.cert, '--key', foreign.key, '-t', 'dev1/x', '-m', 'x']);
    assert.notEqual(pub.code, 0, 'refused');
    assert.match(await logAfter(server, mark, /mqtt: client 127\.0\.0\.1:\d+ error: client certificate refused: /), expected);
    await quietWindow();
    mark = server.output.length;
    await assert.rejects(wss(foreign, { ca: [pki.caPem, pki.otherCaPem] }), 'MQTT.js over wss, the same chain: refused');
    assert.match(await logAfter(server, mark, /mqtt: WebSocket client 127\.0\.0\.1:\d+ error: client certificate refused: /), expected);
  });

  it('a certificate without a CN is refused with CONNACK "not authorized" (3.1.1: 5, 5.0: 0x87)', async () => {
    await assert.rejects(mqtts(noCn), (e: Error & { code?: number }) => e.code === 5);
    await assert.rejects(mqtts(noCn, { protocolVersion: 5 }), (e: Error & { code?: number }) => e.code === 0x87);
    await logAfter(server, 0, /mqtt: client 127\.0\.0\.1:\d+ \(.*\): the client certificate has no subject CN/);
  });

  it('a reconnect that resumes its TLS session (ticket, TLS 1.3 and 1.2) gets in as the same CN', async () => {
    // OpenSSL refuses to resume a session with a verified client unless the context has a
    // session id context: without one every such reconnect failed with an internal-error alert.
    const open = async (maxVersion: SecureVersion, clientId: string, session?: Buffer): Promise<{ secure: TLSSocket; conn: RawConn; ticket: Promise<Buffer> }> => {
      const certOpts = session === undefined ? { cert: dev1.certPem, key: dev1.keyPem } : { session };
      const secure = tlsConnect({ host: '127.0.0.1', port: server.mqttTlsPort, ca: pki.caPem, maxVersion, ...certOpts });
      const ticket = new Promise<Buffer>((resolve, reject) => {
        const timer = setTimeout(() => { reject(new Error('no session ticket within 5 s')); }, 5000);
        secure.once('session', (t: Buffer) => { clearTimeout(timer); resolve(t); });
      });
      ticket.catch(() => undefined);
      await new Promise<void>((resolve, reject) => {
        secure.once('secureConnect', () => { secure.off('error', reject); resolve(); });
        secure.once('error', reject);
      });
      const conn = RawConn.fromSocket(secure);
      conn.send(connectPacket({ clientId }));
      assert.deepEqual(await conn.read(4), hex('20 02 00 00'), 'CONNACK accepted');
      return { secure, conn, ticket };
    };
    for (const v of ['TLSv1.3', 'TLSv1.2'] as const) {
      const first = await open(v, `resume-${v}`);
      const ticket = await first.ticket;
      first.conn.destroy();
      const again = await open(v, `resumed-${v}`, ticket);
      assert.equal(again.secure.isSessionReused(), true, `${v}: the session was resumed`);
      again.conn.destroy();
      await server.waitForLog(new RegExp(`mqtt: client connected: dev1@127\\.0\\.0\\.1:\\d+ \\(resumed-${v.replace('.', '\\.')}\\)`));
    }
  });

  it('the plain listeners are unaffected: no certificate, anonymous as before', async () => {
    for (const url of [`mqtt://127.0.0.1:${server.mqttPort}`, `ws://127.0.0.1:${server.mqttWsPort}/mqtt`]) {
      const plain = await mqtt.connectAsync(url, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5000 }, false);
      const [granted] = await plain.subscribeAsync('dev2/#', { qos: 1 });
      assert.equal(granted?.qos, 1, `${url}: anonymous may subscribe anywhere`);
      await plain.endAsync();
    }
  });

  it('SIGHUP with a CRL that revokes dev2: new dev2 connections are refused, dev1 still connects', async () => {
    const before = await mqtts(dev2);
    await before.endAsync();
    writeFileSync(join(server.dir, 'crl.pem'), 'not a CRL\n');
    let mark = server.output.length;
    server.proc.kill('SIGHUP');
    await logAfter(server, mark, /TLS reload failed: .*mqtt\.tls_crl: .*crl\.pem: no PEM CRL.*keeping the current identity/);
    const kept = await mqtts(dev2);
    await kept.endAsync();
    copyFileSync(makeCrl(pki, 'crl2.pem', [dev2]), join(server.dir, 'crl.pem'));
    mark = server.output.length;
    server.proc.kill('SIGHUP');
    await logAfter(server, mark, /reloaded TLS identity \(.*mqtt\.tls_client_ca: .*, mqtt\.tls_crl: .*crl\.pem\)/);
    await quietWindow();
    mark = server.output.length;
    await assert.rejects(mqtts(dev2), 'dev2 is revoked now');
    await logAfter(server, mark, /client certificate refused: .*\(CERT_REVOKED\)/);
    await assert.rejects(mqtts(revoked), 'the earlier revocation stays');
    const ok = await mqtts(dev1);
    await ok.endAsync();
  });
});
