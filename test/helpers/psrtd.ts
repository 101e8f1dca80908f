/**
 * Spawns a real psrtd (bin/psrtd.js) on 127.0.0.1 with an ephemeral port and a temporary config
 * directory, and stops it by its PID. Used by every end-to-end test.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const PSRTD_BIN = join(REPO_ROOT, 'bin/psrtd.js');

export const FULL_ACL = '_:\n  sub: ["#"]\n  pub: ["#"]\n  admin: true\n';

export interface PsrtdOptions {
  /** Extra lines for the `server:` section (YAML, 2-space indented keys). */
  server?: Record<string, string | number | boolean>;
  proto?: Record<string, string | number | boolean | string[]>;
  auth?: Record<string, string | number | boolean>;
  acl?: string;
  /** htpasswd file content; written as `passwd` and referenced by auth.password_file. */
  passwd?: string;
  keys?: string;
  /** Also listen on a unix socket inside the temp dir. */
  unix?: boolean;
  /** Bind UDP on 127.0.0.1 with an ephemeral port (ignored when proto.bind_udp is given). */
  udp?: boolean;
  /**
   * `mqtt:` section values; when given, MQTT listens on 127.0.0.1:0 (and `bind_tls` when set)
   * unless `bind` is given. Ports are read from the `listening for MQTT` log lines.
   */
  mqtt?: Record<string, string | number | boolean | string[]>;
  /** cluster.yml content (neighbour list); adds `cluster: { config: cluster.yml }`. */
  cluster?: string;
  /** Raw YAML appended to config.yml (further sections, e.g. `bridges:`). */
  extra?: string;
  /** Extra files to write into the config dir before start (name → content). */
  files?: Record<string, string>;
  args?: string[];
  env?: Record<string, string>;
  /** Open-files limit (soft and hard) for psrtd, set by `ulimit -n` in a shell that then execs node (same PID). */
  nofile?: number;
}

export interface Psrtd {
  readonly port: number;
  /** Port of the stats HTTP server (`server.bind_stats`, e.g. 127.0.0.1:0); null when not configured. */
  readonly statsPort: number | null;
  readonly unixPath: string | null;
  /** First UDP port from the `listening on UDP` lines (0 when UDP is not bound). */
  readonly udpPort: number;
  /** Every bound UDP port, in bind order. */
  readonly udpPorts: readonly number[];
  /** First plain MQTT TCP port (0 when MQTT is not configured). */
  readonly mqttPort: number;
  /** First MQTT TLS port (0 when none). */
  readonly mqttTlsPort: number;
  /** First MQTT WebSocket port (`mqtt.ws_bind`; 0 when none). */
  readonly mqttWsPort: number;
  /** First MQTT secure WebSocket port (`mqtt.wss_bind`; 0 when none). */
  readonly mqttWssPort: number;
  readonly dir: string;
  readonly proc: ChildProcess;
  readonly output: string[];
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /**
   * Sends the signal and resolves with the exit code (kills with SIGKILL after 5 s). The temp
   * dir is removed unless `keepDir` (then call `removeDir()`).
   */
  stop(signal?: NodeJS.Signals, keepDir?: boolean): Promise<number | null>;
  removeDir(): void;
}

