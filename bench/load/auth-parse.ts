/**
 * Child of bench/auth-files.ts (run with psrtd's runtime settings and --expose-gc): parses the
 * acl.yml, passwd and, when asked, keys.yml in `dir` as psrtd does at start-up, and prints the
 * time of each and the memory (JS heap and buffers) each keeps per user, as JSON.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseAclText, parseHtpasswd, parseKeysText } from '../../src/auth/index.js';

export interface ParseFigures {
  aclMb: number;
  aclSeconds: number;
  aclBytesPerUser: number;
  passwdMb: number;
  passwdSeconds: number;
  passwdBytesPerUser: number;
  keysSeconds: number | null;
  keysBytesPerUser: number | null;
}

const gc = (globalThis as { gc?: () => void }).gc;

/**
 * What the loaded data keeps: the JS heap and buffer memory (UDP keys are bytes in buffers,
 * outside the heap). First a regexp match on a string of its own: V8 keeps the subject of the
 * last match (after a parse, a slice that holds the whole file's text) only until any later
 * match replaces it; counted, it made keys.yml look 79 B per user heavier than it stays.
 */
function memoryUsed(): number {
  /(z)/.exec(`z${Math.random()}`);
  gc?.();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** Time and retained memory of `load` (the text it reads is counted where psrtd keeps slices of it). */
function measure<T>(load: () => T): { value: T; seconds: number; bytes: number } {
  const before = memoryUsed();
  const started = performance.now();
  const value = load();
  const seconds = (performance.now() - started) / 1000;
  return { value, seconds, bytes: memoryUsed() - before };
}

const [dir = '.', withKeys = ''] = process.argv.slice(2);
const file = (name: string): string => join(dir, name);
const acl = measure(() => parseAclText(readFileSync(file('acl.yml'), 'utf8'), 'acl.yml'));
const users = acl.value.size;
const passwd = measure(() => parseHtpasswd(readFileSync(file('passwd'), 'utf8')));
const keys = withKeys === 'keys' ? measure(() => parseKeysText(readFileSync(file('keys.yml'), 'utf8'), 'keys.yml', acl.value, () => undefined)) : null;
const figures: ParseFigures = {
  aclMb: statSync(file('acl.yml')).size / 1e6,
  aclSeconds: acl.seconds,
  aclBytesPerUser: acl.bytes / users,
  passwdMb: statSync(file('passwd')).size / 1e6,
  passwdSeconds: passwd.seconds,
  passwdBytesPerUser: passwd.bytes / users,
  keysSeconds: keys?.seconds ?? null,
  keysBytesPerUser: keys === null ? null : keys.bytes / users,
};
process.stdout.write(`${JSON.stringify(figures)}\n`);
