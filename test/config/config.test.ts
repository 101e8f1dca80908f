import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  DEFAULTS,
  isUnixSocketPath,
  loadConfigFile,
  parseConfigText,
  parseHostPort,
  resolveConfigPath,
  type ServerConfig,
} from '../../src/config/index.js';
import { ErrorCode, PsrtError } from '../../src/protocol/errors.js';
import { FIXTURES, fixture } from './fixtures.js';

const REAL_FIXTURES = realpathSync(FIXTURES);
const VIRTUAL = '/virtual/etc/psrtd/config.yml';
const REQUIRED = 'proto:\n  allow_no_tls: true\nauth:\n  allow_anonymous: true\n  acl: acl.yml\n';

function configError(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof PsrtError, String(e));
    assert.equal(e.code, ErrorCode.Config);
    return e.message;
  }
  assert.fail('expected a config error');
}

/** A config with the required keys plus `extra` YAML for one section. */
function withServer(lines: string): ServerConfig {
  return parseConfigText(`server:\n${lines}\n${REQUIRED}`, VIRTUAL);
}

function withProto(lines: string): ServerConfig {
  return parseConfigText(`server: {}\nproto:\n  allow_no_tls: true\n${lines}\nauth:\n  allow_anonymous: true\n  acl: acl.yml\n`, VIRTUAL);
}

describe('fixture configs', () => {
  it('reference-test.yml loads with every value and resolved path', () => {
    const c = loadConfigFile(fixture('reference-test.yml'));
    assert.equal(c.file, fixture('reference-test.yml'));
    assert.equal(c.configDir, REAL_FIXTURES);
    assert.deepEqual(c.server, {
      workers: 4,
      latencyWarn: 500000,
      dataQueue: 1024,
      maxTopicDepth: 64,
      maxPubSize: 1100000,
      maxTopicLength: 1000000,
      pidFile: '/tmp/psrtd-test.pid',
      bindStats: { address: '0.0.0.0:8880', host: '0.0.0.0', port: 8880 },
      license: join(REAL_FIXTURES, 'psrt-license.key'),
      dataDrainTimeout: 1,
      dataQueueBytes: 64 * 1024 * 1024,
    });
    assert.deepEqual(c.proto, {
      bind: [
        { kind: 'tcp', address: '0.0.0.0:2873', host: '0.0.0.0', port: 2873 },
        { kind: 'unix', path: '/tmp/psrtd-test.sock' },
      ],
      bindUdp: [{ address: '0.0.0.0:2873', host: '0.0.0.0', port: 2873 }],
      udpFrameSize: 8192,
      timeout: 10,
      tlsPkcs12: undefined,
      tlsCert: join(REAL_FIXTURES, 'certs/server.crt'),
      tlsKey: join(REAL_FIXTURES, 'certs/server.key'),
      fips: false,
      allowNoTls: true,
    });
    assert.deepEqual(c.auth, {
      allowAnonymous: true,
      passwordFile: join(REAL_FIXTURES, 'passwd'),
      mosquittoPasswords: false,
      keyFile: join(REAL_FIXTURES, 'keys.yml'),
      acl: { kind: 'file', path: join(REAL_FIXTURES, 'acl.yml') },
    });
    assert.deepEqual(c.cluster, { config: join(REAL_FIXTURES, 'cluster.yml') });
  });

  it('reference-test-local.yml needs no missing files', () => {
    const c = loadConfigFile(fixture('reference-test-local.yml'));
    assert.equal(c.proto.tlsCert, undefined);
    assert.equal(c.server.license, undefined);
    assert.equal(c.cluster, undefined);
    assert.equal(c.auth.keyFile, join(REAL_FIXTURES, 'keys.yml'));
  });

  it('debian-default.yml (SERVER.md §3.6) loads', () => {
    const c = loadConfigFile(fixture('debian-default.yml'));
    assert.equal(c.server.workers, 2);
    assert.equal(c.server.latencyWarn, 50000);
    assert.equal(c.server.maxTopicDepth, 32);
    assert.equal(c.server.pidFile, '/var/run/psrtd/psrtd.pid');
    assert.deepEqual(c.proto.bind, [{ kind: 'tcp', address: '127.0.0.1:2873', host: '127.0.0.1', port: 2873 }]);
    assert.equal(c.proto.udpFrameSize, 4096);
    assert.equal(c.auth.passwordFile, join(REAL_FIXTURES, 'psrt-passwd'));
    assert.equal(c.auth.keyFile, undefined);
  });

  it('minimal.yml gets every default', () => {
    const c = loadConfigFile(fixture('minimal.yml'));
    assert.deepEqual(c.server, {
      workers: 1,
      latencyWarn: 50000,
      dataQueue: 1024,
      maxTopicDepth: 32,
      maxPubSize: 1100000,
      maxTopicLength: 1000000,
      pidFile: undefined,
      bindStats: undefined,
      license: undefined,
      dataDrainTimeout: 1,
      dataQueueBytes: 67108864,
    });
    assert.deepEqual(c.proto.bind, []);
    assert.deepEqual(c.proto.bindUdp, []);
    assert.equal(c.proto.timeout, 5);
    assert.equal(c.proto.udpFrameSize, 4096);
    assert.equal(c.proto.fips, false);
    assert.equal(c.auth.allowAnonymous, false);
    assert.equal(c.auth.passwordFile, undefined);
  });
});

