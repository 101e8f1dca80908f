/**
 * Third-party MQTT clients as child processes: Debian's `mosquitto_sub` / `mosquitto_pub`
 * (package mosquitto-clients) and Debian's paho-mqtt under /usr/bin/python3 (package
 * python3-paho-mqtt). A missing tool fails the test with the package to install, never skips.
 * Every child is bounded (mosquitto's -W, a kill timer) and stopped by its PID.
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';

export const MOSQUITTO_SUB = '/usr/bin/mosquitto_sub';
export const MOSQUITTO_PUB = '/usr/bin/mosquitto_pub';
const STDBUF = '/usr/bin/stdbuf';
/** Debian's interpreter: its dist-packages hold python3-paho-mqtt (a pyenv python3 on PATH does not). */
export const SYSTEM_PYTHON = '/usr/bin/python3';

/** Throws a clear error naming the Debian package when a tool is missing. */
export function requireMosquittoClients(): void {
  for (const tool of [MOSQUITTO_SUB, MOSQUITTO_PUB, STDBUF]) {
    if (!existsSync(tool)) throw new Error(`${tool} not found: install the Debian package mosquitto-clients (.ci/run does)`);
  }
}

/** The installed paho-mqtt version; throws naming the package when it is missing. */
export function requirePaho(): string {
  if (!existsSync(SYSTEM_PYTHON)) throw new Error(`${SYSTEM_PYTHON} not found: install the Debian package python3`);
  const r = spawnSync(SYSTEM_PYTHON, ['-c', 'import paho.mqtt; print(paho.mqtt.__version__)'], { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) throw new Error(`paho-mqtt not importable by ${SYSTEM_PYTHON}: install the Debian package python3-paho-mqtt (.ci/run does)\n${r.stderr}`);
  return r.stdout.trim();
}

/** Throws naming the package when pyOpenSSL (a TLS client that can renegotiate) is missing. */
export function requirePyOpenSsl(): void {
  const r = spawnSync(SYSTEM_PYTHON, ['-c', 'import OpenSSL'], { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) throw new Error(`pyOpenSSL not importable by ${SYSTEM_PYTHON}: install the Debian package python3-openssl (.ci/run does)\n${r.stderr}`);
}

export interface ToolResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a program to its end (killed after `timeoutMs`); `input` is written to its stdin. */
export function runTool(file: string, args: string[], timeoutMs = 15_000, input?: Buffer): Promise<ToolResult> {
  return new Promise((resolve) => {
    const child = execFile(file, args, { timeout: timeoutMs, killSignal: 'SIGKILL', encoding: 'utf8', maxBuffer: 8 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
      resolve({ code, stdout, stderr });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** mosquitto_pub with `-p port` and the given args; `-d` so acks are in stdout. */
export function mosquittoPub(port: number, args: string[], input?: Buffer): Promise<ToolResult> {
  return runTool(MOSQUITTO_PUB, ['-h', '127.0.0.1', '-p', String(port), '-d', ...args], 15_000, input);
}

export interface ReceivedMessage {
  readonly topic: string;
  readonly qos: number;
  readonly retain: boolean;
  readonly payload: Buffer;
}

const FORMAT = 'MSG|%q|%r|%x|%t';

/** A running mosquitto_sub: its messages (payload exact, as hex), debug lines and exit. */
export class MosquittoSub {
  readonly lines: string[] = [];
  readonly messages: ReceivedMessage[] = [];
  private readonly exited: Promise<number | null>;
  private partial = '';
  private wake: (() => void) | null = null;
  /** The process has exited and all its output has been read. */
  private outputDone = false;

  private constructor(readonly proc: ChildProcess) {
    proc.stdout?.setEncoding('utf8');
    proc.stderr?.setEncoding('utf8');
    proc.stdout?.on('data', (s: string) => { this.onText(s); });
    proc.stderr?.on('data', (s: string) => { this.onText(s); });
    // 'close', not 'exit': 'exit' can come before the last output has been read from the pipes
    // (a run that printed its last message and exited looked like one that never got it).
    this.exited = new Promise((res) => proc.once('close', (code) => { this.outputDone = true; this.wake?.(); res(code); }));
  }

  /**
   * Starts `mosquitto_sub -d -W <maxSeconds>` on `port` with the args (topics, -V, -q, ...) and
   * waits for its SUBACK. `waitSuback = false` for runs that are expected to fail earlier.
   */
  static async start(port: number, args: string[], opts: { maxSeconds?: number; waitSuback?: boolean; host?: string } = {}): Promise<MosquittoSub> {
    const all = ['-h', opts.host ?? '127.0.0.1', '-p', String(port), '-d', '-W', String(opts.maxSeconds ?? 30), '-F', FORMAT, ...args];
    // stdbuf execs mosquitto_sub (same PID) with line-buffered stdout: its debug lines are not flushed otherwise.
    const sub = new MosquittoSub(spawn(STDBUF, ['-oL', MOSQUITTO_SUB, ...all], { stdio: ['ignore', 'pipe', 'pipe'] }));
    if (opts.waitSuback !== false) await sub.waitFor(() => sub.lines.some((l) => l.startsWith('Subscribed (mid:')), 10_000, 'SUBACK');
    return sub;
  }

  private onText(s: string): void {
    const parts = (this.partial + s).split('\n');
    this.partial = parts.pop() ?? '';
    for (const line of parts) {
      this.lines.push(line);
      const m = /^MSG\|(\d)\|(\d)\|([0-9a-f]*)\|(.*)$/.exec(line);
      if (m !== null) this.messages.push({ qos: Number(m[1]), retain: m[2] === '1', payload: Buffer.from(m[3] ?? '', 'hex'), topic: m[4] ?? '' });
    }
    this.wake?.();
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** The SUBACK codes mosquitto_sub printed (`Subscribed (mid: 1): 0, 128`). */
  get grantedQos(): number[] {
    const line = this.lines.find((l) => l.startsWith('Subscribed (mid:'));
    return line === undefined ? [] : (line.split('): ')[1] ?? '').split(',').map((x) => Number(x.trim()));
  }

  waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.wake = null;
        reject(new Error(`mosquitto_sub: no ${what} within ${timeoutMs} ms; output:\n${this.lines.join('\n')}${this.partial}`));
      }, timeoutMs);
      const check = (): void => {
        if (cond()) {
          clearTimeout(timer);
          this.wake = null;
          resolve();
        } else if (this.outputDone && this.wake !== null) {
          clearTimeout(timer);
          this.wake = null;
          reject(new Error(`mosquitto_sub exited (${this.proc.exitCode}) before ${what}; output:\n${this.lines.join('\n')}${this.partial}`));
        }
      };
      this.wake = check;
      check();
    });
  }

  waitMessages(n: number, timeoutMs = 10_000): Promise<void> {
    return this.waitFor(() => this.messages.length >= n, timeoutMs, `${n} messages (have ${this.messages.length})`);
  }

  /** Resolves with the exit code; kills by PID after `timeoutMs`. */
  async exit(timeoutMs = 10_000): Promise<number | null> {
    const killer = setTimeout(() => this.proc.kill('SIGKILL'), timeoutMs);
    const code = await this.exited;
    clearTimeout(killer);
    return code;
  }

  /** Stops the process by its PID (SIGTERM: mosquitto_sub exits without DISCONNECT handling issues). */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (this.running) this.proc.kill(signal);
    await this.exit(5000);
  }
}

/** Runs an inline Python script with Debian's interpreter; its stdout is returned. */
export function runPython(script: string, args: string[], timeoutMs = 20_000): Promise<ToolResult> {
  return runTool(SYSTEM_PYTHON, ['-c', script, ...args], timeoutMs);
}
