/**
 * The brokers under test, each started fresh for every scenario (so its peak RSS belongs to that
 * scenario) on loopback, pinned to the server core, with a config in a temp directory:
 * psrtd (bin/psrtd.js), Mosquitto (when installed) and the trivial reflector.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SERVER_CORE, startPinned, type Proc } from './procs.js';

/** dist/bench/lib → repository root. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
let psrtdBin = join(REPO_ROOT, 'bin/psrtd.js');
let psrtdNodeArgs: readonly string[] = [];
let psrtdEnv: Readonly<Record<string, string>> = {};

/** Benchmarks another build of psrtd (A/B comparisons of hot-path changes). */
export function usePsrtdBin(path: string): void {
  psrtdBin = resolve(path);
}

/** Extra node options for psrtd, after the launcher's own (experiments, e.g. `--trace-gc`). */
export function usePsrtdNodeArgs(args: readonly string[]): void {
  psrtdNodeArgs = args;
}

/** The extra node options set with usePsrtdNodeArgs (the scale benchmark starts its own psrtd). */
export function psrtdExtraNodeArgs(): readonly string[] {
  return psrtdNodeArgs;
}

/** Extra environment for psrtd, e.g. GLIBC_TUNABLES (allocator experiments). */
export function usePsrtdEnv(env: Readonly<Record<string, string>>): void {
  psrtdEnv = env;
}
const REFLECTOR = join(REPO_ROOT, 'dist/bench/load/reflector.js');
const START_MS = 10_000;

export type BrokerName = 'psrtd' | 'mosquitto' | 'reflector' | 'node-floor';

export interface Broker {
  readonly name: BrokerName;
  readonly proc: Proc;
  /** Port for PSRT (psrtd, reflector) or MQTT (mosquitto). */
  readonly port: number;
  /** Its MQTT port (psrtd's MQTT listener, the reflector's MQTT side, Mosquitto). */
  readonly mqttPort: number;
  /** Its MQTT TLS port when started with a TLS identity, else 0. */
  readonly mqttTlsPort: number;
  stop(): Promise<void>;
}

/**
 * The shipped deb defaults where they matter for speed (data_queue 1024, latency_warn 50 ms,
 * max_pub_size 1100000), plus room for scenario (e): 20,000 connections, big SUBSCRIBE frames,
 * and a timeout long enough for 10,000 idle sessions to outlive a run.
 */
const PSRTD_CONFIG = `server:
  data_queue: 1024
  latency_warn: 50000
  max_topic_depth: 32
  max_pub_size: 1100000
  max_topic_length: 1000000
  max_connections: 20000
proto:
  bind: ["127.0.0.1:0"]
  allow_no_tls: true
  timeout: 120
auth:
  allow_anonymous: true
  acl: acl.yml
mqtt:
  bind: ["127.0.0.1:0"]
  max_queued_messages: 100000
`;
const ACL = '_:\n  sub: ["#"]\n  pub: ["#"]\n';

/** PEM certificate and key files for TLS listeners (the TLS handshake benchmark). */
export interface TlsFiles {
  readonly cert: string;
  readonly key: string;
}

/** The bench config, with the STARTTLS identity and an MQTT TLS listener when `tls` is given. */
function psrtdConfig(tls: TlsFiles | null): string {
  if (tls === null) return PSRTD_CONFIG;
  return PSRTD_CONFIG.replace('proto:\n', `proto:\n  tls_cert: ${JSON.stringify(tls.cert)}\n  tls_key: ${JSON.stringify(tls.key)}\n`)
    .replace('mqtt:\n', 'mqtt:\n  bind_tls: ["127.0.0.1:0"]\n');
}

