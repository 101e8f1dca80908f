/**
 * Naive reference matchers written straight from the spec text (split-based, no tree), used by
 * the property tests as oracles. Not a test file itself (no `.test` suffix).
 */

/** SERVER.md §9.2 subscription semantics for a normalised mask and topic. */
export function refSubMatches(mask: string, topic: string): boolean {
  const m = mask.split('/');
  const t = topic.split('/');
  for (let i = 0; i < m.length; i++) {
    // A `#` after i levels is a wildcard subscriber of the depth-i node: collected while the
    // topic still has a level at position i+1, i.e. the topic has more than i levels.
    if (m[i] === '#') return t.length > i;
    if (i >= t.length) return false;
    if (m[i] !== '+' && m[i] !== t[i]) return false;
  }
  return m.length === t.length;
}

/** The tree slot a mask maps to: everything after the first `#` level is dropped. */
export function slotKey(mask: string): string {
  const m = mask.split('/');
  const hash = m.indexOf('#');
  return hash === -1 ? mask : m.slice(0, hash + 1).join('/');
}

/** SERVER.md §6.2 ACL mask semantics, literally. */
export function refAclMatches(mask: string, s: string): boolean {
  if (mask === '#') return true;
  const m = mask.split('/');
  const hash = m.indexOf('#');
  const chunks = hash === -1 ? m : m.slice(0, hash + 1);
  const sc = s.split('/');
  for (let i = 0; i < chunks.length; i++) {
    if (i >= sc.length) return false;
    if (chunks[i] === '#') return true;
    if (chunks[i] !== '+' && chunks[i] !== sc[i]) return false;
  }
  return sc.length === chunks.length;
}

export class TestSub {
  matchStamp = 0;
  constructor(readonly name: string) {}
}

export function names(subs: readonly TestSub[]): string[] {
  return subs.map((s) => s.name).sort();
}
