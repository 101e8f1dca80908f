/**
 * The two decoders behind the reference's Basic-auth 400 answers (SERVER.md §13.1), with the
 * reference's error texts: base64 as Rust's `base64` 0.13 decodes it (STANDARD alphabet,
 * padding optional, non-zero trailing bits rejected) and UTF-8 as Rust's `str::from_utf8`
 * reports it. Node's own decoders are lenient (they skip bad characters and substitute U+FFFD),
 * so they cannot tell us when the reference would have answered 400.
 */

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const PAD = 0x3d; // '='
const INVALID = 0xff;

const DECODE_TABLE: Uint8Array = (() => {
  const t = new Uint8Array(256).fill(INVALID);
  for (let i = 0; i < ALPHABET.length; i++) t[ALPHABET.charCodeAt(i)] = i;
  return t;
})();

export type DecodeResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string };

const invalidByte = (offset: number, byte: number): DecodeResult<Buffer> => ({
  ok: false,
  error: `Invalid byte ${byte}, offset ${offset}.`,
});

/**
 * base64 0.13 `decode()`: lengths ≡ 1 or 5 (mod 8) fail first (reporting a bad last byte in
 * preference); '=' is only accepted as trailing padding at positions 2 and 3 of a quad; the
 * first offending '=' is reported otherwise; the bits a final partial quad does not use must
 * be zero. `input` holds one byte per char (latin1), as HTTP header values do.
 */
export function decodeBase64Reference(input: string): DecodeResult<Buffer> {
  const len = input.length;
  if (len % 8 === 1 || len % 8 === 5) {
    const last = input.charCodeAt(len - 1);
    if (last !== PAD && lookup(last) === INVALID) return invalidByte(len - 1, last);
    return { ok: false, error: 'Encoded text cannot have a 6-bit remainder.' };
  }
  const out = Buffer.allocUnsafe(Math.floor((len * 3) / 4));
  let outLen = 0;
  let acc = 0;
  let morsels = 0;
  let firstPad = -1;
  let lastSymbolAt = -1;
  for (let i = 0; i < len; i++) {
    const b = input.charCodeAt(i);
    if (b === PAD) {
      if (i % 4 < 2) return invalidByte(firstPad >= 0 ? firstPad : i, PAD);
      if (firstPad < 0) firstPad = i;
      continue;
    }
    if (firstPad >= 0) return invalidByte(firstPad, PAD);
    const v = lookup(b);
    if (v === INVALID) return invalidByte(i, b);
    acc = (acc << 6) | v;
    morsels++;
    lastSymbolAt = i;
    if (morsels === 4) {
      out[outLen++] = (acc >> 16) & 0xff;
      out[outLen++] = (acc >> 8) & 0xff;
      out[outLen++] = acc & 0xff;
      acc = 0;
      morsels = 0;
    }
  }
  return finishQuad(input, out, outLen, acc, morsels, lastSymbolAt);
}

function lookup(b: number): number {
  return b < 256 ? (DECODE_TABLE[b] ?? INVALID) : INVALID;
}

/** A final quad of 2 or 3 symbols yields 1 or 2 bytes; its unused low bits must be zero. */
function finishQuad(
  input: string,
  out: Buffer,
  outLen: number,
  acc: number,
  morsels: number,
  lastSymbolAt: number,
): DecodeResult<Buffer> {
  let n = outLen;
  if (morsels === 2 || morsels === 3) {
    const unusedBits = morsels === 2 ? 4 : 2;
    if ((acc & ((1 << unusedBits) - 1)) !== 0) {
      return { ok: false, error: `Invalid last symbol ${input.charCodeAt(lastSymbolAt)}, offset ${lastSymbolAt}.` };
    }
    const bits = acc >> unusedBits;
    if (morsels === 3) out[n++] = (bits >> 8) & 0xff;
    out[n++] = bits & 0xff;
  }
  return { ok: true, value: out.subarray(0, n) };
}

/** Continuation byte test (Rust: `byte as i8 < -64`). */
const isCont = (b: number | undefined): boolean => b !== undefined && b >= 0x80 && b <= 0xbf;

/**
 * The sequence starting at `i`: `valid` = its length, or `bad` = Rust's `Utf8Error::error_len`
 * (bytes of the invalid sequence; 0 standing for None: the input ends inside the sequence).
 */
function checkSequence(buf: Uint8Array, i: number): { valid: number } | { bad: number } {
  const first = buf[i] ?? 0;
  if (first < 0x80) return { valid: 1 };
  const width = first >= 0xc2 && first <= 0xdf ? 2 : first >= 0xe0 && first <= 0xef ? 3 : first >= 0xf0 && first <= 0xf4 ? 4 : 0;
  if (width === 0) return { bad: 1 };
  const second = buf[i + 1];
  if (second === undefined) return { bad: 0 };
  if (!secondByteOk(first, second)) return { bad: 1 };
  for (let k = 2; k < width; k++) {
    const b = buf[i + k];
    if (b === undefined) return { bad: 0 };
    if (!isCont(b)) return { bad: k };
  }
  return { valid: width };
}

/** The ranges Rust accepts for the byte after a lead byte (no overlongs, surrogates, > U+10FFFF). */
function secondByteOk(first: number, second: number): boolean {
  if (first <= 0xdf) return isCont(second);
  if (first === 0xe0) return second >= 0xa0 && second <= 0xbf;
  if (first === 0xed) return second >= 0x80 && second <= 0x9f;
  if (first <= 0xef) return isCont(second);
  if (first === 0xf0) return second >= 0x90 && second <= 0xbf;
  if (first === 0xf4) return second >= 0x80 && second <= 0x8f;
  return isCont(second);
}

/** `std::str::from_utf8` with the Display text of its error. */
export function decodeUtf8Reference(buf: Uint8Array): DecodeResult<string> {
  let i = 0;
  while (i < buf.length) {
    const r = checkSequence(buf, i);
    if ('valid' in r) {
      i += r.valid;
      continue;
    }
    const error =
      r.bad === 0
        ? `incomplete utf-8 byte sequence from index ${i}`
        : `invalid utf-8 sequence of ${r.bad} bytes from index ${i}`;
    return { ok: false, error };
  }
  return { ok: true, value: Buffer.from(buf).toString('utf8') };
}
