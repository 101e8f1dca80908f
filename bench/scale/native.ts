/**
 * The native load client (bench/scale/loadclient.c, loadproto.c): compiled at bench time into
 * a temporary directory with the system's C compiler, so that the client's own CPU per session
 * is small next to the server's. Without a compiler the Node client (client.ts) is used, and
 * the report says so.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../lib/brokers.js';
import type { ToClient } from './wire.js';

const SOURCES = ['loadclient.c', 'loadproto.c'].map((f) => join(REPO_ROOT, 'bench/scale', f));

export interface NativeClient {
  /** The compiled executable. */
  readonly bin: string;
  /** Removes the temporary directory. */
  dispose(): void;
}

/**
 * Compiles the native client with `$CC` (default `cc`) -O2; null, after saying why on `log`,
 * when that fails (no compiler, not Linux).
 */
export function buildNativeClient(log: (s: string) => void): NativeClient | null {
  const cc = process.env.CC ?? 'cc';
  const dir = mkdtempSync(join(tmpdir(), 'psrt-loadclient-'));
  const bin = join(dir, 'loadclient');
  try {
    execFileSync(cc, ['-O2', '-o', bin, ...SOURCES], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 60_000 });
    return { bin, dispose: () => { rmSync(dir, { recursive: true, force: true }); } };
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    const why = e instanceof Error ? e.message.split('\n')[0] : String(e);
    log(`native load client not built (${cc} -O2: ${why}): using the Node load client (bench/scale/client.ts), which costs more CPU per session`);
    return null;
  }
}

/** A command for the native client: one line on its stdin. */
export function nativeCommand(m: ToClient): string {
  if (m.type !== 'start') return `${m.type}\n`;
  return `start ${m.proto} ${m.port} ${m.first} ${m.count} ${m.window} ${m.keepaliveS} ${m.jitterMs} ${m.prefix} ${m.addrs.join(',')}\n`;
}
