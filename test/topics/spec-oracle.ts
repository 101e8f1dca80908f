/**
 * Oracles written from the spec text alone (SERVER.md §6.2, §9.1, §9.2, the README's `%u`/`%c`
 * levels, MQTT §4.7), as recursion over level lists on purpose: they share no code or shape with
 * src/topics nor with reference.ts, so one mistake would have to be made twice, differently.
 * Also the edge-case generators the property tests share. Not a test file (no `.test` suffix).
 */
import fc from 'fast-check';

/** §9.1: every run of `/` becomes one, then one leading `/` goes; a trailing one stays. */
export function specNormalize(raw: string): string {
  let out = '';
  for (const ch of raw) if (ch !== '/' || !out.endsWith('/')) out += ch;
  return out.startsWith('/') ? out.slice(1) : out;
}

/**
 * §9.2 on a normalised mask and topic: `#` is a wildcard subscriber of the node it hangs from,
 * collected while the topic still has a level there (so `a/#` needs a level after `a`);
 * everything after `#` is ignored; `+` takes any one level, empty included.
 */
export function specPsrtMatch(mask: string, topic: string): boolean {
  const walk = (m: readonly string[], t: readonly string[]): boolean => {
    const head = m[0];
    if (head === '#') return t.length > 0;
    if (t.length === 0 || (head !== '+' && head !== t[0])) return false;
    return m.length === 1 ? t.length === 1 : walk(m.slice(1), t.slice(1));
  };
  return walk(mask.split('/'), topic.split('/'));
}

/**
 * MQTT §4.7 on a valid filter and topic name, byte-exact: `#` is zero or more levels (so
 * `sport/#` matches `sport`), `+` one level (empty included), and a filter whose first level is
 * a wildcard never matches a topic name starting with `$`.
 */
export function specMqttMatch(filter: string, topic: string): boolean {
  const f = filter.split('/');
  if (topic.startsWith('$') && (f[0] === '+' || f[0] === '#')) return false;
  const walk = (m: readonly string[], t: readonly string[]): boolean => {
    if (m.length === 0) return t.length === 0;
    if (m[0] === '#') return true;
    if (t.length === 0 || (m[0] !== '+' && m[0] !== t[0])) return false;
    return walk(m.slice(1), t.slice(1));
  };
  return walk(f, topic.split('/'));
}

/**
 * §6.2 on a mask and a string: exactly `#` is anything; a `#` chunk ends the mask and matches
 * whatever remains, but only if something remains (`a/#` does not grant `a`); `+` is any one
 * chunk, even an empty one or a literal `+`/`#`; the rest must be equal, and as many.
 */
export function specAclMatch(mask: string, s: string): boolean {
  if (mask === '#') return true;
  const walk = (m: readonly string[], c: readonly string[]): boolean => {
    if (m.length === 0) return c.length === 0;
    if (c.length === 0) return false;
    if (m[0] === '#') return true;
    if (m[0] !== '+' && m[0] !== c[0]) return false;
    return walk(m.slice(1), c.slice(1));
  };
  return walk(mask.split('/'), s.split('/'));
}

/**
 * README, `%u`/`%c`: a level that is exactly `%u` is the login, `%c` the client id; a value that
 * is missing, empty or holds `/`, `+`, `#` (or NUL) makes the mask grant nothing; the anonymous
 * user `_` has no login. Undefined = the mask grants nothing for this client.
 */
export function specBind(mask: string, user: string, clientId: string | undefined): string | undefined {
  const usable = (v: string | undefined): v is string => v !== undefined && v !== '' && !['/', '+', '#', '\u0000'].some((c) => v.includes(c));
  const login = user === '_' ? undefined : user;
  const levels: string[] = [];
  for (const level of mask.split('/')) {
    if (level === '%u' || level === '%c') {
      const value = level === '%u' ? login : clientId;
      if (!usable(value)) return undefined;
      levels.push(value);
    } else levels.push(level);
  }
  return levels.join('/');
}

/** Levels that trip matchers: empty, wildcards, `$`, wildcard-looking literals, non-ASCII. */
export const EDGE_LEVELS = ['a', 'b', 'ab', '', '+', '#', '$', '$SYS', '$x', 'a+', '#x', ' ', 'é', '日本', '🙂', '%u'] as const;
/** The literal levels only (MQTT topic names, published PSRT topics). */
export const LITERAL_LEVELS = EDGE_LEVELS.filter((l) => l !== '+' && l !== '#' && l !== 'a+' && l !== '#x');

export const edgeLevel = fc.constantFrom(...EDGE_LEVELS);
export const literalLevel = fc.constantFrom(...LITERAL_LEVELS);

/** A raw string of 1..maxLevels levels: leading, trailing and repeated `/` come from `''`. */
export function rawOf(level: fc.Arbitrary<string>, maxLevels: number): fc.Arbitrary<string> {
  return fc.array(level, { minLength: 1, maxLength: maxLevels }).map((l) => l.join('/'));
}

/**
 * A topic the normalised subscription `sub` matches (§9.2): each `+` becomes some literal
 * level, a `#` one or more of them. Drawn from `pick` (values in [0, 1)), so it is seeded.
 */
export function instantiate(sub: string, pick: readonly number[]): string {
  let k = 0;
  const next = (): string => LITERAL_LEVELS[Math.floor((pick[k++ % pick.length] ?? 0) * LITERAL_LEVELS.length)] ?? 'a';
  const out: string[] = [];
  for (const level of sub.split('/')) {
    if (level === '#') {
      const extra = 1 + Math.floor((pick[k++ % pick.length] ?? 0) * 3);
      for (let i = 0; i < extra; i++) out.push(next());
      break;
    }
    out.push(level === '+' ? next() : level);
  }
  return out.join('/');
}

export const picks = fc.array(fc.double({ min: 0, max: 0.999, noNaN: true }), { minLength: 1, maxLength: 12 });
