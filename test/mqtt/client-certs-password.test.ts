/**
 * `mqtt.require_certificate` without `use_identity_as_username`: a valid certificate AND the
 * password (as today); the identity of `proto.tls_*` is used with the MQTT client CA. And the
 * start errors of unusable client CA / CRL files.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { makeTestPki, type TestPki } from '../helpers/certs.js';
import { makeClientCert, type ClientCert } from '../helpers/client-certs.js';
import { PSRTD_BIN, startPsrtd, writeConfig, type Psrtd, type PsrtdOptions } from '../helpers/psrtd.js';
import { hex, loginFrame } from '../helpers/raw.js';
import { tlsOpen } from '../helpers/tls-peer.js';
import { makePasswd, PASSWORD, TEST_ACL } from '../helpers/users.js';

describe('require_certificate with username and password', () => {
  let pki: TestPki;
  let server: Psrtd;
  let device: ClientCert;
  before(async () => {
    pki = makeTestPki();
    device = makeClientCert(pki, 'device', '/CN=admin');
    server = await startPsrtd({
      passwd: makePasswd(),
      acl: TEST_ACL,
      auth: { allow_anonymous: false },
      proto: { tls_cert: pki.serverCert, tls_key: pki.serverKey },
      mqtt: { bind_tls: ['127.0.0.1:0'], tls_client_ca: pki.caCert, require_certificate: true },
    });
  });
  after(async () => {
    await server.stop();
    pki.remove();
  });

  const mqtts = (extra: IClientOptions): Promise<MqttClient> =>
    mqtt.connectAsync(`mqtts://127.0.0.1:${server.mqttTlsPort}`, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5000, ca: pki.caPem, ...extra }, false);

  it('a valid certificate and the right password log in as the CONNECT user (not the CN)', async () => {
    const c = await mqtts({ cert: device.certPem, key: device.keyPem, username: 'limited', password: PASSWORD });
    const [granted] = await c.subscribeAsync('allowed/x', { qos: 1 });
    assert.equal(granted?.qos, 1);
    await c.endAsync();
    await server.waitForLog(/mqtt: client connected: limited@127\.0\.0\.1:\d+/);
  });

  it('a valid certificate with a wrong password or no username is refused by the login', async () => {
    await assert.rejects(mqtts({ cert: device.certPem, key: device.keyPem, username: 'limited', password: 'wrong' }), (e: Error & { code?: number }) => e.code === 4);
    await assert.rejects(mqtts({ cert: device.certPem, key: device.keyPem }), (e: Error & { code?: number }) => e.code === 5);
  });

  it('the PSRT listener, sharing the proto.tls_* files, asks for no client certificate', async () => {
    const conn = await tlsOpen(server.port, { ca: pki.caPem, kind: 'control' });
    conn.send(loginFrame('limited', PASSWORD));
    assert.deepEqual(await conn.read(4), hex('EE AA 01 00'), 'PSRT STARTTLS login without a certificate');
    conn.destroy();
  });

  it('the right password without a certificate is refused by the handshake', async () => {
    await assert.rejects(mqtts({ username: 'limited', password: PASSWORD }));
    await server.waitForLog(/mqtt: client 127\.0\.0\.1:\d+ error: TLS handshake failed: .*peer did not return a certificate/);
  });
});

describe('client CA and CRL files that cannot be used stop psrtd at start', () => {
  let pki: TestPki;
  let dir: string;
  before(() => {
    pki = makeTestPki();
    dir = mkdtempSync(join(tmpdir(), 'psrtd-mtls-'));
    writeFileSync(join(dir, 'garbage.pem'), 'not a certificate\n');
  });
  after(() => {
    pki.remove();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Runs psrtd on a config that must not start; returns its exit code and output. */
  const failedStart = (mqttKeys: Record<string, string | boolean | string[]>): { code: number | null; output: string } => {
    const opts: PsrtdOptions = { mqtt: { bind_tls: ['127.0.0.1:0'], tls_cert: pki.serverCert, tls_key: pki.serverKey, require_certificate: true, ...mqttKeys } };
    const file = writeConfig(dir, opts);
    const r = spawnSync(process.execPath, [PSRTD_BIN, '-C', file], { encoding: 'utf8', timeout: 20_000, env: { ...process.env, INVOCATION_ID: 'test' } });
    return { code: r.status, output: r.stdout + r.stderr };
  };

  it('a missing CA file, a file without certificates, a CRL file without a CRL', () => {
    const missing = failedStart({ tls_client_ca: 'missing-ca.pem' });
    assert.notEqual(missing.code, 0);
    assert.match(missing.output, /mqtt\.tls_client_ca: .*missing-ca\.pem.*(ENOENT|no such file)/i);
    const garbage = failedStart({ tls_client_ca: 'garbage.pem' });
    assert.notEqual(garbage.code, 0);
    assert.match(garbage.output, /mqtt\.tls_client_ca: .*garbage\.pem: no PEM certificate/);
    const crl = failedStart({ tls_client_ca: pki.caCert, tls_crl: ['garbage.pem'] });
    assert.notEqual(crl.code, 0);
    assert.match(crl.output, /mqtt\.tls_crl: .*garbage\.pem: no PEM CRL/);
  });
});
