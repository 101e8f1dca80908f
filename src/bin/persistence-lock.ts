/**
 * `<persistence_file>.lock`: one psrtd per persistence file. Two psrtd given the same file (a
 * copied config, a second instance on other ports) would each overwrite the other's saves, and
 * the next start would load whichever wrote last: the other's sessions and retained messages
 * gone. The lock holds the owner's PID and its start time from /proc, so a lock left by a
 * crash is recognised even when the PID has been reused since (a restarted container's PID 1,
 * a busy host): only a live process with that PID *and* that start time holds it.
 */
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { link, open, readFile, unlink, writeFile } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';

export interface LockOwner {
  readonly pid: number;
  /** Clock ticks since boot when the process started (/proc/<pid>/stat field 22); 0 unknown. */
  readonly startTime: number;
}

/** /proc/<pid>/stat's fields after the command name; null when there is no such process or no /proc. */
function procStatFields(pid: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // The command name is in parentheses and may itself hold spaces or ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** A process's start time from /proc; 0 when there is no such process or no /proc. */
export function processStartTime(pid: number): number {
  return Number(procStatFields(pid)?.[19] ?? 0) || 0;
}

/**
 * A process that has ended but whose parent has not collected it yet (state Z or X): it keeps
 * its PID and start time, but holds no file any more. A psrtd killed with SIGKILL is one until
 * its supervisor reaps it, and a restart meanwhile must not take its lock for a live one.
 */
function processEnded(pid: number): boolean {
  const state = procStatFields(pid)?.[0];
  return state === 'Z' || state === 'X';
}

function parseOwner(text: string): LockOwner | null {
  const m = /^(\d+) (\d+)\n?$/.exec(text);
  return m === null ? null : { pid: Number(m[1]), startTime: Number(m[2]) };
}

/** Whether the lock's owner still runs (and is not this process). */
function ownerAlive(owner: LockOwner): boolean {
  if (owner.pid === process.pid || owner.pid <= 0 || processEnded(owner.pid)) return false;
  // With /proc, the PID and its start time: a PID reused since the owner ended is not it. A
  // process whose /proc entry this one cannot read (hidepid, another user) is judged by its PID.
  if (owner.startTime !== 0 && processStartTime(process.pid) !== 0) {
    const startTime = processStartTime(owner.pid);
    if (startTime !== 0) return startTime === owner.startTime;
  }
  try {
    process.kill(owner.pid, 0); // no /proc: the PID alone
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The lock file's text as found (null once gone). */
async function readHeld(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'latin1');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e; // unreadable (another user's lock): not evidence that it is stale
  }
}

/**
 * Creates `path` holding `content`, complete at the moment it appears (a psrtd starting at the
 * same instant must never read it empty and take it for a crash's leftover): written to a
 * file of its own, then hard-linked (fails with EEXIST as `wx` does). Where the file system
 * has no hard links, an exclusive create. False when `path` exists.
 */
async function createComplete(path: string, content: string): Promise<boolean> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`;
  try {
    await writeFile(tmp, content, { mode: 0o600, flag: 'wx' });
    await link(tmp, path);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw e;
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
  try {
    const fh = await open(path, 'wx', 0o600);
    try {
      await fh.writeFile(content);
    } finally {
      await fh.close();
    }
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
}

/**
 * Removes a stale lock whose text was `held`. Several psrtd starting at once all find it stale:
 * one at a time removes it (holding `<lock>.break`), and only while it still says `held`, never
 * the lock another has made since (an inode number is no proof: the new file may reuse it).
 */
async function removeStale(path: string, held: string, me: string): Promise<void> {
  const breaker = `${path}.break`;
  if (await createComplete(breaker, me)) {
    try {
      if ((await readHeld(path)) === held) await unlink(path).catch(() => undefined);
    } finally {
      await unlink(breaker).catch(() => undefined);
    }
    return;
  }
  const other = await readHeld(breaker);
  const breakerOwner = other === null ? null : parseOwner(other);
  // Left by a crash in the middle of this: removed. Else another is at it: wait for it.
  if (other !== null && (breakerOwner === null || !ownerAlive(breakerOwner))) await unlink(breaker).catch(() => undefined);
  else await delay(10);
}

export class PersistenceLock {
  private constructor(readonly path: string) {}

  /**
   * Takes the lock; throws an Error saying which process holds it. A lock whose owner is gone
   * (or whose text is no owner's) is taken over; one this process may not read is an error.
   */
  static async acquire(path: string): Promise<PersistenceLock> {
    const me = `${process.pid} ${processStartTime(process.pid)}\n`;
    for (let attempt = 0; attempt < 100; attempt++) {
      if (await createComplete(path, me)) return new PersistenceLock(path);
      const held = await readHeld(path);
      if (held === null) continue; // its owner removed it meanwhile
      const owner = parseOwner(held);
      if (owner !== null && ownerAlive(owner)) {
        throw new Error(`in use by another psrtd (pid ${owner.pid}, lock file ${path}); give each psrtd its own persistence_file`);
      }
      await removeStale(path, held, me); // its owner ended without removing it
    }
    throw new Error(`cannot take the lock file ${path}: another process keeps creating it`);
  }

  /** Shutdown: the lock goes, unless somebody else's replaced it meanwhile. */
  async release(): Promise<void> {
    const owner = parseOwner(await readFile(this.path, 'latin1').catch(() => ''));
    if (owner?.pid === process.pid) await unlink(this.path).catch(() => undefined);
  }
}
