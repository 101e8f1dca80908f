/**
 * The import hot path reads a NATS message's bytes as the client parsed them, without the
 * client's per-message work: decoding the subject to a string (the same few subjects arrive
 * over and over) and decoding the headers into a map of arrays (to read two of them). What
 * psrtd nodes export carries only `Psrt-Origin` and `Psrt-Priority`; such headers are scanned
 * in place here. Anything else (other headers, a status line, unusual spacing) is left to the
 * client's own decoding, so the outcome is always the same as through its public API.
 *
 * The client's message object (MsgImpl) keeps the parsed arguments in `_msg` and the bytes in
 * `_rdata`; they are checked on every message, and a message without them takes the public path.
 */
import type { Msg } from '@nats-io/transport-node';

export interface RawMsg {
  readonly _msg: { readonly subject: Uint8Array; readonly hdr: number };
  readonly _rdata: Uint8Array;
}

export function rawOf(msg: Msg): RawMsg | null {
  const r = msg as Partial<RawMsg>;
  const a = r._msg;
  return a !== undefined && a.subject instanceof Uint8Array && typeof a.hdr === 'number' && r._rdata instanceof Uint8Array ? (r as RawMsg) : null;
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return rangeIs(a, 0, a.length, b);
}

/** The headers need the client's decoding (see scanHeaders). */
export const SLOW = -2;
/** The message carries this node's own origin. */
export const ECHO = -1;

const enc = new TextEncoder();
const STATUS_LINE = enc.encode('NATS/1.0\r\n');
const CR = 0x0d;
const LF = 0x0a;
const COLON = 0x3a;

/** What String.prototype.trim removes, in ASCII; a value with other bytes at its ends is SLOW. */
function isBlank(c: number | undefined): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0b || c === 0x0c;
}

function startsWith(b: Uint8Array, at: number, prefix: Uint8Array): boolean {
  if (at + prefix.length > b.length) return false;
  for (let i = 0; i < prefix.length; i++) if (b[at + i] !== prefix[i]) return false;
  return true;
}

/** Equal bytes in [from, to) of `b` and all of `want`. */
export function rangeIs(b: Uint8Array, from: number, to: number, want: Uint8Array): boolean {
  return to - from === want.length && startsWith(b, from, want);
}

/** 0-255 from 1 to 3 ASCII digits in [from, to), else SLOW (the client's reading decides). */
function smallNumber(b: Uint8Array, from: number, to: number): number {
  if (to <= from || to - from > 3) return SLOW;
  let n = 0;
  for (let i = from; i < to; i++) {
    const d = (b[i] ?? 0) - 0x30;
    if (d < 0 || d > 9) return SLOW;
    n = n * 10 + d;
  }
  return n <= 255 ? n : SLOW;
}

/** Reads headers made of the origin and priority header lines only, in place. */
export class HeaderScanner {
  private readonly originKey: Uint8Array;
  private readonly priorityKey: Uint8Array;
  private readonly self: Uint8Array;
  /** The last block scanned and its outcome: an exporter sends the same block again and again. */
  private last = new Uint8Array(0);
  private lastResult = SLOW;

  constructor(originHeader: string, priorityHeader: string, nodeId: string, private readonly defaultPriority: number) {
    this.originKey = enc.encode(originHeader);
    this.priorityKey = enc.encode(priorityHeader);
    this.self = enc.encode(nodeId);
  }

  /**
   * The priority of a message whose header block `b[from, end)` holds nothing but those two
   * headers (the first of each counts, as with the client's `get`); ECHO when the origin is
   * this node; SLOW when the block holds anything else.
   */
  scan(b: Uint8Array, end: number, from = 0): number {
    if (rangeIs(b, from, end, this.last)) return this.lastResult;
    const result = this.read(b, from, end);
    this.last = new Uint8Array(b.subarray(from, end)); // a copy: the read is not kept
    this.lastResult = result;
    return result;
  }

  private read(b: Uint8Array, from: number, end: number): number {
    if (!startsWith(b, from, STATUS_LINE)) return SLOW;
    let priority = -1;
    let origin = 0; // 0 unseen, 1 another node, 2 this node
    let at = from + STATUS_LINE.length;
    while (at < end) {
      let eol = at;
      while (eol < end && b[eol] !== CR) eol++;
      if (eol + 1 >= end || b[eol + 1] !== LF) return SLOW;
      if (eol === at) return at + 2 === end ? (origin === 2 ? ECHO : priority < 0 ? this.defaultPriority : priority) : SLOW;
      let colon = at;
      while (colon < eol && b[colon] !== COLON) colon++;
      let vFrom = colon + 1;
      let vTo = eol;
      while (vFrom < vTo && isBlank(b[vFrom])) vFrom++;
      while (vTo > vFrom && isBlank(b[vTo - 1])) vTo--;
      if ((b[vFrom] ?? 0) >= 0x80 || (b[vTo - 1] ?? 0) >= 0x80) return SLOW;
      if (rangeIs(b, at, colon, this.originKey)) {
        if (origin === 0) origin = rangeIs(b, vFrom, vTo, this.self) ? 2 : 1;
      } else if (rangeIs(b, at, colon, this.priorityKey)) {
        if (priority < 0) priority = smallNumber(b, vFrom, vTo);
        if (priority === SLOW) return SLOW;
      } else {
        return SLOW;
      }
      at = eol + 2;
    }
    return SLOW;
  }
}