describe('rejected fixture configs', () => {
  // [file, line of the problem, key path and problem]; a missing key's line is its mapping's.
  const cases: [string, number, string][] = [
    ['unknown-key.yml', 2, 'server.data_queu: unknown key'],
    ['wrong-type.yml', 4, 'proto.timeout: expected a number, got "ten"'],
    ['aes-nonce.yml', 8, 'auth.aes_nonce: unknown key'],
    ['data-queue-zero.yml', 2, 'server.data_queue: must be at least 1 (a queue of 0 messages would drop every data socket)'],
    ['missing-auth.yml', 1, 'auth: required key is missing'],
    ['cert-without-key.yml', 4, 'proto.tls_key: required when proto.tls_cert is set'],
  ];
  for (const [name, line, problem] of cases) {
    it(`bad/${name}:${line}: ${problem}`, () => {
      const file = fixture(`bad/${name}`);
      assert.equal(configError(() => loadConfigFile(file)), `${file}:${line}: ${problem}`);
    });
  }

  it('bad/invalid-yaml.yml names the file, the line and the YAML problem', () => {
    const file = fixture('bad/invalid-yaml.yml');
    assert.match(configError(() => loadConfigFile(file)), new RegExp(`^${file}:3: invalid YAML: .* \\(column \\d+\\)$`));
  });

  it('YAML syntax errors: file:line, the column last, and a second document said plainly', () => {
    const at = (text: string): string => configError(() => parseConfigText(text, 'c.yml'));
    assert.equal(at('server:\n  workers: 1\n  workers: 2\n'), 'c.yml:3: invalid YAML: Map keys must be unique (column 3)');
    assert.equal(at('server:\n  a: 1\n\tb: 2\n'), 'c.yml:3: invalid YAML: Tabs are not allowed as indentation (column 1)');
    const second = "invalid YAML: a '---' line starts a second document; the file must hold exactly one";
    assert.equal(at('server: {}\n---\nproto: {}\n'), `c.yml:2: ${second}`);
    assert.equal(at('server: {}\n---\n'), `c.yml:2: ${second}`);
  });

  it('a missing file is "Unable to read config"', () => {
    const file = fixture('does-not-exist.yml');
    assert.equal(configError(() => loadConfigFile(file)), `Unable to read config (${file}: no such file or directory)`);
  });
});

