/**
 * The servers of the scale benchmark, on fixed loopback ports chosen once so that a restart
 * (the reconnect storm) comes back on the same ports: psrtd as shipped (the launcher's shebang
 * runtime, bin/psrtd.js) and Mosquitto; with --floor also the Node.js floor (the reflector of
 * bench/load/reflector.ts on psrtd's runtime: a server that does no more per session than the
 * protocol requires). Plus what is read from /proc: RSS, CPU ticks, OS limits.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, launcherRuntime, psrtdExtraNodeArgs } from '../lib/brokers.js';
import { SERVER_CORE, startPinned, type Proc } from '../lib/procs.js';

const START_MS = 20_000;
export type ServerName = 'psrtd' | 'mosquitto' | 'node-floor';

export interface Server {
  readonly name: ServerName;
  /** The port the sessions of this run connect to (PSRT or MQTT). */
  readonly port: number;
  readonly proc: Proc;
  /** Stops the process (SIGTERM, SIGKILL after 3 s) and starts it again on the same ports. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** The deb defaults that matter, and room for 9,900 PSRT sessions (2 sockets each). */
function psrtdConfig(psrtPort: number, mqttPort: number): string {
  return `server:
  data_queue: 1024
  latency_warn: 50000
  max_connections: 20000
proto:
  bind: ["127.0.0.1:${psrtPort}"]
  allow_no_tls: true
  timeout: 60
auth:
  allow_anonymous: true
  acl: acl.yml
mqtt:
  bind: ["127.0.0.1:${mqttPort}"]
`;
}

const ACL = '_:\n  sub: ["#"]\n  pub: ["#"]\n';

export function freePort(): Promise<number> {
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

function tempDir(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'psrt-scale-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

/** Starts `launch()` and wraps it as a restartable Server. */
async function restartable(name: ServerName, port: number, dir: string, launch: () => Promise<Proc>): Promise<Server> {
  let proc = await launch();
  const stop = async (): Promise<void> => {
    await proc.stop();
  };
  return {
    name,
    port,
    get proc() { return proc; },
    restart: async () => {
      await stop();
      proc = await launch();
    },
    stop: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** psrtd as shipped; `mqtt` picks which of its listeners the sessions use. */
export async function startPsrtd(mqtt: boolean): Promise<Server> {
  const [psrtPort, mqttPort] = [await freePort(), await freePort()];
  const dir = tempDir({ 'config.yml': psrtdConfig(psrtPort, mqttPort), 'acl.yml': ACL });
  const bin = join(REPO_ROOT, 'bin/psrtd.js');
  const rt = launcherRuntime(bin);
  const launch = async (): Promise<Proc> => {
    const p = startPinned(SERVER_CORE, process.execPath, [...rt.nodeArgs, ...psrtdExtraNodeArgs(), bin, '-C', join(dir, 'config.yml')], 'pipe', rt.env);
    try {
      await p.waitFor(/starting server/, START_MS);
      await waitListening(mqtt ? mqttPort : psrtPort, START_MS);
    } catch (e) {
      await p.stop();
      throw e;
    }
    return p;
  };
  return restartable('psrtd', mqtt ? mqttPort : psrtPort, dir, launch);
}

/**
 * The Node.js floor: the reflector with data pings, on the launcher's node options and
 * environment, so it differs from psrtd only in what psrtd does per session. Its ports are
 * ephemeral (no restart storm for it: it forwards every publish to every session). The extra
 * node options given for psrtd (--node-arg) apply to it too, so both can be profiled alike.
 */
export async function startNodeFloor(mqtt: boolean): Promise<Server> {
  const rt = launcherRuntime(join(REPO_ROOT, 'bin/psrtd.js'));
  const reflector = join(REPO_ROOT, 'dist/bench/load/reflector.js');
  const proc = startPinned(SERVER_CORE, process.execPath, [...rt.nodeArgs, ...psrtdExtraNodeArgs(), reflector, '--data-pings'], 'pipe', rt.env);
  try {
    const m = await proc.waitFor(/reflector psrt=(\d+) mqtt=(\d+)/, START_MS);
    return {
      name: 'node-floor',
      port: Number(mqtt ? m[2] : m[1]),
      proc,
      restart: () => Promise.reject(new Error('the Node.js floor has no restart storm')),
      stop: () => proc.stop(),
    };
  } catch (e) {
    await proc.stop();
    throw e;
  }
}

/** Mosquitto, anonymous, no connection cap, no persistence (so a restart starts empty too). */
export async function startMosquitto(): Promise<Server> {
  const port = await freePort();
  const conf = [
    `listener ${port} 127.0.0.1`,
    'allow_anonymous true',
    'max_connections -1',
    'persistence false',
    'set_tcp_nodelay true',
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    '',
  ].join('\n');
  const dir = tempDir({ 'mosquitto.conf': conf });
  const launch = async (): Promise<Proc> => {
    const p = startPinned(SERVER_CORE, 'mosquitto', ['-c', join(dir, 'mosquitto.conf')]);
    try {
      await waitListening(port, START_MS);
    } catch (e) {
      await p.stop();
      throw e;
    }
    return p;
  };
  return restartable('mosquitto', port, dir, launch);
}

/** VmRSS of a process in KB (0 when it is gone). */
export function rssKb(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return Number(m?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** utime + stime in seconds (fields 14 and 15 of /proc/PID/stat; USER_HZ 100). */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return 0;
  }
}

function readOr(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim().replace(/\s+/g, ' ');
  } catch {
    return 'unknown';
  }
}

/** The OS limits that bound how many sessions fit, as this process sees them. */
export function osLimits(): Record<string, string> {
  let soft = 'unknown';
  let hard = 'unknown';
  try {
    soft = execFileSync('sh', ['-c', 'ulimit -Sn'], { encoding: 'utf8' }).trim();
    hard = execFileSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).trim();
  } catch {
    /* no shell: leave unknown */
  }
  return {
    'ulimit -n (soft/hard)': `${soft}/${hard}`,
    'net.core.somaxconn': readOr('/proc/sys/net/core/somaxconn'),
    'net.ipv4.ip_local_port_range': readOr('/proc/sys/net/ipv4/ip_local_port_range'),
    'fs.file-max': readOr('/proc/sys/fs/file-max'),
  };
}

/** TCP sockets in TIME_WAIT, system-wide (/proc/net/sockstat), or null when unreadable. */
export function timeWaitCount(): number | null {
  try {
    const m = /TCP:.* tw (\d+)/.exec(readFileSync('/proc/net/sockstat', 'utf8'));
    return m?.[1] === undefined ? null : Number(m[1]);
  } catch {
    return null;
  }
}

/**
 * Waits (at most `maxS`) until the TIME_WAIT sockets of an earlier run are gone: with tens of
 * thousands of them, every bind-before-connect of the load clients searches the port space and
 * the client, not the server, sets the connect rate.
 */
export async function waitTimeWaitDrained(log: (s: string) => void, below = 1000, maxS = 75): Promise<void> {
  const first = timeWaitCount();
  if (first === null || first < below) return;
  log(`  waiting for ${first} TIME_WAIT sockets of an earlier run to expire`);
  const deadline = performance.now() + maxS * 1000;
  while (performance.now() < deadline) {
    await new Promise((r) => setTimeout(r, 1000));
    if ((timeWaitCount() ?? 0) < below) return;
  }
  log(`  still ${timeWaitCount()} TIME_WAIT sockets after ${maxS} s; connect figures may be client-bound`);
}
