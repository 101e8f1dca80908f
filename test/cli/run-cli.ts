/** Runs bin/psrt-cli.js as a child process with bounded time. */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { ROOT, within } from '../client/util.js';

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
    const [code] = await within(20_000, exited, `psrt-cli ${args.join(' ')}`);
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
