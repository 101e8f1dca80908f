/** Runs bin/psrt-cli.js as a child process with bounded time. */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { ROOT, waitFor, within } from '../client/util.js';

export const CLI = join(ROOT, 'bin', 'psrt-cli.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  stdoutBytes: Buffer;
}

export interface RunningCli {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Sends SIGINT (Ctrl-C) and waits for the exit. */
  interrupt(): Promise<CliResult>;
  wait(): Promise<CliResult>;
}

export function spawnCli(args: readonly string[], env: NodeJS.ProcessEnv = {}): RunningCli {
  const child = spawn(process.execPath, [CLI, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1', ...env },
  });
  const out: Buffer[] = [];
  let err = '';
  child.stdout.on('data', (d: Buffer) => out.push(d));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = once(child, 'exit') as Promise<[number | null]>;
  const result = async (): Promise<CliResult> => {
    const [code] = await within(20_000, exited, `psrt-cli ${args.join(' ')}`).catch((err: unknown) => {
      child.kill('SIGKILL'); // not left running: it would keep the test file from ending
      throw err;
    });
    const bytes = Buffer.concat(out);
    return { code, stdout: bytes.toString(), stderr: err, stdoutBytes: bytes };
  };
  return {
    child,
    stdout: () => Buffer.concat(out).toString(),
    stderr: () => err,
    interrupt: () => {
      child.kill('SIGINT');
      return result();
    },
    wait: result,
  };
}

export async function runCli(args: readonly string[], input?: string | Buffer): Promise<CliResult> {
  const c = spawnCli(args);
  c.child.stdin?.end(input);
  try {
    return await c.wait();
  } finally {
    if (c.child.exitCode === null) c.child.kill('SIGKILL');
  }
}

/** `c_sub_ops` of a psrtd with a stats server: topics its SUBSCRIBE and UNSUBSCRIBE ops processed. */
export async function subOps(statsPort: number): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${String(statsPort)}/status`);
  if (!res.ok) throw new Error(`/status answered ${String(res.status)} (stats need no login only with anonymous access)`);
  const status = (await res.json()) as { counters: { c_sub_ops: number } };
  return status.counters.c_sub_ops;
}

/**
 * Starts a psrt-cli subscriber and waits until psrtd has processed its SUBSCRIBE. psrt-cli logs
 * "Listening to" before it sends the SUBSCRIBE (as the reference does), so waiting for the line
 * plus a fixed pause raced the test's first publish on a loaded machine (seen: the message was
 * published before the subscription existed, and `-C 2` never completed).
 */
export async function spawnSubscriber(args: readonly string[], statsPort: number): Promise<RunningCli> {
  const before = await subOps(statsPort);
  const sub = spawnCli(args);
  try {
    await waitFor(() => sub.stderr().includes('Listening to'), 10_000, 'psrt-cli start-up');
    const until = Date.now() + 10_000;
    while ((await subOps(statsPort)) === before) {
      if (Date.now() > until || sub.child.exitCode !== null) throw new Error(`psrtd did not process the SUBSCRIBE of psrt-cli ${args.join(' ')}:\n${sub.stderr()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  } catch (err) {
    sub.child.kill('SIGKILL'); // a child left running would keep the test file from ending
    throw err;
  }
  return sub;
}
