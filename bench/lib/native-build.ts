/**
 * Native benchmark clients (bench/scale/loadclient.c, bench/load/tlsclient.c): compiled at bench
 * time into a temporary directory with the system's C compiler, so that a client's own CPU per
 * connection is small next to the server's. When that fails (no compiler, no headers, not
 * Linux) the caller falls back to its Node client and says so.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from './brokers.js';

export interface NativeBinary {
  /** The compiled executable. */
  readonly bin: string;
  /** Removes the temporary directory. */
  dispose(): void;
}

/**
 * Compiles `sources` (paths relative to the repository) with `$CC` (default `cc`) -O2 and
 * `libs` (e.g. `-lssl`); null, after saying why on `log`, when that fails.
 */
export function compileC(name: string, sources: readonly string[], libs: readonly string[], log: (s: string) => void): NativeBinary | null {
  const cc = process.env.CC ?? 'cc';
  const dir = mkdtempSync(join(tmpdir(), `psrt-${name}-`));
  const bin = join(dir, name);
  try {
    execFileSync(cc, ['-O2', '-o', bin, ...sources.map((f) => join(REPO_ROOT, f)), ...libs], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 60_000 });
    return { bin, dispose: () => { rmSync(dir, { recursive: true, force: true }); } };
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    // The compiler's own first line (e.g. a missing openssl/ssl.h) says more than "Command failed".
    const stderr = (e as { stderr?: Buffer }).stderr?.toString('utf8').split('\n').find((l) => l.trim() !== '');
    const why = stderr ?? (e instanceof Error ? e.message.split('\n')[0] : String(e));
    log(`native ${name} not built (${cc} -O2: ${String(why)})`);
    return null;
  }
}
