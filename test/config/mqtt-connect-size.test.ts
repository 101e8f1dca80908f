/** `mqtt.max_connect_size`: the largest CONNECT, i.e. what an unauthenticated peer can make the server buffer. */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { embeddedDefaultConfig, parseConfigText, type ServerConfig } from '../../src/config/index.js';
import { PsrtError } from '../../src/protocol/errors.js';

const BASE = 'server: {}\nproto:\n  allow_no_tls: true\nauth:\n  allow_anonymous: true\n  acl: acl.yml\n';

function withMqtt(lines: string): ServerConfig {
  return parseConfigText(`${BASE}mqtt:\n${lines}\n`, '/virtual/etc/psrtd/config.yml');
}

describe('mqtt.max_connect_size', () => {
  it('defaults to 65536, in the file and in the embedded config', () => {
    assert.equal(withMqtt('  bind: 127.0.0.1:1883').mqtt?.maxConnectSize, 65_536);
    assert.equal(embeddedDefaultConfig().mqtt?.maxConnectSize, 65_536);
  });

  it('reads a value', () => {
    assert.equal(withMqtt('  max_connect_size: 1048576').mqtt?.maxConnectSize, 1_048_576);
  });

  it('rejects values outside 64 … 268435460', () => {
    for (const v of ['63', '268435461', '1.5']) {
      assert.throws(() => withMqtt(`  max_connect_size: ${v}`), (e) => e instanceof PsrtError && e.message.includes('max_connect_size'));
    }
  });
});