function yamlValue(v: string | number | boolean | string[]): string {
  if (Array.isArray(v)) return `[${v.map((x) => JSON.stringify(x)).join(', ')}]`;
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

function section(name: string, values: Record<string, string | number | boolean | string[]>): string {
  const lines = Object.entries(values).map(([k, v]) => `  ${k}: ${yamlValue(v)}`);
  return `${name}:\n${lines.join('\n')}\n`;
}

export function writeConfig(dir: string, opts: PsrtdOptions): string {
  writeFileSync(join(dir, 'acl.yml'), opts.acl ?? FULL_ACL);
  const auth: Record<string, string | number | boolean> = { allow_anonymous: true, acl: 'acl.yml', ...opts.auth };
  if (opts.passwd !== undefined) {
    writeFileSync(join(dir, 'passwd'), opts.passwd);
    auth.password_file = 'passwd';
  }
  if (opts.keys !== undefined) {
    writeFileSync(join(dir, 'keys.yml'), opts.keys);
    auth.key_file = 'keys.yml';
  }
  const bind = ['127.0.0.1:0'];
  if (opts.unix === true) bind.push(join(dir, 'psrt.sock'));
  const text =
    section('server', { data_queue: 1024, max_topic_depth: 8, max_pub_size: 100000, max_topic_length: 1000, latency_warn: 500000, ...opts.server }) +
    section('proto', { bind, bind_udp: opts.udp === true ? ['127.0.0.1:0'] : [], allow_no_tls: true, timeout: 2, ...opts.proto }) +
    section('auth', auth) +
    (opts.mqtt === undefined ? '' : section('mqtt', { bind: ['127.0.0.1:0'], ...opts.mqtt })) +
    (opts.cluster === undefined ? '' : 'cluster:\n  config: cluster.yml\n') +
    (opts.extra ?? '');
  if (opts.cluster !== undefined) writeFileSync(join(dir, 'cluster.yml'), opts.cluster);
  for (const [name, content] of Object.entries(opts.files ?? {})) writeFileSync(join(dir, name), content);
  const file = join(dir, 'config.yml');
  writeFileSync(file, text);
  return file;
}

export async function startPsrtd(opts: PsrtdOptions = {}): Promise<Psrtd> {
  const dir = mkdtempSync(join(tmpdir(), 'psrtd-test-'));
  const config = writeConfig(dir, opts);
  const argv = [PSRTD_BIN, '-C', config, ...(opts.args ?? [])];
  const [cmd, cmdArgs] = opts.nofile === undefined
    ? [process.execPath, argv]
    : ['/bin/sh', ['-c', `ulimit -n ${opts.nofile} && exec "$0" "$@"`, process.execPath, ...argv]];
  const proc = spawn(cmd, cmdArgs, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, INVOCATION_ID: 'test', ...opts.env },
  });
  const output: string[] = [];
  const waiters = new Set<() => void>();
  const onText = (chunk: Buffer): void => {
    for (const line of chunk.toString('utf8').split('\n')) if (line !== '') output.push(line);
    for (const w of waiters) w();
  };
  proc.stdout.on('data', onText);
  proc.stderr.on('data', onText);
  const exited = new Promise<number | null>((res) => proc.once('exit', (code) => { res(code); }));
  const waitForLog = (pattern: RegExp, timeoutMs = 5000): Promise<string> =>
    new Promise((res, rej) => {
      const check = (): boolean => {
        const hit = output.find((l) => pattern.test(l));
        if (hit === undefined) return false;
        cleanup();
        res(hit);
        return true;
      };
      const timer = setTimeout(() => {
        cleanup();
        rej(new Error(`psrtd log ${pattern} not seen in ${timeoutMs} ms; output:\n${output.join('\n')}`));
      }, timeoutMs);
      const cleanup = (): void => { clearTimeout(timer); waiters.delete(waiter); };
      const waiter = (): void => { check(); };
      if (!check()) waiters.add(waiter);
    });
  // Generous: node start-up alone takes seconds on a loaded machine. A psrtd that did not come
  // up is killed, or its open pipes would keep the test process alive until the runner's timeout.
  let line: string;
  try {
    line = await waitForLog(/listening on TCP 127\.0\.0\.1:\d+/, 20_000);
    await waitForLog(/starting server/, 20_000);
  } catch (e) {
    proc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const port = Number(/:(\d+)$/.exec(line)?.[1]);
  // The stats server logs its bound address before `starting server` (SERVER.md §2.3 step 9).
  const httpLine = output.find((l) => /listening on HTTP \S+:\d+$/.test(l));
  const statsPort = httpLine === undefined ? null : Number(/:(\d+)$/.exec(httpLine)?.[1]);
  // UDP sockets are bound (and logged) before `starting server`.
  const udpPorts = output.flatMap((l) => {
    const m = /listening on UDP .*:(\d+)$/.exec(l);
    return m?.[1] === undefined ? [] : [Number(m[1])];
  });
  const mqttPortOf = (kind: string): number => {
    const hit = output.find((l) => new RegExp(`listening for ${kind} on 127\\.0\\.0\\.1:\\d+$`).test(l));
    return hit === undefined ? 0 : Number(/:(\d+)$/.exec(hit)?.[1]);
  };
  const mqttPort = mqttPortOf('MQTT');
  const mqttTlsPort = mqttPortOf('MQTT TLS');
  const mqttWsPort = mqttPortOf('MQTT WebSocket');
  const mqttWssPort = mqttPortOf('MQTT WebSocket TLS');
  const removeDir = (): void => {
    rmSync(dir, { recursive: true, force: true });
  };
  const stop = async (signal: NodeJS.Signals = 'SIGTERM', keepDir = false): Promise<number | null> => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
    const killer = setTimeout(() => proc.kill('SIGKILL'), 5000);
    const code = await exited;
    clearTimeout(killer);
    if (!keepDir) removeDir();
    return code;
  };
  const unixPath = opts.unix === true ? join(dir, 'psrt.sock') : null;
  return { port, statsPort, unixPath, udpPort: udpPorts[0] ?? 0, udpPorts, mqttPort, mqttTlsPort, mqttWsPort, mqttWssPort, dir, proc, output, waitForLog, stop, removeDir };
}

/** Runs psrtd to its exit (killed by PID after 20 s): exit code and all output. */
export function runPsrtdToExit(config: string, extraArgs: readonly string[] = []): Promise<{ code: number | null; text: string }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [PSRTD_BIN, '-C', config, ...extraArgs], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, INVOCATION_ID: 'test' } });
    let text = '';
    proc.stdout.on('data', (b: Buffer) => { text += b.toString(); });
    proc.stderr.on('data', (b: Buffer) => { text += b.toString(); });
    const killer = setTimeout(() => proc.kill('SIGKILL'), 20_000);
    proc.once('close', (code) => {
      clearTimeout(killer);
      resolve({ code, text });
    });
  });
}