describe('required keys and sections', () => {
  const cases: [string, string][] = [
    // A missing top-level key: the top-level mapping's line; a missing key in a section: the section's.
    [REQUIRED, 'config.yml:1: server: required key is missing'],
    ['server: {}\nauth:\n  allow_anonymous: true\n  acl: a\n', 'config.yml:1: proto: required key is missing'],
    ['server: {}\nproto: {}\nauth:\n  allow_anonymous: true\n  acl: a\n', 'config.yml:2: proto.allow_no_tls: required key is missing'],
    ['server: {}\nproto: {allow_no_tls: true}\nauth:\n  acl: a\n', 'config.yml:3: auth.allow_anonymous: required key is missing'],
    ['server: {}\nproto: {allow_no_tls: true}\nauth:\n  allow_anonymous: true\n', 'config.yml:3: auth.acl: required key is missing'],
    [`server: {}\n${REQUIRED}cluster: {}\n`, 'config.yml:7: cluster.config: required key is missing'],
    // The whole document is wrong: no line to point at.
    ['', 'config.yml: expected a mapping, got an empty value'],
    ['- 1\n', 'config.yml: expected a mapping, got a list'],
    ['server: 5\nproto: {allow_no_tls: true}\nauth: {allow_anonymous: true, acl: a}\n', 'config.yml:1: server: expected a mapping, got 5'],
  ];
  for (const [text, message] of cases) {
    it(message, () => {
      assert.equal(configError(() => parseConfigText(text, 'config.yml')), message);
    });
  }

  it('an empty cluster section is absent', () => {
    assert.equal(parseConfigText(`server: {}\n${REQUIRED}cluster:\n`, VIRTUAL).cluster, undefined);
  });
});

describe('unknown keys', () => {
  const cases: [string, string][] = [
    [`server: {}\n${REQUIRED}extra: 1\n`, '7: extra'],
    [`server: {}\n${REQUIRED}cluster: {config: c.yml, nodes: 2}\n`, '7: cluster.nodes'],
    ['server: {}\nproto: {allow_no_tls: true, tls: true}\nauth: {allow_anonymous: true, acl: a}\n', '2: proto.tls'],
  ];
  for (const [text, key] of cases) {
    it(key, () => {
      assert.equal(configError(() => parseConfigText(text, 'c.yml')), `c.yml:${key}: unknown key`);
    });
  }

  it('reports every problem in one message, each with its line', () => {
    const msg = configError(() => withServer('  data_queu: 1\n  workers: x'));
    assert.equal(msg, `${VIRTUAL}:3: server.workers: expected an integer, got "x"; ${VIRTUAL}:2: server.data_queu: unknown key`);
  });

  it('rejects duplicate keys', () => {
    assert.match(configError(() => withServer('  workers: 1\n  workers: 2')), /invalid YAML: Map keys must be unique/);
  });
});

