import { looksLikeMosquittoHash, mosquittoHashProblem } from './mosquitto-hash.js';
import { ENTRIES_PER_STEP, runSteps, type Steps } from './steps.js';

/**
 * Password file parser (SERVER.md §5.2), byte-for-byte the reference's rules so the same
 * htpasswd files give the same logins: the whole text and every line are trimmed, a line must
 * split on `:` into exactly two parts (so blank lines and lines with extra colons are ignored),
 * a login starting with `#` is a comment, and a later duplicate replaces an earlier one.
 */
export function parseHtpasswd(text: string, mosquittoHashes = false): Map<string, string> {
  return runSteps(readHtpasswdSteps(text, mosquittoHashes)).passwords;
}

export interface HtpasswdProblem {
  /** 1-based line number in the file. */
  readonly line: number;
  readonly problem: string;
  /**
   * The line looks damaged (not `login:hash`, an empty login, a bcrypt hash of the wrong
   * length, an accepted Mosquitto hash that does not decode: a half-written or mistyped file), so a reload refuses the file. A well-formed line
   * with another hash type (`htpasswd` without `-B`: apr1, SHA, crypt, plain) is valid reference
   * syntax that never matches: logged, at start-up and on reload alike, but it does not hold
   * back the rest of the reload.
   */
  readonly damaged: boolean;
}

const BCRYPT_PREFIX = /^\$2[abxy]\$\d\d\$/;

/**
 * The lines parseHtpasswd would skip or that can never verify, for reload validation and start-up
 * warnings: not `login:hash`, an empty login, a hash that is not bcrypt (`htpasswd -B`).
 * Blank lines and `#` comments are fine. Hash values are never quoted (they are secrets).
 */
export function htpasswdProblems(text: string, mosquittoHashes = false): HtpasswdProblem[] {
  return runSteps(readHtpasswdSteps(text, mosquittoHashes)).problems;
}

export interface Htpasswd {
  readonly passwords: Map<string, string>;
  readonly problems: HtpasswdProblem[];
  /** Lines with Mosquitto 1.x `$6$` hashes (accepted with mosquittoHashes, but weak). */
  readonly weakLines: number[];
}

/**
 * The passwords and the problems in one pass over the lines, yielding every few thousand.
 * `mosquittoHashes`: `mosquitto_passwd` hashes are valid lines (auth.mosquitto_passwords).
 */
export function* readHtpasswdSteps(text: string, mosquittoHashes = false): Steps<Htpasswd> {
  const passwords = new Map<string, string>();
  const problems: HtpasswdProblem[] = [];
  const weakLines: number[] = [];
  let number = 0;
  // Rust `lines()` splits on \n and drops a trailing \r; the per-line trim removes it anyway.
  for (let start = 0; start <= text.length; ) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    const line = text.slice(start, end).trim();
    start = end + 1;
    if (++number % ENTRIES_PER_STEP === 0) yield;
    if (line === '') continue;
    const parts = line.split(':');
    if (parts.length !== 2) {
      if (!line.startsWith('#')) problems.push({ line: number, problem: `expected login:hash, got ${parts.length - 1} colons`, damaged: true });
      continue;
    }
    const [login, hash] = parts as [string, string];
    if (login.startsWith('#')) continue;
    const problem = hashProblem(login.trim(), hash.trim(), mosquittoHashes);
    if (problem !== undefined) problems.push({ line: number, ...problem });
    else if (hash.trim().startsWith('$6$')) weakLines.push(number);
    passwords.set(login.trim(), hash.trim());
  }
  return { passwords, problems, weakLines };
}

function hashProblem(login: string, hash: string, mosquittoHashes: boolean): Omit<HtpasswdProblem, 'line'> | undefined {
  if (login === '') return { problem: 'empty login', damaged: true };
  if (looksLikeMosquittoHash(hash)) {
    if (!mosquittoHashes) return { problem: `the hash of ${login} is a mosquitto_passwd hash (set auth.mosquitto_passwords: true to accept it, or use htpasswd -B)`, damaged: false };
    const problem = mosquittoHashProblem(hash);
    return problem === undefined ? undefined : { problem: `the mosquitto_passwd hash of ${login} is damaged: ${problem}`, damaged: true };
  }
  if (!BCRYPT_PREFIX.test(hash)) return { problem: `the hash of ${login} is not a bcrypt hash (use htpasswd -B${mosquittoHashes ? ' or mosquitto_passwd' : ''})`, damaged: false };
  if (hash.length !== 60) return { problem: `the bcrypt hash of ${login} has ${hash.length} characters, not 60`, damaged: true };
  return undefined;
}
