/**
 * Child processes of the bench: pinned to a core with taskset when available, output kept in a
 * bounded buffer for diagnostics, stopped by their own PID (never by name), and their memory
 * sampled from /proc/<pid>/status.
 */
import { spawn, spawnSync, type ChildProcess, type StdioOptions } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

export const SERVER_CORE = 0;
export const LOAD_CORE = 1;
const MAX_OUTPUT_LINES = 200;
const STOP_GRACE_MS = 3000;

/** taskset is used only if present and there are at least two cores to separate. */
export const canPin: boolean =
  availableParallelism() >= 2 && spawnSync('taskset', ['-V'], { stdio: 'ignore' }).status === 0;

/** Pins this (orchestrator) process to the load core, off the server's core. */
export function pinSelf(): void {
  if (canPin) spawnSync('taskset', ['-pc', String(LOAD_CORE), String(process.pid)], { stdio: 'ignore' });
}

export interface Proc {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly output: string[];
  /** Resolves with the first output line matching `re` (rejects on exit or after `ms`). */
  waitFor(re: RegExp, ms: number): Promise<RegExpExecArray>;
  /** SIGTERM, then SIGKILL after a grace period; resolves once the process has exited. */
  stop(): Promise<void>;
}

/** Starts `cmd args` pinned to `core` (taskset execs the command, so the PID is the command's). */
export function startPinned(
  core: number,
  cmd: string,
  args: string[],
  stdio: StdioOptions = 'pipe',
  env: Readonly<Record<string, string>> = {},
): Proc {
  const [file, argv] = canPin ? ['taskset', ['-c', String(core), cmd, ...args]] : [cmd, args];
  const child = spawn(file, argv, { stdio, env: { ...process.env, ...env } });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`cannot start ${cmd}`);
  const output: string[] = [];
  const listeners = new Set<() => void>();
  const onText = (chunk: Buffer): void => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line === '') continue;
      output.push(line);
      if (output.length > MAX_OUTPUT_LINES) output.shift();
    }
    for (const l of listeners) l();
  };
  child.stdout?.on('data', onText);
  child.stderr?.on('data', onText);
  const exited = new Promise<void>((resolve) => child.once('exit', () => { resolve(); }));
  const waitFor = (re: RegExp, ms: number): Promise<RegExpExecArray> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        for (const line of output) {
          const m = re.exec(line);
          if (m !== null) {
            done();
            resolve(m);
            return;
          }
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${cmd}: ${re} not seen in ${ms} ms; output:\n${output.join('\n')}`));
      }, ms);
      const onExit = (): void => {
        done();
        reject(new Error(`${cmd} exited; output:\n${output.join('\n')}`));
      };
      const done = (): void => {
        clearTimeout(timer);
        listeners.delete(check);
        child.off('exit', onExit);
      };
      listeners.add(check);
      child.once('exit', onExit);
      check();
    });
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    process.kill(pid, 'SIGTERM');
    const killer = setTimeout(() => {
      if (child.exitCode === null && child.signalCode === null) process.kill(pid, 'SIGKILL');
    }, STOP_GRACE_MS);
    await exited;
    clearTimeout(killer);
  };
  return { child, pid, output, waitFor, stop };
}

export interface ProcUsage {
  /** Largest VmRSS seen by the sampler, MB. */
  rssMaxMb: number;
  /** Kernel's peak resident set (VmHWM) at the last sample, MB. */
  hwmMb: number;
  /** CPU use between two wall-clock instants (epoch ms), in % of one core; NaN if unknown. */
  cpuPct(fromMs: number, toMs: number): number;
}

function readKb(status: string, key: string): number {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status);
  return m?.[1] === undefined ? 0 : Number(m[1]);
}

/** utime + stime in clock ticks (fields 14 and 15 of /proc/PID/stat, after the `(comm)`). */
export function readTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/** USER_HZ: 100 on every Linux build that matters here. */
export const TICKS_PER_S = 100;

/** Samples a process's memory and CPU time every `everyMs` until stopped. */
export function sampleProc(pid: number, everyMs = 50): { stop(): ProcUsage } {
  const times: number[] = [];
  const ticks: number[] = [];
  let rssMaxMb = 0;
  let hwmMb = 0;
  const sample = (): void => {
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      rssMaxMb = Math.max(rssMaxMb, readKb(status, 'VmRSS') / 1024);
      hwmMb = Math.max(hwmMb, readKb(status, 'VmHWM') / 1024);
      ticks.push(readTicks(pid));
      times.push(Date.now());
    } catch {
      /* the process ended or /proc is unavailable: keep what we have */
    }
  };
  /** Ticks at wall time `t`, interpolated between samples. */
  const ticksAt = (t: number): number => {
    let i = times.findIndex((x) => x >= t);
    if (i < 0) i = times.length - 1;
    if (i <= 0) return ticks[0] ?? NaN;
    const [t0, t1, k0, k1] = [times[i - 1] ?? 0, times[i] ?? 0, ticks[i - 1] ?? 0, ticks[i] ?? 0];
    return t1 === t0 ? k1 : k0 + ((k1 - k0) * (t - t0)) / (t1 - t0);
  };
  sample();
  const timer = setInterval(sample, everyMs);
  let stopped = false;
  return {
    stop: () => {
      if (!stopped) sample();
      stopped = true;
      clearInterval(timer);
      const cpuPct = (from: number, to: number): number =>
        times.length < 2 ? NaN : ((ticksAt(to) - ticksAt(from)) / TICKS_PER_S / ((to - from) / 1000)) * 100;
      return { rssMaxMb, hwmMb, cpuPct };
    },
  };
}
