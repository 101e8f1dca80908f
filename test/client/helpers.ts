/**
 * Spawns a real psrtd (bin/psrtd.js) on free ports with a throw-away config directory, for
 * end-to-end tests of the client and the CLI. Reusable by other test suites.
 *
 * Users (password `123` for all): `test` (sub/pub `benchmark/#`), `user1` (sub/pub `#`),
 * `reader` (sub `#` only). Anonymous `_` has sub/pub `#`. UDP keys: `user1` and `_` use
 * TEST_KEY_HEX. TLS uses test/client/fixtures/tls (CA: ca.crt, names localhost/127.0.0.1).
 */
import { hashSync } from '@node-rs/bcrypt';
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, ROOT, tempDir, TLS_DIR, within } from './util.js';

export const TEST_PASSWORD = '123';
export const TEST_KEY_HEX = '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f';

export interface PsrtdOptions {
  /** proto.timeout (default 10). */
  timeout?: number;
  /** auth.allow_anonymous (default true). */
  allowAnonymous?: boolean;
  /** proto.allow_no_tls (default true). */
  allowNoTls?: boolean;
  /** server.data_queue (default 1024). */
  dataQueue?: number;
  /** Extra command-line arguments (e.g. `-v`). */
  args?: string[];
  /** Also serve the stats HTTP server (server.bind_stats) on a free loopback port. */
  stats?: boolean;
}

export interface Psrtd {
  /** `127.0.0.1:port` of the TCP listener (plain and STARTTLS). */
  readonly tcp: string;
  /** `localhost:port`: same listener, for certificate name checks. */
  readonly tcpName: string;
  /** Unix socket path. */
  readonly unix: string;
  /** `127.0.0.1:port` of the UDP listener. */
  readonly udp: string;
  readonly dir: string;
  readonly caFile: string;
  /** The stats HTTP server's port (with `stats: true`), else 0. */
  readonly statsPort: number;
  /** Everything psrtd printed so far. */
  output(): string;
  stop(): Promise<void>;
}

async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  s.bind(0, '127.0.0.1');
  await once(s, 'listening');
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => {
    r();
  }));
  return port;
}

function writeConfig(dir: string, tcpPort: number, udpPort: number, statsPort: number, o: PsrtdOptions): void {
  const hash = hashSync(TEST_PASSWORD, 5);
  writeFileSync(join(dir, 'psrt-passwd'), ['test', 'user1', 'reader'].map((u) => `${u}:${hash}`).join('\n') + '\n');
  writeFileSync(
    join(dir, 'acl.yml'),
    [
      '_:', '  sub: ["#"]', '  pub: ["#"]', '  admin: true',
      'test:', '  sub: ["benchmark/#"]', '  pub: ["benchmark/#"]',
      'user1:', '  sub: ["#"]', '  pub: ["#"]',
      'reader:', '  sub: ["#"]', '',
    ].join('\n'),
  );
  writeFileSync(join(dir, 'keys.yml'), `user1: ${TEST_KEY_HEX}\n_: ${TEST_KEY_HEX}\n`);
  writeFileSync(
    join(dir, 'config.yml'),
    [
      'server:',
      '  workers: 1',
      '  latency_warn: 500000',
      `  data_queue: ${o.dataQueue ?? 1024}`,
      '  max_topic_depth: 64',
      '  max_topic_length: 1000000',
      '  max_pub_size: 1100000',
      ...(statsPort > 0 ? [`  bind_stats: 127.0.0.1:${statsPort}`] : []),
      'proto:',
      `  bind: ["127.0.0.1:${tcpPort}", "${join(dir, 'psrt.sock')}"]`,
      `  bind_udp: "127.0.0.1:${udpPort}"`,
      '  udp_frame_size: 8192',
      `  allow_no_tls: ${o.allowNoTls ?? true}`,
      `  timeout: ${o.timeout ?? 10}`,
      `  tls_cert: ${join(TLS_DIR, 'server.crt')}`,
      `  tls_key: ${join(TLS_DIR, 'server.key')}`,
      'auth:',
      `  allow_anonymous: ${o.allowAnonymous ?? true}`,
      '  password_file: psrt-passwd',
      '  key_file: keys.yml',
      '  acl: acl.yml',
      '',
    ].join('\n'),
  );
}

/** Resolves once psrtd logs that it is serving; rejects if it exits first. */
async function ready(child: ChildProcess, output: () => string): Promise<void> {
  await within(
    15_000,
    new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if (output().includes('starting server')) resolve();
      };
      child.stdout?.on('data', check);
      child.stderr?.on('data', check);
      child.once('exit', (code) => {
        reject(new Error(`psrtd exited with ${code}:\n${output()}`));
      });
      check();
    }),
    'psrtd start-up',
  );
}

export async function startPsrtd(o: PsrtdOptions = {}): Promise<Psrtd> {
  const dir = tempDir('psrtd-test-');
  const [tcpPort, udpPort] = [await freePort(), await freeUdpPort()];
  const statsPort = o.stats === true ? await freePort() : 0;
  writeConfig(dir.path, tcpPort, udpPort, statsPort, o);
  const child = spawn(
    process.execPath,
    [join(ROOT, 'bin', 'psrtd.js'), '-C', join(dir.path, 'config.yml'), ...(o.args ?? [])],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DISABLE_SYSLOG: '1' } },
  );
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const hard = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(hard);
    }
    dir.remove();
  };
  try {
    await ready(child, () => out);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    tcp: `127.0.0.1:${tcpPort}`,
    tcpName: `localhost:${tcpPort}`,
    unix: join(dir.path, 'psrt.sock'),
    udp: `127.0.0.1:${udpPort}`,
    dir: dir.path,
    caFile: join(TLS_DIR, 'ca.crt'),
    statsPort,
    output: () => out,
    stop,
  };
}
