/**
 * `<persistence_file>.lock`: one psrtd per persistence file. Two psrtd given the same file (a
 * copied config, a second instance on other ports) would each overwrite the other's saves, and
 * the next start would load whichever wrote last: the other's sessions and retained messages
 * gone. The lock holds the owner's PID and its start time from /proc, so a lock left by a
 * crash is recognised even when the PID has been reused since (a restarted container's PID 1,
 * a busy host): only a live process with that PID *and* that start time holds it.
 */
import { readFileSync } from 'node:fs';
import { open, readFile, unlink } from 'node:fs/promises';

export interface LockOwner {
  readonly pid: number;
  /** Clock ticks since boot when the process started (/proc/<pid>/stat field 22); 0 unknown. */
  readonly startTime: number;
}

/** A process's start time from /proc; 0 when there is no such process or no /proc. */
export function processStartTime(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // Fields after the command name, which is in parentheses and may itself hold spaces or ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[19] ?? 0) || 0;
  } catch {
    return 0;
  }
}

function parseOwner(text: string): LockOwner | null {
  const m = /^(\d+) (\d+)\n?$/.exec(text);
  return m === null ? null : { pid: Number(m[1]), startTime: Number(m[2]) };
}

/** Whether the lock's owner still runs (and is not this process). */
function ownerAlive(owner: LockOwner): boolean {
  if (owner.pid === process.pid || owner.pid <= 0) return false;
  // With /proc, the PID and its start time: a PID reused since the owner ended is not it.
  if (owner.startTime !== 0 && processStartTime(process.pid) !== 0) return processStartTime(owner.pid) === owner.startTime;
  try {
    process.kill(owner.pid, 0); // no /proc: the PID alone
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class PersistenceLock {
  private constructor(readonly path: string) {}

  /**
   * Takes the lock; throws an Error saying which process holds it. A lock whose owner is gone
   * (or unreadable: a crash while writing it) is taken over.
   */
  static async acquire(path: string): Promise<PersistenceLock> {
    const me = `${process.pid} ${processStartTime(process.pid)}\n`;
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fh = await open(path, 'wx', 0o600);
        try {
          await fh.writeFile(me);
        } finally {
          await fh.close();
        }
        return new PersistenceLock(path);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const owner = parseOwner(await readFile(path, 'latin1').catch(() => ''));
      if (owner !== null && ownerAlive(owner)) {
        throw new Error(`in use by another psrtd (pid ${owner.pid}, lock file ${path}); give each psrtd its own persistence_file`);
      }
      await unlink(path).catch(() => undefined); // stale: its owner ended without removing it
    }
    throw new Error(`cannot take the lock file ${path}: another process keeps creating it`);
  }

  /** Shutdown: the lock goes, unless somebody else's replaced it meanwhile. */
  async release(): Promise<void> {
    const owner = parseOwner(await readFile(this.path, 'latin1').catch(() => ''));
    if (owner?.pid === process.pid) await unlink(this.path).catch(() => undefined);
  }
}
