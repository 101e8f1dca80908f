/**
 * ACL masks (SERVER.md §6.2). This is deliberately NOT the subscription matcher: `a/#` needs at
 * least one more chunk (does not grant `a`), and `+` matches any single chunk, even an empty
 * one or a literal `+`/`#`.
 *
 * `coversSubscription` implements README Decision 2 (the reference's escalation is fixed): a
 * subscription is allowed only if the mask matches every topic that subscription can deliver.
 */
import { ErrorCode, PsrtError } from '../protocol/errors.js';
import { normalizeTopic } from './normalize.js';

const SLASH = '/';

export class AclMask {
  /** True for a mask whose first chunk is `#` (`#`, `#/x`): matches anything. */
  private readonly all: boolean;

  private constructor(
    readonly source: string,
    /** Chunks before the first `#` (the `#` and anything after it are not stored). */
    private readonly chunks: readonly string[],
    /** The mask ended with `#`: at least one more chunk is required, any content. */
    private readonly tail: boolean,
  ) {
    this.all = tail && chunks.length === 0;
  }

  /** Parses a mask from the ACL file; an empty mask is a configuration error. */
  static parse(mask: string): AclMask {
    if (mask.length === 0) throw new PsrtError(ErrorCode.Config, 'empty ACL mask');
    const chunks = mask.split(SLASH);
    const hash = chunks.indexOf('#');
    if (hash === -1) return new AclMask(mask, chunks, false);
    return new AclMask(mask, chunks.slice(0, hash), true);
  }

  /** True when this mask matches anything (the list short-circuits on it). */
  get matchesAll(): boolean {
    return this.all;
  }

  /** Does the string `s` (publish: normalised topic) match this mask? */
  matches(s: string): boolean {
    if (this.all) return true;
    let pos = 0; // start of the current chunk of s; -1 once s has no chunks left
    for (const chunk of this.chunks) {
      if (pos < 0) return false;
      const slash = s.indexOf(SLASH, pos);
      const end = slash === -1 ? s.length : slash;
      if (chunk !== '+' && !(end - pos === chunk.length && s.startsWith(chunk, pos))) return false;
      pos = slash === -1 ? -1 : slash + 1;
    }
    // `#` needs one more chunk (possibly empty); otherwise s must end exactly here.
    return this.tail ? pos >= 0 : pos < 0;
  }

  /**
   * Decision 2: true iff every topic the subscription `sub` (raw, as sent) can match is matched
   * by this mask. Checked on the raw chunks AND on the normalised string the server will
   * actually store: the raw check alone would let `/#` through an ACL `+/#` (stored as `#`),
   * or `a//b` through `a/+/b` (stored as `a/b`). Requiring the raw check as well keeps every
   * reference denial (e.g. `/a/b` under `a/#`), so we never allow more than the reference.
   */
  coversSubscription(sub: string): boolean {
    if (this.all) return true;
    if (!this.coversChunks(sub)) return false;
    const normalized = normalizeTopic(sub);
    return normalized === sub || this.coversChunks(normalized);
  }

  /**
   * Position-wise coverage. A subscription `#` at position j matches topics with j or more
   * levels, so only a mask `#` at the same position covers it; a mask `#` at position j covers
   * any subscription that still has a j-th chunk; `+` covers a literal or `+`; a literal covers
   * only itself; otherwise lengths must agree exactly (a fixed-length mask cannot cover `#`).
   */
  private coversChunks(sub: string): boolean {
    let pos = 0;
    for (const chunk of this.chunks) {
      if (pos < 0) return false;
      const slash = sub.indexOf(SLASH, pos);
      const end = slash === -1 ? sub.length : slash;
      const isHash = end - pos === 1 && sub.charCodeAt(pos) === 0x23;
      if (isHash) return false; // only a mask `#` covers it, and that is not a stored chunk
      if (chunk !== '+' && !(end - pos === chunk.length && sub.startsWith(chunk, pos))) {
        return false; // a literal cannot cover `+` either: chunk is never `+` here
      }
      pos = slash === -1 ? -1 : slash + 1;
    }
    return this.tail ? pos >= 0 : pos < 0;
  }
}

/** An ACL `sub` or `pub` list: any mask grants. */
export class AclMaskList {
  readonly masks: readonly AclMask[];
  private readonly all: boolean;

  constructor(masks: readonly AclMask[]) {
    this.masks = masks;
    this.all = masks.some((m) => m.matchesAll);
  }

  matches(s: string): boolean {
    if (this.all) return true;
    for (const m of this.masks) if (m.matches(s)) return true;
    return false;
  }

  /**
   * Per mask, as Decision 2 says ("some ACL mask covers"): a union of masks that only together
   * covers a subscription (e.g. `a/+` + `a/+/#` for `a/#`) does not grant it.
   */
  coversSubscription(sub: string): boolean {
    if (this.all) return true;
    for (const m of this.masks) if (m.coversSubscription(sub)) return true;
    return false;
  }
}
