import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseBridgesSection, type BridgesConfig } from '../../src/bridges/config.js';
import { parseConfigText } from '../../src/config/index.js';
import { ErrorCode, PsrtError } from '../../src/protocol/errors.js';
import { parseYaml } from '../../src/auth/yaml-validate.js';

const FILE = '/virtual/config.yml';
const dir = mkdtempSync(join(tmpdir(), 'bridges-config-'));
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

function parse(yaml: string, configDir = dir): ReturnType<typeof parseBridgesSection> {
  const { data, lines } = parseYaml(yaml, FILE);
  return parseBridgesSection(data, FILE, configDir, lines);
}

function problem(yaml: string): string {
  try {
    parse(yaml);
  } catch (e) {
    assert.ok(e instanceof PsrtError, String(e));
    assert.equal(e.code, ErrorCode.Config);
    return e.message;
  }
  assert.fail('expected a config error');
}

describe('bridges config', () => {
  it('parses a full NATS and MQTT bridge with defaults', () => {
    writeFileSync(join(dir, 'ca.pem'), 'CA');
    const c = parse(`
node_id: edge1
list:
  - name: cloud
    type: nats
    servers: [nats://127.0.0.1:4222, nats://127.0.0.1:4223]
    token: secret
    out: ['plant/#', '//x//y']
    in: cmd/#
    remote_prefix: site1/
    tls_ca: ca.pem
  - name: up
    type: mqtt
    servers: mqtt://127.0.0.1:1883
    user: u
    password: p
    qos: 1
    protocol_version: 4
    buffer_messages: 5
    buffer_bytes: 1000
`);
    assert.ok(c !== undefined);
    assert.equal(c.nodeId, 'edge1');
    const [nats, mqtt] = c.bridges;
    assert.ok(nats !== undefined && mqtt !== undefined);
    assert.deepEqual(nats.servers, ['nats://127.0.0.1:4222', 'nats://127.0.0.1:4223']);
    assert.deepEqual(nats.out, ['plant/#', 'x/y']); // normalised like PSRT subscriptions
    assert.deepEqual(nats.in, ['cmd/#']);
    assert.equal(nats.remotePrefix, 'site1/');
    assert.equal(nats.tls?.ca, 'CA');
    assert.equal(nats.bufferMessages, 10_000);
    assert.equal(mqtt.qos, 1);
    assert.equal(mqtt.protocolVersion, 4);
    assert.equal(mqtt.bufferBytes, 1000);
    assert.equal(mqtt.tls, undefined);
    assert.equal(mqtt.cleanSession, true, 'clean sessions by default');
    assert.equal(mqtt.sessionExpiry, 3600);
  });

  it('parses clean_session and session_expiry of MQTT bridges', () => {
    const mqtt = (extra: string): BridgesConfig['bridges'][number] | undefined =>
      parse(`node_id: plant1\nlist:\n  - name: m\n    type: mqtt\n    servers: x\n${extra}`)?.bridges[0];
    assert.deepEqual([mqtt('    clean_session: false\n')?.cleanSession, mqtt('    clean_session: false\n')?.sessionExpiry], [false, 3600]);
    const never = mqtt('    clean_session: false\n    session_expiry: 4294967295\n');
    assert.deepEqual([never?.cleanSession, never?.sessionExpiry], [false, 4_294_967_295]);
    assert.equal(mqtt('    session_expiry: 1\n')?.sessionExpiry, 1);
  });

  it('rejects bad clean_session and session_expiry values, and both on NATS bridges', () => {
    const mqtt = (extra: string): string => problem(`list:\n  - name: m\n    type: mqtt\n    servers: x\n${extra}`);
    const at = `${FILE}:5: bridges.list[0]`; // the line of the key after `servers: x`
    assert.equal(mqtt('    clean_session: "no"\n'), `${at}.clean_session: expected true or false, got "no"`);
    assert.equal(mqtt('    clean_session: 0\n'), `${at}.clean_session: expected true or false, got 0`);
    assert.equal(mqtt('    session_expiry: 0\n'), `${at}.session_expiry: must be at least 1, got 0`);
    assert.equal(mqtt('    session_expiry: 4294967296\n'), `${at}.session_expiry: must be at most 4294967295, got 4294967296`);
    assert.equal(mqtt('    session_expiry: 1.5\n'), `${at}.session_expiry: expected an integer, got 1.5`);
    assert.equal(mqtt('    session_expiry: 1h\n'), `${at}.session_expiry: expected an integer, got "1h"`);
    // Found again only under a client id that a restart keeps: not the default node id's PID.
    assert.equal(mqtt('    clean_session: false\n'),
      `${at}.clean_session: false needs a client id that stays the same across restarts: set client_id, or bridges.node_id (the default node id contains the process id)`);
    assert.equal(parse('list:\n  - name: m\n    type: mqtt\n    servers: x\n    clean_session: false\n    client_id: gw-1\n')?.bridges[0]?.clientId, 'gw-1');
    assert.equal(parse('node_id: p1\nlist:\n  - name: m\n    type: mqtt\n    servers: x\n    clean_session: false\n')?.nodeId, 'p1');
    writeFileSync(join(dir, 'persistent.yml'), '- name: m\n  type: mqtt\n  servers: x\n  clean_session: false\n');
    assert.match(problem('file: persistent.yml\n'), /persistent\.yml:4: \[0\]\.clean_session: false needs a client id/);
    assert.equal(mqtt('    protocol_version: 4\n    clean_session: false\n    client_id: c\n    session_expiry: 60\n'),
      `${FILE}:8: bridges.list[0].session_expiry: only for protocol_version 5 (MQTT 3.1.1 sessions do not expire)`);
    const nats = (extra: string): string => problem(`list:\n  - name: n\n    type: nats\n    servers: x\n${extra}`);
    assert.equal(nats('    clean_session: false\n'), `${at}.clean_session: only for type mqtt`);
    assert.equal(nats('    session_expiry: 60\n'), `${at}.session_expiry: only for type mqtt`);
  });

  it('parses the keys that decide how soon a stalled upstream is given up, with the defaults of before', () => {
    const one = (type: string, extra: string): BridgesConfig['bridges'][number] | undefined =>
      parse(`list:\n  - name: b\n    type: ${type}\n    servers: x\n${extra}`)?.bridges[0];
    const nats = one('nats', '');
    assert.deepEqual([nats?.pingInterval, nats?.maxPingsOut, nats?.connectTimeout], [10, 2, 5]);
    const fast = one('nats', '    ping_interval: 1\n    max_pings_out: 1\n    connect_timeout: 2\n');
    assert.deepEqual([fast?.pingInterval, fast?.maxPingsOut, fast?.connectTimeout], [1, 1, 2]);
    const mqtt = one('mqtt', '');
    assert.deepEqual([mqtt?.keepalive, mqtt?.connectTimeout], [10, 5]);
    const slow = one('mqtt', '    keepalive: 65535\n    connect_timeout: 600\n');
    assert.deepEqual([slow?.keepalive, slow?.connectTimeout], [65_535, 600]);
  });

  it('rejects bad ping_interval, max_pings_out, connect_timeout and keepalive values, and each on the other type', () => {
    const bad = (type: string, extra: string): string => problem(`list:\n  - name: b\n    type: ${type}\n    servers: x\n${extra}`);
    const at = `${FILE}:5: bridges.list[0]`;
    assert.equal(bad('nats', '    ping_interval: 0\n'), `${at}.ping_interval: must be at least 1, got 0`);
    assert.equal(bad('nats', '    ping_interval: 3601\n'), `${at}.ping_interval: must be at most 3600, got 3601`);
    assert.equal(bad('nats', '    ping_interval: 0.5\n'), `${at}.ping_interval: expected an integer (seconds), got 0.5`);
    assert.equal(bad('nats', '    ping_interval: 10s\n'), `${at}.ping_interval: expected an integer (seconds), got "10s"`);
    assert.equal(bad('nats', '    max_pings_out: 0\n'), `${at}.max_pings_out: must be at least 1, got 0`);
    assert.equal(bad('nats', '    max_pings_out: 101\n'), `${at}.max_pings_out: must be at most 100, got 101`);
    assert.equal(bad('nats', '    connect_timeout: 0\n'), `${at}.connect_timeout: must be at least 1, got 0`);
    assert.equal(bad('mqtt', '    connect_timeout: 601\n'), `${at}.connect_timeout: must be at most 600, got 601`);
    assert.equal(bad('mqtt', '    keepalive: 0\n'),
      `${at}.keepalive: must be at least 1, got 0 (0 turns keep alive off: a stalled upstream would never be noticed)`);
    assert.equal(bad('mqtt', '    keepalive: 65536\n'), `${at}.keepalive: must be at most 65535, got 65536`);
    assert.equal(bad('mqtt', '    keepalive: -1\n'), `${at}.keepalive: must be at least 1, got -1`);
    assert.equal(bad('nats', '    keepalive: 5\n'), `${at}.keepalive: only for type mqtt`);
    assert.equal(bad('mqtt', '    ping_interval: 5\n'), `${at}.ping_interval: only for type nats (an MQTT bridge has keepalive)`);
    assert.equal(bad('mqtt', '    max_pings_out: 3\n'), `${at}.max_pings_out: only for type nats (an MQTT bridge has keepalive)`);
  });

  it('reads the list from a file it names', () => {
    writeFileSync(join(dir, 'bridges.yml'), '- name: a\n  type: nats\n  servers: 127.0.0.1:4222\n  out: "#"\n');
    const c = parse('file: bridges.yml\n');
    assert.ok(c !== undefined);
    assert.equal(c.bridges[0]?.name, 'a');
    assert.match(c.nodeId, /-\d+$/); // default: host name and PID
    writeFileSync(join(dir, 'bad.yml'), '- name: a\n  type: nats\n  servers: x\n  outt: "#"\n');
    assert.equal(problem('file: bad.yml\n'), `${join(dir, 'bad.yml')}:4: [0].outt: unknown key`);
    assert.equal(problem('node_id: n\nfile: none.yml\n'), `${FILE}:2: bridges.file: unable to read ${join(dir, 'none.yml')}: no such file or directory`);
  });

  it('names file, key and problem', () => {
    const base = '  - name: a\n    type: nats\n    servers: x\n';
    assert.equal(problem(`list:\n${base}    outt: "#"\n`), `${FILE}:5: bridges.list[0].outt: unknown key`);
    assert.equal(problem('lists: []\n'), `${FILE}:1: bridges.lists: unknown key`);
    assert.equal(problem('list:\n  - name: a\n    type: kafka\n    servers: x\n'), `${FILE}:3: bridges.list[0].type: expected nats or mqtt`);
    assert.equal(problem(`list:\n${base}    qos: 1\n`), `${FILE}:5: bridges.list[0].qos: only for type mqtt`);
    assert.equal(problem('list:\n  - name: a\n    type: mqtt\n    servers: x\n    qos: 2\n'), `${FILE}:5: bridges.list[0].qos: expected 0 or 1, got 2`);
    assert.equal(problem(`list:\n${base}${base}`), `${FILE}:5: bridges.list[1].name: duplicate bridge name "a"`);
    // A missing key: the line of the entry that lacks it.
    assert.equal(problem(`list:\n${base}    tls_cert: c.pem\n`), `${FILE}:2: bridges.list[0].tls_key: tls_cert and tls_key go together`);
    assert.equal(problem(`list:\n${base}    buffer_messages: 0\n`), `${FILE}:5: bridges.list[0].buffer_messages: must be at least 1, got 0`);
    assert.equal(problem('list:\n  - name: a\n    type: nats\n'), `${FILE}:2: bridges.list[0].servers: required key is missing`);
    assert.equal(
      problem(`list:\n${base}    tls_ca: missing.pem\n`),
      `${FILE}:5: bridges.list[0].tls_ca: unable to read ${join(dir, 'missing.pem')}: no such file or directory`,
    );
  });

  it('names lines of config.yml itself when the section comes from it', () => {
    const text = [
      'server: {}', //                          1
      'proto:', //                              2
      '  allow_no_tls: true', //                3
      'auth:', //                               4
      '  allow_anonymous: true', //             5
      '  acl: acl.yml', //                      6
      '# bridges to the plant network', //      7
      'bridges:', //                            8
      '  node_id: edge1', //                    9
      '  list:', //                            10
      '    - name: cloud', //                  11
      '      type: nats', //                   12
      '      servers: nats://127.0.0.1:4222', // 13
      '    - name: up', //                     14
      '      type: mqtt', //                   15
      '      servers:', //                     16
      '        - mqtt://127.0.0.1:1883', //    17
      '      qos: 1', //                       18
      '      buffer_bytes: lots', //           19
    ].join('\n');
    const c = parseConfigText(text, FILE);
    assert.throws(
      () => parseBridgesSection(c.bridges, FILE, dir, c.lines?.within(['bridges'])),
      (e: unknown) => e instanceof PsrtError && e.message === `${FILE}:19: bridges.list[1].buffer_bytes: expected an integer, got "lots"`,
    );
    // Without the file's lines (a section built in code) the same message has no line.
    assert.throws(
      () => parseBridgesSection(c.bridges, FILE, dir),
      (e: unknown) => e instanceof PsrtError && e.message === `${FILE}: bridges.list[1].buffer_bytes: expected an integer, got "lots"`,
    );
  });

  it('is an optional section of config.yml', () => {
    const required = 'server: {}\nproto:\n  allow_no_tls: true\nauth:\n  allow_anonymous: true\n  acl: acl.yml\n';
    assert.equal(parseConfigText(required, FILE).bridges, undefined);
    const c = parseConfigText(`${required}bridges:\n  list: []\n`, FILE);
    assert.deepEqual(parseBridgesSection(c.bridges, FILE, dir)?.bridges, []);
  });
});
