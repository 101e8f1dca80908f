/**
 * Real third-party engines for the bridge tests, on loopback with free ports: a nats-server
 * cluster (routes up before it is returned; a node can be killed and restarted by PID), a
 * nats-server with its MQTT listener, and Mosquitto with a generated config. Every child is
 * stopped by its PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `check` every 50 ms until it is true; throws after `timeoutMs`. */
export async function until(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const t0 = performance.now();
  while (!(await check())) {
    if (performance.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

class Child {
  proc: ChildProcess | null = null;
  readonly output: string[] = [];

  constructor(
    private readonly cmd: string,
    private readonly args: readonly string[],
  ) {}

  start(): void {
    const proc = spawn(this.cmd, this.args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (b: Buffer): void => {
      this.output.push(...b.toString().split('\n').filter((l) => l !== ''));
      if (this.output.length > 2000) this.output.splice(0, 1000);
    };
    proc.stdout.on('data', keep);
    proc.stderr.on('data', keep);
    this.proc = proc;
  }

  get running(): boolean {
    return this.proc !== null && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Stops the child by its PID and waits for its exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const proc = this.proc;
    if (proc === null) return;
    this.proc = null;
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((r) => proc.once('exit', () => { r(); }));
    if (proc.pid !== undefined) process.kill(proc.pid, signal);
    const killer = setTimeout(() => { if (proc.pid !== undefined && proc.exitCode === null) process.kill(proc.pid, 'SIGKILL'); }, 3000);
    await exited;
    clearTimeout(killer);
  }
}

async function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tcpConnect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => { resolve(false); });
  });
}

async function numRoutes(monitorPort: number): Promise<number> {
  try {
    const r = await fetch(`http://127.0.0.1:${monitorPort}/routez`);
    const body = (await r.json()) as { num_routes?: number };
    return body.num_routes ?? 0;
  } catch {
    return -1;
  }
}

export class NatsNode {
  private readonly child: Child;

  constructor(
    readonly name: string,
    readonly port: number,
    readonly clusterPort: number,
    readonly monitorPort: number,
    routes: readonly number[],
    clusterName: string,
  ) {
    const routeUrls = routes.map((p) => `nats://127.0.0.1:${p}`).join(',');
    this.child = new Child('nats-server', [
      '-a', '127.0.0.1', '-p', String(port), '-m', String(monitorPort), '-n', name,
      '--cluster', `nats://127.0.0.1:${clusterPort}`, '--cluster_name', clusterName,
      ...(routeUrls === '' ? [] : ['--routes', routeUrls]),
    ]);
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child.running;
  }

  get output(): readonly string[] {
    return this.child.output;
  }

  async start(): Promise<void> {
    this.child.start();
    await until(() => accepts(this.port), 10_000, `nats-server ${this.name} on ${this.port}`);
  }

  routes(): Promise<number> {
    return numRoutes(this.monitorPort);
  }

  /** SIGKILL by PID: the node vanishes as in a crash. */
  kill(): Promise<void> {
    return this.child.stop('SIGKILL');
  }

  /** SIGSTOP / SIGCONT by PID: the node stalls (its sockets stay open, nothing is read). */
  signal(sig: 'SIGSTOP' | 'SIGCONT'): void {
    const pid = this.child.proc?.pid;
    if (pid !== undefined) process.kill(pid, sig);
  }

  stop(): Promise<void> {
    return this.child.stop('SIGTERM');
  }
}

export class NatsCluster {
  private constructor(readonly nodes: readonly NatsNode[]) {}

  /** `size` nodes with full-mesh routes, returned once every node sees all the others. */
  static async start(size = 3): Promise<NatsCluster> {
    const ports: [number, number, number][] = [];
    for (let i = 0; i < size; i++) ports.push([await freePort(), await freePort(), await freePort()]);
    const clusterName = `psrt-test-${process.pid}`;
    const nodes = ports.map(([p, c, m], i) =>
      new NatsNode(`n${i + 1}`, p, c, m, ports.filter((_, j) => j !== i).map((q) => q[1]), clusterName),
    );
    const cluster = new NatsCluster(nodes);
    try {
      await Promise.all(nodes.map((n) => n.start()));
      await cluster.waitForRoutes();
    } catch (e) {
      await cluster.stop();
      throw e;
    }
    return cluster;
  }

