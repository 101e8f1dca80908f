/**
 * Password file parser (SERVER.md §5.2), byte-for-byte the reference's rules so the same
 * htpasswd files give the same logins: the whole text and every line are trimmed, a line must
 * split on `:` into exactly two parts (so blank lines and lines with extra colons are ignored),
 * a login starting with `#` is a comment, and a later duplicate replaces an earlier one.
 */
export function parseHtpasswd(text: string): Map<string, string> {
  const map = new Map<string, string>();
  // Rust `lines()` splits on \n and drops a trailing \r; the per-line trim removes it anyway.
  for (const raw of text.trim().split('\n')) {
    const parts = raw.trim().split(':');
    if (parts.length !== 2) continue;
    const [login, hash] = parts as [string, string];
    if (login.startsWith('#')) continue;
    map.set(login.trim(), hash.trim());
  }
  return map;
}

export interface HtpasswdProblem {
  /** 1-based line number in the file. */
  readonly line: number;
  readonly problem: string;
  /**
   * The line looks damaged (not `login:hash`, an empty login, a bcrypt hash of the wrong
   * length: a half-written or mistyped file), so a reload refuses the file. A well-formed line
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
export function htpasswdProblems(text: string): HtpasswdProblem[] {
  const problems: HtpasswdProblem[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const parts = line.split(':');
    if (parts.length !== 2) {
      problems.push({ line: i + 1, problem: `expected login:hash, got ${parts.length - 1} colons`, damaged: true });
      return;
    }
    const [login, hash] = parts as [string, string];
    const h = hash.trim();
    if (login.trim() === '') problems.push({ line: i + 1, problem: 'empty login', damaged: true });
    else if (!BCRYPT_PREFIX.test(h)) {
      problems.push({ line: i + 1, problem: `the hash of ${login.trim()} is not a bcrypt hash (use htpasswd -B)`, damaged: false });
    } else if (h.length !== 60) {
      problems.push({ line: i + 1, problem: `the bcrypt hash of ${login.trim()} has ${h.length} characters, not 60`, damaged: true });
    }
  });
  return problems;
}