function withTempDir(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'psrt-bench-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

export interface Runtime {
  readonly env: Readonly<Record<string, string>>;
  readonly nodeArgs: readonly string[];
}

const NO_RUNTIME: Runtime = { env: {}, nodeArgs: [] };

/**
 * The environment and node options a launcher's shebang (`#!/usr/bin/env -S VAR=… node ARG…`)
 * starts it with: psrtd is benchmarked exactly as shipped, not as `node bin/psrtd.js`.
 */
export function launcherRuntime(bin: string): Runtime {
  const first = readFileSync(bin, 'utf8').split('\n', 1)[0] ?? '';
  const words = /^#!\S*env -S (.*)$/.exec(first)?.[1]?.trim().split(/\s+/) ?? [];
  const node = words.findIndex((w) => !w.includes('='));
  if (node < 0) return NO_RUNTIME;
  const env: Record<string, string> = {};
  for (const w of words.slice(0, node)) env[w.slice(0, w.indexOf('='))] = w.slice(w.indexOf('=') + 1);
  return { env, nodeArgs: words.slice(node + 1) };
}

/** The shipped launcher's runtime (the load generator runs Node with it too). */
export const SHIPPED_RUNTIME: Runtime = launcherRuntime(join(REPO_ROOT, 'bin/psrtd.js'));

/**
 * `nodeArgs`: e.g. `--cpu-prof --cpu-prof-dir=DIR` (the profile is written at its clean exit).
 * `asShipped`: with the launcher's runtime settings; false runs plain `node bin/psrtd.js`.
 */
export async function startPsrtd(
  nodeArgs: readonly string[] = [],
  env: Readonly<Record<string, string>> = {},
  asShipped = true,
  tls: TlsFiles | null = null,
): Promise<Broker> {
  const dir = withTempDir({ 'config.yml': psrtdConfig(tls), 'acl.yml': ACL });
  const runtime = asShipped ? launcherRuntime(psrtdBin) : NO_RUNTIME;
  const args = [...runtime.nodeArgs, ...psrtdNodeArgs, ...nodeArgs, psrtdBin, '-C', join(dir, 'config.yml')];
  const proc = startPinned(SERVER_CORE, process.execPath, args, 'pipe', { ...runtime.env, ...psrtdEnv, ...env });
  const stop = async (): Promise<void> => {
    await proc.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const m = await proc.waitFor(/listening on TCP 127\.0\.0\.1:(\d+)/, START_MS);
    const mq = await proc.waitFor(/listening for MQTT on 127\.0\.0\.1:(\d+)/, START_MS);
    const mqTls = tls === null ? null : await proc.waitFor(/listening for MQTT TLS on 127\.0\.0\.1:(\d+)/, START_MS);
    await proc.waitFor(/starting server/, START_MS);
    return { name: 'psrtd', proc, port: Number(m[1]), mqttPort: Number(mq[1]), mqttTlsPort: Number(mqTls?.[1] ?? 0), stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

export async function startReflector(): Promise<Broker> {
  // Node like psrtd and the generator: the same allocator settings, so the sink is not slower
  // at large messages than the server it stands in for.
  const proc = startPinned(SERVER_CORE, process.execPath, [REFLECTOR], 'pipe', SHIPPED_RUNTIME.env);
  const m = await proc.waitFor(/reflector psrt=(\d+) mqtt=(\d+)/, START_MS).catch(async (e: unknown) => {
    await proc.stop();
    throw e;
  });
  return { name: 'reflector', proc, port: Number(m[1]), mqttPort: Number(m[2]), mqttTlsPort: 0, stop: () => proc.stop() };
}

export const hasMosquitto: boolean = spawnSync('mosquitto', ['-h'], { stdio: 'ignore' }).error === undefined;

/** A free loopback port (Mosquitto cannot report an ephemeral one). */
function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      s.close(() => { res(port); });
    });
  });
}

/** Polls until the port accepts a connection. */
async function waitListening(port: number, ms: number): Promise<void> {
  const deadline = performance.now() + ms;
  while (performance.now() < deadline) {
    const ok = await new Promise<boolean>((res) => {
      const c = createConnection(port, '127.0.0.1');
      c.once('connect', () => { c.destroy(); res(true); });
      c.once('error', () => { res(false); });
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`port ${port} not listening after ${ms} ms`);
}

/**
 * Mosquitto with its defaults except: loopback listener, anonymous, no persistence,
 * TCP_NODELAY like psrtd (otherwise Nagle would add delay to small messages), and no cap on
 * queued QoS 0 messages: the driver itself bounds what is in flight, and the default cap of
 * 1000 would turn a burst into silent QoS 0 drops rather than a rate. With `tls`, the only
 * listener is TLS with that certificate (mqttTlsPort = port).
 */
export async function startMosquitto(tls: TlsFiles | null = null): Promise<Broker> {
  const port = await freePort();
  const conf = [
    `listener ${port} 127.0.0.1`,
    ...(tls === null ? [] : [`certfile ${tls.cert}`, `keyfile ${tls.key}`]),
    'allow_anonymous true',
    'persistence false',
    'set_tcp_nodelay true',
    'max_queued_messages 0',
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    '',
  ].join('\n');
  const dir = withTempDir({ 'mosquitto.conf': conf });
  const proc = startPinned(SERVER_CORE, 'mosquitto', ['-c', join(dir, 'mosquitto.conf')]);
  const stop = async (): Promise<void> => {
    await proc.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitListening(port, START_MS);
  } catch (e) {
    await stop();
    throw e;
  }
  return { name: 'mosquitto', proc, port, mqttPort: port, mqttTlsPort: tls === null ? 0 : port, stop };
}
