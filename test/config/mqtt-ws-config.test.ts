/** The `mqtt:` WebSocket keys: ws_bind, wss_bind, ws_path, ws_origins, ws_deflate, and the embedded default. */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { embeddedDefaultConfig, parseConfigText, type ServerConfig } from '../../src/config/index.js';
import { PsrtError } from '../../src/protocol/errors.js';

const BASE = 'server: {}\nproto:\n  allow_no_tls: true\nauth:\n  allow_anonymous: true\n  acl: acl.yml\n';

function withMqtt(lines: string): ServerConfig {
  return parseConfigText(`${BASE}mqtt:\n${lines}\n`, '/virtual/etc/psrtd/config.yml');
}

describe('mqtt WebSocket config', () => {
  it('defaults: no WebSocket listener, path /mqtt, any origin, no deflate', () => {
    const m = withMqtt('  bind: 127.0.0.1:1883').mqtt;
    assert.ok(m !== undefined);
    assert.deepEqual([m.wsBind, m.wssBind, m.wsPath, m.wsOrigins, m.wsDeflate], [[], [], '/mqtt', [], false]);
  });

  it('reads every key', () => {
    const m = withMqtt(
      '  ws_bind: [127.0.0.1:9001, "[::1]:9001"]\n  wss_bind: 0.0.0.0:9443\n  ws_path: /ws\n  ws_origins: https://hmi.example\n  ws_deflate: true',
    ).mqtt;
    assert.ok(m !== undefined);
    assert.deepEqual(m.wsBind.map((b) => (b.kind === 'tcp' ? b.port : 0)), [9001, 9001]);
    assert.deepEqual(m.wssBind.map((b) => (b.kind === 'tcp' ? b.host : '')), ['0.0.0.0']);
    assert.deepEqual([m.wsPath, m.wsOrigins, m.wsDeflate], ['/ws', ['https://hmi.example'], true]);
  });

  it('rejects a path without a leading slash and a bad bind address', () => {
    assert.throws(() => withMqtt('  ws_path: mqtt'), (e) => e instanceof PsrtError && e.message.includes('ws_path'));
    assert.throws(() => withMqtt('  ws_bind: nonsense'), (e) => e instanceof PsrtError && e.message.includes('mqtt.ws_bind'));
  });

  it('ws_trusted_proxies: IP addresses, normalised; anything else is refused with its key and line', () => {
    assert.deepEqual(withMqtt('  ws_trusted_proxies: 127.0.0.1').mqtt?.wsTrustedProxies, ['127.0.0.1']);
    assert.deepEqual(withMqtt('  ws_trusted_proxies: ["::FFFF:10.0.0.1", "2001:DB8::1"]').mqtt?.wsTrustedProxies, ['10.0.0.1', '2001:db8::1']);
    assert.deepEqual(withMqtt('  bind: 127.0.0.1:1883').mqtt?.wsTrustedProxies, []);
    for (const bad of ['proxy.example.com', '10.0.0.0/8', '127.0.0.1:8080']) {
      assert.throws(
        () => withMqtt(`  ws_trusted_proxies: [127.0.0.1, "${bad}"]`),
        (e) => e instanceof PsrtError && /config\.yml:\d+: mqtt\.ws_trusted_proxies\[1\]: expected the IP address of a proxy/.test(e.message),
      );
    }
  });

  it('the embedded config serves MQTT over WebSocket on 127.0.0.1:9001/mqtt', () => {
    const m = embeddedDefaultConfig().mqtt;
    assert.ok(m !== undefined);
    assert.deepEqual(m.wsBind.map((b) => (b.kind === 'tcp' ? b.address : '')), ['127.0.0.1:9001']);
    assert.equal(m.wsPath, '/mqtt');
  });
});