describe('value types and ranges', () => {
  const cases: [string, string][] = [
    ['  workers: 0', 'server.workers: must be at least 1, got 0'],
    ['  data_queue: 1.5', 'server.data_queue: expected an integer, got 1.5'],
    ['  data_queue: "1024"', 'server.data_queue: expected an integer, got "1024"'],
    ['  latency_warn: 4294967296', 'server.latency_warn: must be at most 4294967295, got 4294967296'],
    ['  max_topic_depth: -1', 'server.max_topic_depth: must be at least 0, got -1'],
    ['  data_drain_timeout: -0.5', 'server.data_drain_timeout: must be at least 0, got -0.5'],
    ['  max_connections: 0', 'server.max_connections: must be at least 1, got 0'],
    ['  bind_stats: [a]', 'server.bind_stats: expected a string, got a list'],
    ['  bind_stats: localhost:8880', 'server.bind_stats: expected an IP address, not a host name, got "localhost:8880"'],
    ['  bind_stats: 8880', 'server.bind_stats: expected a string, got 8880'],
    ['  pid_file: ""', 'server.pid_file: must not be empty'],
  ];
  for (const [line, problem] of cases) {
    it(problem, () => {
      assert.equal(configError(() => withServer(line)), `${VIRTUAL}:2: ${problem}`); // the key's line
    });
  }

  const protoCases: [string, string][] = [
    ['  timeout: 0', 'proto.timeout: must be greater than 0, got 0'],
    ['  timeout: -1', 'proto.timeout: must be greater than 0, got -1'],
    ['  timeout: .inf', 'proto.timeout: expected a number, got Infinity'],
    ['  udp_frame_size: 0', 'proto.udp_frame_size: must be at least 1, got 0'],
    ['  udp_frame_size: 65536', 'proto.udp_frame_size: must be at most 65535, got 65536'],
    ['  fips: "yes"', 'proto.fips: expected true or false, got "yes"'],
    ['  fips: yes', 'proto.fips: expected true or false, got "yes"'],
    ['  bind: 5', 'proto.bind: expected a string or a list of strings, got 5'],
    ['  bind: [a:1, 2]', 'proto.bind: expected a string or a list of strings, got a list'],
    ['  bind: localhost', 'proto.bind[0]: expected host:port or a Unix socket path ending in .sock/.socket, got "localhost"'],
    ['  bind: [a:1, "h:70000"]', 'proto.bind[1]: expected host:port or a Unix socket path ending in .sock/.socket, got "h:70000"'],
    ['  bind_udp: /tmp/u.sock', 'proto.bind_udp[0]: expected host:port (UDP has no Unix sockets), got "/tmp/u.sock"'],
  ];
  for (const [line, problem] of protoCases) {
    it(problem, () => {
      assert.equal(configError(() => withProto(line)), `${VIRTUAL}:4: ${problem}`); // the key's line
    });
  }

  it('accepts integer and float timeouts', () => {
    assert.equal(withProto('  timeout: 10').proto.timeout, 10);
    assert.equal(withProto('  timeout: 0.25').proto.timeout, 0.25);
  });

  it('treats empty values of optional keys as absent', () => {
    const c = withServer('  pid_file:\n  workers:\n  data_queue:');
    assert.equal(c.server.pidFile, undefined);
    assert.equal(c.server.workers, DEFAULTS.workers);
    assert.equal(c.server.dataQueue, 1024);
  });

  it('reads the extension keys', () => {
    const c = withServer('  data_drain_timeout: 0\n  max_connections: 5\n  data_queue_bytes: 1048576');
    assert.equal(c.server.dataDrainTimeout, 0);
    assert.equal(c.server.maxConnections, 5);
    assert.equal(c.server.dataQueueBytes, 1048576);
  });

  it('reads auth.mosquitto_passwords (default false) and refuses a non-boolean naming its line', () => {
    const auth = (line: string): ServerConfig => parseConfigText(`server: {}\nproto:\n  allow_no_tls: true\nauth:\n  allow_anonymous: true\n  acl: acl.yml\n${line}\n`, VIRTUAL);
    assert.equal(auth('').auth.mosquittoPasswords, false);
    assert.equal(auth('  mosquitto_passwords: true').auth.mosquittoPasswords, true);
    assert.equal(configError(() => auth('  mosquitto_passwords: 1')), `${VIRTUAL}:7: auth.mosquitto_passwords: expected true or false, got 1`);
  });

  it('accepts fips: true (reported as unsupported by the server)', () => {
    assert.equal(withProto('  fips: true').proto.fips, true);
  });

  it('accepts tls_pkcs12 alone and tls_cert with tls_key', () => {
    assert.equal(withProto('  tls_pkcs12: certs/s.p12').proto.tlsPkcs12, '/virtual/etc/psrtd/certs/s.p12');
    const c = withProto('  tls_cert: /c.pem\n  tls_key: k.pem');
    assert.equal(c.proto.tlsCert, '/c.pem');
    assert.equal(c.proto.tlsKey, '/virtual/etc/psrtd/k.pem');
  });
});