  get urls(): string[] {
    return this.nodes.map((n) => n.url);
  }

  /** Every running node routes to every other running node. */
  async waitForRoutes(timeoutMs = 15_000): Promise<void> {
    const running = this.nodes.filter((n) => n.running);
    await until(async () => {
      const counts = await Promise.all(running.map((n) => n.routes()));
      return counts.every((c) => c >= running.length - 1);
    }, timeoutMs, 'nats cluster routes');
  }

  node(port: number): NatsNode | undefined {
    return this.nodes.find((n) => n.port === port);
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop()));
  }
}

/** One nats-server with JetStream and its MQTT listener (nats-server's MQTT needs JetStream). */
export class NatsWithMqtt {
  private readonly child: Child;

  private constructor(
    readonly port: number,
    readonly mqttPort: number,
    private readonly dir: string,
  ) {
    const conf = join(dir, 'nats.conf');
    writeFileSync(conf, [
      'server_name: mqtt_probe',
      `listen: 127.0.0.1:${port}`,
      `jetstream { store_dir: ${JSON.stringify(join(dir, 'js'))} }`,
      `mqtt { listen: 127.0.0.1:${mqttPort} }`,
      '',
    ].join('\n'));
    this.child = new Child('nats-server', ['-c', conf]);
  }

  static async start(): Promise<NatsWithMqtt> {
    const n = new NatsWithMqtt(await freePort(), await freePort(), mkdtempSync(join(tmpdir(), 'nats-mqtt-')));
    n.child.start();
    try {
      await until(async () => (await accepts(n.port)) && (await accepts(n.mqttPort)), 15_000, 'nats-server MQTT listener');
    } catch (e) {
      await n.stop();
      throw e;
    }
    return n;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  async stop(): Promise<void> {
    await this.child.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const MOSQUITTO = existsSync('/usr/sbin/mosquitto') ? '/usr/sbin/mosquitto' : 'mosquitto';

/**
 * Mosquitto on a free loopback port, anonymous; restartable on the same port. `persistent`:
 * sessions and queued messages survive a restart (saved on SIGTERM).
 */
export class Mosquitto {
  private readonly child: Child;

  private constructor(
    readonly port: number,
    private readonly dir: string,
    persistent: boolean,
    extraConf: string,
  ) {
    const conf = join(dir, 'mosquitto.conf');
    const persistence = persistent ? `persistence true\npersistence_location ${dir}/\n` : 'persistence false\n';
    // Run as root, Mosquitto would switch to user `mosquitto`, which cannot write our temp dir.
    const user = `user ${userInfo().username}\n`;
    writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\n${persistence}${user}log_dest stderr\n${extraConf}`);
    this.child = new Child(MOSQUITTO, ['-c', conf]);
  }

  static async start(persistent = false, port?: number, extraConf = ''): Promise<Mosquitto> {
    const m = new Mosquitto(port ?? (await freePort()), mkdtempSync(join(tmpdir(), 'mosquitto-')), persistent, extraConf);
    try {
      await m.restart();
    } catch (e) {
      await m.stop();
      throw e;
    }
    return m;
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  get output(): readonly string[] {
    return this.child.output;
  }

  async restart(): Promise<void> {
    this.child.start();
    await until(() => accepts(this.port), 10_000, `mosquitto on ${this.port}`);
  }

  /** SIGSTOP / SIGCONT by PID: the broker stalls (its sockets stay open, nothing is read). */
  signal(sig: 'SIGSTOP' | 'SIGCONT'): void {
    const pid = this.child.proc?.pid;
    if (pid !== undefined) process.kill(pid, sig);
  }

  /** Stops the broker by PID (it can be restarted on the same port). */
  halt(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    return this.child.stop(signal);
  }

  async stop(): Promise<void> {
    await this.child.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
