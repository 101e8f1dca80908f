/**
 * Byte-level mutations of valid wire streams. Each mutation is plain data (so fast-check can
 * print and shrink it) and positions are taken modulo the current length, so any mutation
 * applies to any stream. The extreme u32 values target LEN fields: 0, limits, limit + 1, 2^31
 * and 2^32 − 1 are where off-by-one and overflow bugs live.
 */
import fc from 'fast-check';

export type Mutation =
  | { readonly op: 'set'; readonly at: number; readonly value: number }
  | { readonly op: 'insert'; readonly at: number; readonly bytes: Uint8Array }
  | { readonly op: 'delete'; readonly at: number; readonly count: number }
  | { readonly op: 'truncate'; readonly at: number }
  | { readonly op: 'duplicate'; readonly at: number; readonly count: number }
  | { readonly op: 'u32'; readonly at: number; readonly value: number }
  | { readonly op: 'append'; readonly bytes: Uint8Array };

/** LEN values worth trying: around 0, the login limit, common limits, and the u32 extremes. */
export const EXTREME_U32 = [0, 1, 1023, 1024, 1025, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff];

const pos = fc.nat({ max: 1 << 20 });
const smallBytes = fc.uint8Array({ minLength: 1, maxLength: 16 });

export const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('set' as const), at: pos, value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ op: fc.constant('insert' as const), at: pos, bytes: smallBytes }),
  fc.record({ op: fc.constant('delete' as const), at: pos, count: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ op: fc.constant('truncate' as const), at: pos }),
  fc.record({ op: fc.constant('duplicate' as const), at: pos, count: fc.integer({ min: 1, max: 12 }) }),
  fc.record({ op: fc.constant('u32' as const), at: pos, value: fc.constantFrom(...EXTREME_U32) }),
  fc.record({ op: fc.constant('append' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }) }),
);

/** 0–4 mutations; 0 keeps the stream valid (so every run also re-checks the happy path). */
export const mutationsArb: fc.Arbitrary<Mutation[]> = fc.array(mutationArb, { maxLength: 4 });

export function applyMutation(b: Buffer, m: Mutation): Buffer {
  const at = m.op === 'append' ? b.length : m.at % (b.length + 1);
  switch (m.op) {
    case 'set': {
      if (b.length === 0) return b;
      const out = Buffer.from(b);
      out[m.at % b.length] = m.value;
      return out;
    }
    case 'insert':
      return Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)]);
    case 'delete':
      return Buffer.concat([b.subarray(0, at), b.subarray(at + m.count)]);
    case 'truncate':
      return b.subarray(0, at);
    case 'duplicate':
      return Buffer.concat([b.subarray(0, at + m.count), b.subarray(at)]);
    case 'u32': {
      const out = Buffer.concat([b, Buffer.alloc(Math.max(0, at + 4 - b.length))]);
      out.writeUInt32LE(m.value, at);
      return out;
    }
    case 'append':
      return Buffer.concat([b, m.bytes]);
  }
}

export function applyMutations(b: Buffer, ms: readonly Mutation[]): Buffer {
  let out: Buffer = Buffer.from(b);
  for (const m of ms) out = applyMutation(out, m);
  return out;
}

/**
 * Split points: few (typical TCP segments) or many (down to byte-by-byte), so both the
 * "whole frame in one read" and the "every field straddles a read" paths are exercised.
 */
export const cutsArb: fc.Arbitrary<number[]> = fc.oneof(
  fc.array(fc.nat(), { maxLength: 4 }),
  fc.array(fc.nat(), { minLength: 8, maxLength: 64 }),
);
