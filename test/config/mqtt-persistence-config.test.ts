/**
 * `mqtt.persistence_file` and `mqtt.autosave_interval`. Pass criteria: absent means off (no
 * file, default interval 60 s), a relative path resolves against the config directory like the
 * other paths, and bad values fail naming the file, the line, the key and the problem.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { embeddedDefaultConfig, parseConfigText, type ServerConfig } from '../../src/config/index.js';
import { PsrtError } from '../../src/protocol/errors.js';

const FILE = '/virtual/etc/psrtd/config.yml';
const BASE = 'server: {}\nproto:\n  allow_no_tls: true\nauth:\n  allow_anonymous: true\n  acl: acl.yml\n';

function withMqtt(lines: string): ServerConfig {
  return parseConfigText(`${BASE}mqtt:\n  bind: 127.0.0.1:1883\n${lines}\n`, FILE);
}

function refused(lines: string, message: RegExp): void {
  assert.throws(() => withMqtt(lines), (e) => e instanceof PsrtError && e.message.startsWith(`${FILE}:9: `) && message.test(e.message));
}

describe('mqtt persistence config', () => {
  it('absent or null: off, autosave every 60 s', () => {
    for (const lines of ['', '  persistence_file:', '  persistence_file: null']) {
      const m = withMqtt(lines).mqtt;
      assert.ok(m !== undefined);
      assert.equal(m.persistenceFile, undefined);
      assert.equal(m.autosaveInterval, 60);
    }
    assert.equal(embeddedDefaultConfig().mqtt?.persistenceFile, undefined);
  });

  it('resolves a relative path against the config directory; absolute and ./ paths as written', () => {
    assert.equal(withMqtt('  persistence_file: retained.bin').mqtt?.persistenceFile, '/virtual/etc/psrtd/retained.bin');
    assert.equal(withMqtt('  persistence_file: /var/lib/psrtd/retained.bin').mqtt?.persistenceFile, '/var/lib/psrtd/retained.bin');
    assert.equal(withMqtt('  persistence_file: ./retained.bin').mqtt?.persistenceFile, './retained.bin');
  });

  it('reads autosave_interval', () => {
    assert.equal(withMqtt('  persistence_file: r.bin\n  autosave_interval: 1').mqtt?.autosaveInterval, 1);
    assert.equal(withMqtt('  persistence_file: r.bin\n  autosave_interval: 300').mqtt?.autosaveInterval, 300);
  });

  it('refuses bad values and unknown keys, naming key and problem', () => {
    refused('  autosave_interval: 0', /mqtt\.autosave_interval: must be at least 1/);
    refused('  autosave_interval: 0.5', /mqtt\.autosave_interval: must be at least 1/);
    refused('  autosave_interval: soon', /mqtt\.autosave_interval: expected a number/);
    refused('  persistence_file: ""', /mqtt\.persistence_file: /);
    refused('  persistence_file: [a, b]', /mqtt\.persistence_file: /);
    refused('  persistence: true', /mqtt\.persistence: unknown key/);
  });
});
