/** `mqtt.sys_interval`: default 10 s (Mosquitto's), 0 turns `$SYS` off, anything else refused naming file, line and key. */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { embeddedDefaultConfig, parseConfigText, type ServerConfig } from '../../src/config/index.js';
import { PsrtError } from '../../src/protocol/errors.js';

const BASE = 'server: {}\nproto:\n  allow_no_tls: true\nauth:\n  allow_anonymous: true\n  acl: acl.yml\n';
const FILE = '/virtual/etc/psrtd/config.yml';

function withMqtt(lines: string): ServerConfig {
  return parseConfigText(`${BASE}mqtt:\n${lines}\n`, FILE);
}

describe('mqtt.sys_interval', () => {
  it('defaults to 10 s, in a file and in the embedded config', () => {
    assert.equal(withMqtt('  bind: 127.0.0.1:1883').mqtt?.sysInterval, 10);
    assert.equal(withMqtt('  sys_interval:').mqtt?.sysInterval, 10);
    assert.equal(embeddedDefaultConfig().mqtt?.sysInterval, 10);
  });

  it('reads 0 (off) and other whole seconds', () => {
    assert.equal(withMqtt('  sys_interval: 0').mqtt?.sysInterval, 0);
    assert.equal(withMqtt('  sys_interval: 60').mqtt?.sysInterval, 60);
  });

  for (const [value, problem] of [['-1', 'must be at least 0'], ['1.5', 'integer'], ['"10"', 'integer'], ['3000000', 'must be at most 2000000'], ['true', 'integer']] as const) {
    it(`refuses ${value}, naming the file, the key and the problem`, () => {
      assert.throws(
        () => withMqtt(`  sys_interval: ${value}`),
        (e) => e instanceof PsrtError && e.message.startsWith(`${FILE}:8: mqtt.sys_interval: `) && e.message.includes(problem),
      );
    });
  }
});