describe('error lines in a longer config.yml', () => {
  // Line numbers are the array index + 1; comments and blank lines count like any other line.
  const LINES = [
    '# psrtd config', //                  1
    '', //                                2
    'server:', //                         3
    '  workers: 2', //                    4
    '  # messages per data socket', //    5
    '  data_queue: 512', //               6
    'proto:', //                          7
    '  allow_no_tls: true', //            8
    '  bind:', //                         9
    '    - 127.0.0.1:2873', //           10
    '    - /run/psrtd/psrtd.sock', //    11
    '  timeout: 5', //                   12
    'auth:', //                          13
    '  allow_anonymous: false', //       14
    '  acl: acl.yml', //                 15
    'mqtt:', //                          16
    '  bind: 127.0.0.1:1883', //         17
    '  tls_cert: mqtt.crt', //           18
    '  tls_key: mqtt.key', //            19
    '  max_keepalive: 600', //           20
  ];
  /** The config with line `n` replaced by `text` (undefined: removed). */
  const edited = (n: number, text: string | undefined): string =>
    LINES.flatMap((l, i) => (i + 1 !== n ? [l] : text === undefined ? [] : [text])).join('\n');
  const problem = (n: number, text: string | undefined): string => configError(() => parseConfigText(edited(n, text), 'config.yml'));

  it('the unchanged config loads', () => {
    assert.equal(parseConfigText(LINES.join('\n'), 'config.yml').mqtt?.maxKeepAlive, 600);
  });

  it('a wrong type: the line of its key in its section', () => {
    assert.equal(problem(20, '  max_keepalive: 10m'), 'config.yml:20: mqtt.max_keepalive: expected an integer, got "10m"');
  });

  it('an unknown key: its own line', () => {
    assert.equal(problem(12, '  timeuot: 5'), 'config.yml:12: proto.timeuot: unknown key');
  });

  it('a missing required key: the line of the section that lacks it', () => {
    assert.equal(problem(15, undefined), 'config.yml:13: auth.acl: required key is missing');
  });

  it('a value out of range: its line', () => {
    assert.equal(problem(4, '  workers: 0'), 'config.yml:4: server.workers: must be at least 1, got 0');
  });

  it('a bad list element: the element\'s line', () => {
    assert.equal(
      problem(11, '    - localhost'),
      'config.yml:11: proto.bind[1]: expected host:port or a Unix socket path ending in .sock/.socket, got "localhost"',
    );
  });

  it('cross-key checks after validation (load.ts) name lines too', () => {
    // A key that is missing because another needs it: the line of the one that needs it.
    assert.equal(problem(19, undefined), 'config.yml:18: mqtt.tls_key: required when mqtt.tls_cert is set');
    assert.equal(
      problem(6, '  data_queue: 0'),
      'config.yml:6: server.data_queue: must be at least 1 (a queue of 0 messages would drop every data socket)',
    );
  });
});

describe('StringOrList', () => {
  it('bind accepts a string or a list, UDP [] disables', () => {
    assert.deepEqual(withProto('  bind: 127.0.0.1:1').proto.bind.map((b) => b.kind), ['tcp']);
    assert.deepEqual(withProto('  bind: [127.0.0.1:1, "[::1]:2", x.sock]').proto.bind, [
      { kind: 'tcp', address: '127.0.0.1:1', host: '127.0.0.1', port: 1 },
      { kind: 'tcp', address: '[::1]:2', host: '::1', port: 2 },
      { kind: 'unix', path: '/virtual/etc/psrtd/x.sock' },
    ]);
    assert.deepEqual(withProto('  bind: []\n  bind_udp: []').proto.bindUdp, []);
    assert.deepEqual(withProto('  bind_udp: [0.0.0.0:1, localhost:2]').proto.bindUdp, [
      { address: '0.0.0.0:1', host: '0.0.0.0', port: 1 },
      { address: 'localhost:2', host: 'localhost', port: 2 },
    ]);
  });
});

