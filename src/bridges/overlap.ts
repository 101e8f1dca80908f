/**
 * Overlapping import subscriptions. An upstream delivers a message once per subscription it
 * matches (nats-server always; Mosquitto for MQTT 5 clients), so with `in: ['a/+/c', 'a/b/+']`
 * a message on `a/b/c` would be imported twice. Masks covered by another are not subscribed at
 * all (masks.ts); for the partial overlaps left, the copy delivered for subscription i is
 * dropped when an earlier subscription j < i also matches its name: exactly one copy survives,
 * the one of the first matching subscription.
 *
 * Both syntaxes are handled: NATS subjects (`.`, `*`, `>` for one or more tokens) and MQTT
 * filters (`/`, `+`, `#` for zero or more levels, wildcards not matching a first level that
 * starts with `$`).
 */

export interface Syntax {
  readonly separator: string;
  readonly one: string;
  readonly rest: string;
  /** Whether `rest` also matches no level at all (MQTT `a/#` matches `a`; NATS `a.>` does not). */
  readonly restMatchesNone: boolean;
  /** MQTT: `+` and `#` do not match a first level starting with `$`. */
  readonly dollarRule: boolean;
}

export const NATS_SYNTAX: Syntax = { separator: '.', one: '*', rest: '>', restMatchesNone: false, dollarRule: false };
export const MQTT_SYNTAX: Syntax = { separator: '/', one: '+', rest: '#', restMatchesNone: true, dollarRule: true };

/** Whether some name matches both patterns (then one message can be delivered for both). */
export function patternsIntersect(a: string, b: string, s: Syntax): boolean {
  const x = a.split(s.separator);
  const y = b.split(s.separator);
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) {
    const p = x[i];
    const q = y[i];
    if (p === s.rest || q === s.rest) return true;
    if (p !== s.one && q !== s.one && p !== q) return false;
  }
  if (x.length === y.length) return true;
  // One is longer: only a trailing `rest` that may match nothing lets the shorter one catch up.
  const longer = x.length > y.length ? x : y;
  return s.restMatchesNone && longer.length === n + 1 && longer[n] === s.rest;
}

/** Whether the name (subject or topic, no wildcards) matches the pattern. */
export function patternMatches(pattern: readonly string[], name: readonly string[], s: Syntax): boolean {
  if (s.dollarRule && name[0]?.startsWith('$') === true && (pattern[0] === s.one || pattern[0] === s.rest)) return false;
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i];
    if (p === s.rest) return s.restMatchesNone ? name.length >= i : name.length > i;
    if (i >= name.length) return false;
    if (p !== s.one && p !== name[i]) return false;
  }
  return pattern.length === name.length;
}

/**
 * The ordered import subscriptions of one bridge, and which copy of a message to keep. With no
 * two subscriptions overlapping (the usual case, e.g. a single `#`) nothing is ever checked.
 */
export class Subscriptions {
  readonly overlapping: boolean;
  private readonly levels: readonly (readonly string[])[];

  constructor(readonly patterns: readonly string[], private readonly syntax: Syntax) {
    this.levels = patterns.map((p) => p.split(syntax.separator));
    this.overlapping = patterns.some((p, i) => patterns.some((q, j) => j < i && patternsIntersect(p, q, syntax)));
  }

  /**
   * The index of the first subscription matching `name` (the one whose copy is kept), or
   * `patterns.length` when no two subscriptions overlap or none matches by our reckoning: then
   * every copy is kept rather than risk losing the message.
   */
  owner(name: string): number {
    if (!this.overlapping) return this.levels.length;
    const levels = name.split(this.syntax.separator);
    const i = this.levels.findIndex((p) => patternMatches(p, levels, this.syntax));
    return i < 0 ? this.levels.length : i;
  }

  /**
   * Whether some subscription matches `name`. A persistent session may still hold subscriptions
   * of an earlier configuration; their messages match none of the current ones.
   */
  matchesAny(name: string): boolean {
    const levels = name.split(this.syntax.separator);
    for (const p of this.levels) if (patternMatches(p, levels, this.syntax)) return true;
    return false;
  }

  /** Whether the copy delivered for subscription `index` is a duplicate of an earlier one's. */
  isDuplicate(name: string, index: number): boolean {
    return this.overlapping && this.owner(name) < index;
  }
}

/** MQTT 5's largest Subscription Identifier (§2.2.2.2, a Variable Byte Integer of 1 to 268,435,455). */
const MAX_SUBSCRIPTION_ID = 268_435_455;

/**
 * The identifier of the first of `filters` (the others follow), derived from the filters
 * themselves (FNV-1a): the same configuration gets the same identifiers after a restart, and
 * another one almost surely others, so that copies a persistent session queued for an earlier
 * configuration's subscriptions are told apart (indexes alone would map them onto the wrong filters).
 */
export function firstSubscriptionId(filters: readonly string[]): number {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(filters.join('\n'))) h = Math.imul(h ^ byte, 0x01000193) >>> 0;
  const n = Math.max(1, filters.length);
  return (h % Math.floor(MAX_SUBSCRIPTION_ID / n)) * n + 1;
}
