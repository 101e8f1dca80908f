/**
 * The file-system side of `mqtt.persistence_file` (src/bin/persistence-file.ts): the checks of
 * its directory at start, whole writes, the directory's fsync, and the identity of the file as
 * psrtd last wrote it.
 */
import { constants } from 'node:fs';
import type { Stats } from 'node:fs';
import { access, open, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fsErrorText, type YamlLines } from '../auth/yaml-validate.js';

export const KEY = ['mqtt', 'persistence_file'] as const;

/** A start error for `mqtt.persistence_file` when its directory cannot take the file. */
export async function checkDirectory(o: { readonly file: string; readonly configLines: YamlLines }): Promise<void> {
  const dir = dirname(o.file);
  const fail = (problem: string): Error => o.configLines.error(KEY, problem);
  const dirStat = await stat(dir).catch((e: unknown) => {
    throw fail(`directory ${dir} of ${o.file} ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : `cannot be read (${fsErrorText(e)})`}`);
  });
  if (!dirStat.isDirectory()) throw fail(`${dir} (directory of ${o.file}) is not a directory`);
  await access(dir, constants.W_OK | constants.X_OK).catch((e: unknown) => {
    throw fail(`directory ${dir} of ${o.file} is not writable (${fsErrorText(e)})`);
  });
  const fileStat = await stat(o.file).catch(() => null);
  if (fileStat !== null && !fileStat.isFile()) throw fail(`${o.file} is not a regular file`);
}

export async function writeAll(fh: Awaited<ReturnType<typeof open>>, chunk: Buffer): Promise<void> {
  let done = 0;
  while (done < chunk.length) done += (await fh.write(chunk, done, chunk.length - done)).bytesWritten;
}

/** The file as psrtd last loaded or wrote it. */
export interface FileIdentity {
  readonly ino: number;
  readonly size: number;
  readonly mtimeMs: number;
}

export function identityOf(s: Stats): FileIdentity {
  return { ino: s.ino, size: s.size, mtimeMs: s.mtimeMs };
}

export async function syncDirectory(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
