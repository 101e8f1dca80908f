/**
 * Deterministic non-matching subscription masks for scenario (e): 60 % exact, the rest with
 * `+` (20 % of all masks start with `+`, so a publish walk must visit those branches too) or
 * `#`. None can match a `bench/...` topic of two levels: exact masks have three levels under
 * `plantN`, leading-`+` masks need three levels, `#` masks sit under `plantN`.
 */

/** mulberry32: every run builds the same masks. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomMask(kind: number, next: () => number): string {
  const p = `plant${Math.floor(next() * 1000)}`;
  const d = `dev${Math.floor(next() * 100)}`;
  const m = `m${Math.floor(next() * 100)}`;
  if (kind < 6) return `${p}/${d}/${m}`;
  if (kind === 6) return `${p}/+/${m}`;
  if (kind === 7) return `+/${d}/${m}`;
  if (kind === 8) return `+/+/${m}`;
  return next() < 0.5 ? `${p}/${d}/#` : `${p}/#`;
}

/** `perSession` distinct masks for each of `sessions` sessions (so the count is exact). */
export function masksFor(sessions: number, perSession: number, seed: number): string[][] {
  const next = rng(seed);
  return Array.from({ length: sessions }, () => {
    const set = new Set<string>();
    for (let j = 0; set.size < perSession && j < perSession * 4; j++) set.add(randomMask(j % 10, next));
    return [...set];
  });
}
