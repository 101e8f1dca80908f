/**
 * Topic normalisation (SERVER.md §9.1) and cheap topic predicates used on the publish hot path.
 */

const SLASH = 0x2f;
const RUN_OF_SLASHES = /\/{2,}/g;

/**
 * Collapses every run of `/` into one, then drops one leading `/`; a trailing `/` is kept
 * (`a//b` → `a/b`, `a///` → `a/`, `/a/b` → `a/b`, `/` → ``).
 *
 * Almost every real topic is already normal, so that case returns the input itself without
 * allocating; only malformed topics pay for the regex.
 */
export function normalizeTopic(raw: string): string {
  const leading = raw.charCodeAt(0) === SLASH;
  if (!leading && !raw.includes('//')) return raw;
  const collapsed = raw.replace(RUN_OF_SLASHES, '/');
  // After collapsing there is at most one leading slash left.
  return collapsed.charCodeAt(0) === SLASH ? collapsed.slice(1) : collapsed;
}

/** Number of `/` characters, i.e. the depth checked against `max_topic_depth`. */
export function topicDepth(normalized: string): number {
  let depth = 0;
  for (let i = 0; i < normalized.length; i++) {
    if (normalized.charCodeAt(i) === SLASH) depth++;
  }
  return depth;
}

/** True when `s` contains `+` or `#` anywhere (a publish with either is a protocol violation). */
export function hasWildcardChar(s: string): boolean {
  return s.includes('+') || s.includes('#');
}
