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
const HASH = 0x23;
const PLUS = 0x2b;

/** What an ACL `sub` or `pub` list answers: a single mask and a list of masks both do. */
export interface AclGrant {
  /** Does the string `s` (publish: normalised topic) match? */
  matches(s: string): boolean;
  /** Is every topic the subscription `sub` (raw, as sent) can match granted? (Decision 2) */
  coversSubscription(sub: string): boolean;
}

export class AclMask implements AclGrant {
  /**
   * Those chunks as one string when none is `+` (most masks), made at the first publish check:
   * the check is then one native string compare instead of a walk. Null: a mask with `+`.
   * Lazily, because a site with a million users loads a million masks and most are never used
   * for a publish (`sub` masks, users not connected).
   */
  private literal: string | null | undefined;

  /**
   * The source and three numbers: the chunks are not kept as an array of strings (a site with
   * a million users has a million masks).
   */
  private constructor(
    readonly source: string,
    /** How many chunks precede the first `#` chunk (all of them if there is none); 0 = anything. */
    private readonly count: number,
    /** The length of those chunks in `source`, with the slashes between them. */
    private readonly length: number,
    /** The mask ended with `#`: at least one more chunk is required, any content. */
    private readonly tail: boolean,
  ) {}

  /** Parses a mask from the ACL file; an empty mask is a configuration error. */
  static parse(mask: string): AclMask {
    if (mask.length === 0) throw new PsrtError(ErrorCode.Config, 'empty ACL mask');
    let count = 0;
    for (let pos = 0; ; count++) {
      const slash = mask.indexOf(SLASH, pos);
      const end = slash === -1 ? mask.length : slash;
      if (end - pos === 1 && mask.charCodeAt(pos) === HASH) return new AclMask(mask, count, pos === 0 ? 0 : pos - 1, true);
      if (slash === -1) return new AclMask(mask, count + 1, mask.length, false);
      pos = slash + 1;
    }
  }

  /** True when this mask matches anything (the list short-circuits on it). */
  get matchesAll(): boolean {
    return this.count === 0; // `#` or `#/…`: a mask without a `#` has at least one chunk
  }

  /** Does the string `s` (publish: normalised topic) match this mask? */
  matches(s: string): boolean {
    if (this.count === 0) return true;
    const literal = this.literal === undefined ? (this.literal = this.literalPart()) : this.literal;
    if (literal !== null) {
      // `a/b`: s is exactly it; `a/b/#`: s is it, a slash and at least an empty chunk.
      if (!this.tail) return s === literal;
      return s.length > literal.length && s.charCodeAt(literal.length) === 0x2f && s.startsWith(literal);
    }
    let pos = 0; // start of the current chunk of s; -1 once s has no chunks left
    let at = 0; // start of the current chunk of the mask
    for (let i = 0; i < this.count; i++) {
      if (pos < 0) return false;
      const slash = s.indexOf(SLASH, pos);
      const end = slash === -1 ? s.length : slash;
      const next = this.chunkEnd(at);
      if (!this.chunkCovers(at, next, s, pos, end)) return false;
      pos = slash === -1 ? -1 : slash + 1;
      at = next + 1;
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
    if (this.count === 0) return true;
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
    let at = 0;
    for (let i = 0; i < this.count; i++) {
      if (pos < 0) return false;
      const slash = sub.indexOf(SLASH, pos);
      const end = slash === -1 ? sub.length : slash;
      const isHash = end - pos === 1 && sub.charCodeAt(pos) === HASH;
      if (isHash) return false; // only a mask `#` covers it, and that is not a stored chunk
      const next = this.chunkEnd(at);
      // A literal cannot cover `+` either: the literal compare fails on it.
      if (!this.chunkCovers(at, next, sub, pos, end)) return false;
      pos = slash === -1 ? -1 : slash + 1;
      at = next + 1;
    }
    return this.tail ? pos >= 0 : pos < 0;
  }

  /** The chunks before `#` as one string, or null when one of them is `+`. */
  private literalPart(): string | null {
    for (let at = 0, i = 0; i < this.count; i++) {
      const next = this.chunkEnd(at);
      if (next - at === 1 && this.source.charCodeAt(at) === PLUS) return null;
      at = next + 1;
    }
    return this.tail ? this.source.slice(0, this.length) : this.source;
  }

  /** Where the mask chunk starting at `at` ends. */
  private chunkEnd(at: number): number {
    const slash = this.source.indexOf(SLASH, at);
    return slash === -1 || slash > this.length ? this.length : slash;
  }

  /** The mask chunk [at, next) is `+`, or equals s[pos, end). */
  private chunkCovers(at: number, next: number, s: string, pos: number, end: number): boolean {
    const length = next - at;
    if (length === 1 && this.source.charCodeAt(at) === PLUS) return true;
    if (end - pos !== length) return false;
    for (let i = 0; i < length; i++) if (this.source.charCodeAt(at + i) !== s.charCodeAt(pos + i)) return false;
    return true;
  }
}

/** An ACL `sub` or `pub` list: any mask grants. */
export class AclMaskList implements AclGrant {
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