describe('path resolution (SERVER.md §3.1)', () => {
  it('keeps /abs and ./rel verbatim, resolves the rest against the config directory', () => {
    const c = parseConfigText(
      'server:\n  license: lic.key\n  pid_file: run/p.pid\nproto:\n  allow_no_tls: true\n  bind: [./a.sock, /run/b.socket, c.sock, d/e.sock]\n' +
        'auth:\n  allow_anonymous: true\n  acl: ./acl.yml\n  password_file: /etc/pw\n  key_file: .hidden/keys.yml\ncluster:\n  config: ../cluster.yml\n',
      VIRTUAL,
    );
    assert.equal(c.configDir, '/virtual/etc/psrtd');
    assert.equal(c.server.license, '/virtual/etc/psrtd/lic.key');
    assert.equal(c.server.pidFile, 'run/p.pid'); // verbatim, never resolved
    assert.deepEqual(c.proto.bind, [
      { kind: 'unix', path: './a.sock' },
      { kind: 'unix', path: '/run/b.socket' },
      { kind: 'unix', path: '/virtual/etc/psrtd/c.sock' },
      { kind: 'unix', path: '/virtual/etc/psrtd/d/e.sock' },
    ]);
    assert.deepEqual(c.auth.acl, { kind: 'file', path: './acl.yml' });
    assert.equal(c.auth.passwordFile, '/etc/pw');
    assert.equal(c.auth.keyFile, '.hidden/keys.yml');
    assert.equal(c.cluster?.config, '../cluster.yml');
  });

  it('a config path without ./ is relative to the working directory', () => {
    const c = parseConfigText(`server: {}\n${REQUIRED}`, 'config.yml');
    assert.equal(c.configDir, realpathSync(process.cwd()));
    assert.deepEqual(c.auth.acl, { kind: 'file', path: join(realpathSync(process.cwd()), 'acl.yml') });
  });

  describe('canonical directory', () => {
    const tmp = realpathSync(mkdtempSync(join(tmpdir(), 'psrt-cfg-')));
    after(() => {
      rmSync(tmp, { recursive: true, force: true });
    });

    it('resolves relative paths against the symlink target', () => {
      mkdirSync(join(tmp, 'real'));
      symlinkSync(join(tmp, 'real'), join(tmp, 'link'));
      writeFileSync(join(tmp, 'real', 'config.yml'), `server: {}\n${REQUIRED}`);
      const c = loadConfigFile(join(tmp, 'link', 'config.yml'));
      assert.equal(c.configDir, join(tmp, 'real'));
      assert.deepEqual(c.auth.acl, { kind: 'file', path: join(tmp, 'real', 'acl.yml') });
    });
  });

  it('resolveConfigPath follows the leading-character rule', () => {
    assert.equal(resolveConfigPath('/a', '/d'), '/a');
    assert.equal(resolveConfigPath('./a', '/d'), './a');
    assert.equal(resolveConfigPath('.a', '/d'), '.a');
    assert.equal(resolveConfigPath('a/b', '/d'), '/d/a/b');
  });
});

describe('address helpers', () => {
  it('isUnixSocketPath', () => {
    assert.equal(isUnixSocketPath('/run/psrt.sock'), true);
    assert.equal(isUnixSocketPath('psrt.socket'), true);
    assert.equal(isUnixSocketPath('0.0.0.0:2873'), false);
    assert.equal(isUnixSocketPath('psrt.sock.bak'), false);
  });

  it('parseHostPort', () => {
    assert.deepEqual(parseHostPort('0.0.0.0:2873'), { address: '0.0.0.0:2873', host: '0.0.0.0', port: 2873 });
    assert.deepEqual(parseHostPort('[::]:0'), { address: '[::]:0', host: '::', port: 0 });
    assert.deepEqual(parseHostPort('::1:2873'), { address: '::1:2873', host: '::1', port: 2873 });
    for (const bad of ['2873', ':2873', 'host:', 'host:65536', 'host:-1', 'host:12a', 'a b:1', '[]:1']) {
      assert.equal(parseHostPort(bad), undefined, bad);
    }
  });
});
