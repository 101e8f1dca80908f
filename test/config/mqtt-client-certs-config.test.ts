/** The `mqtt:` client-certificate keys: tls_client_ca, tls_crl, require_certificate, use_identity_as_username. */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { embeddedDefaultConfig, parseConfigText, type ServerConfig } from '../../src/config/index.js';
import { PsrtError } from '../../src/protocol/errors.js';

const FILE = '/virtual/etc/psrtd/config.yml';
const BASE = 'server: {}\nproto:\n  allow_no_tls: true\nauth:\n  allow_anonymous: true\n  acl: acl.yml\n';

function withMqtt(lines: string[]): ServerConfig {
  return parseConfigText(`${BASE}mqtt:\n${lines.map((l) => `  ${l}`).join('\n')}\n`, FILE);
}

/** The line of `mqtt.<name>` in withMqtt(lines): BASE has 6 lines, `mqtt:` is line 7. */
function lineOf(lines: string[], key: string): number {
  const name = key.slice('mqtt.'.length);
  const i = lines.findIndex((l) => l.startsWith(`${name}:`));
  assert.ok(i >= 0, `${name} is not among the test's lines`);
  return 8 + i;
}

/** Asserts a config error naming the file and line, the key and the problem. */
function refused(lines: string[], key: string, problem: RegExp): void {
  const line = lineOf(lines, key);
  assert.throws(() => withMqtt(lines), (e) => {
    assert.ok(e instanceof PsrtError);
    assert.ok(e.message.startsWith(`${FILE}:${line}: ${key}: `), e.message);
    assert.match(e.message, problem);
    return true;
  });
}

describe('mqtt client certificate config', () => {
  it('defaults: off', () => {
    for (const m of [withMqtt(['bind_tls: 127.0.0.1:8883']).mqtt, embeddedDefaultConfig().mqtt]) {
      assert.ok(m !== undefined);
      assert.deepEqual([m.tlsClientCa, m.tlsCrl, m.requireCertificate, m.useIdentityAsUsername], [undefined, [], false, false]);
    }
  });

  it('reads every key; files are relative to the config directory', () => {
    const m = withMqtt([
      'bind_tls: 127.0.0.1:8883', 'tls_client_ca: clients-ca.pem', 'tls_crl: [root.crl, /etc/pki/sub.crl]',
      'require_certificate: true', 'use_identity_as_username: true',
    ]).mqtt;
    assert.ok(m !== undefined);
    assert.equal(m.tlsClientCa, '/virtual/etc/psrtd/clients-ca.pem');
    assert.deepEqual(m.tlsCrl, ['/virtual/etc/psrtd/root.crl', '/etc/pki/sub.crl']);
    assert.deepEqual([m.requireCertificate, m.useIdentityAsUsername], [true, true]);
    assert.deepEqual(withMqtt(['wss_bind: 127.0.0.1:9443', 'tls_client_ca: ca.pem', 'tls_crl: one.crl', 'require_certificate: true']).mqtt?.tlsCrl, ['/virtual/etc/psrtd/one.crl']);
  });

  it('each key needs the one before it, and a TLS listener', () => {
    refused(['bind_tls: 127.0.0.1:8883', 'require_certificate: true'], 'mqtt.require_certificate', /needs mqtt\.tls_client_ca/);
    refused(['bind_tls: 127.0.0.1:8883', 'tls_client_ca: ca.pem'], 'mqtt.tls_client_ca', /without mqtt\.require_certificate: true/);
    refused(['bind_tls: 127.0.0.1:8883', 'tls_crl: x.crl'], 'mqtt.tls_crl', /needs mqtt\.tls_client_ca/);
    refused(['bind_tls: 127.0.0.1:8883', 'use_identity_as_username: true'], 'mqtt.use_identity_as_username', /needs mqtt\.require_certificate: true/);
    refused(['bind: 127.0.0.1:1883', 'tls_client_ca: ca.pem', 'require_certificate: true'], 'mqtt.require_certificate', /neither mqtt\.bind_tls nor mqtt\.wss_bind/);
  });

  it('strict types and names', () => {
    refused(['require_certificate: "yes"'], 'mqtt.require_certificate', /expected true or false/);
    assert.throws(() => withMqtt(['use_subject_as_username: true']), (e) => e instanceof PsrtError && e.message.includes('use_subject_as_username'));
  });
});
