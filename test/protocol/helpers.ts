/** Shared drivers for the codec tests: chunkings of a byte string and queue-feeding runners. */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ByteQueue } from '../../src/protocol/byte-queue.js';
import { ErrorCode, PsrtError } from '../../src/protocol/errors.js';
import type { ErrorKey } from '../fixtures/vectors/types.js';

export interface Chunking {
  readonly label: string;
  readonly chunks: readonly Buffer[];
}

/**
 * Every way the tests cut a byte string: whole, in two at every offset, and byte by byte.
 * Chunks are fresh copies, so a decoder cannot accidentally read past a chunk into its neighbour.
 */
export function chunkings(bytes: Buffer): Chunking[] {
  const out: Chunking[] = [{ label: 'whole', chunks: [Buffer.from(bytes)] }];
  for (let i = 1; i < bytes.length; i++) {
    out.push({
      label: `split@${i}`,
      chunks: [Buffer.from(bytes.subarray(0, i)), Buffer.from(bytes.subarray(i))],
    });
  }
  if (bytes.length > 2) {
    out.push({ label: 'byte-by-byte', chunks: Array.from(bytes, (b) => Buffer.from([b])) });
  }
  return out;
}

/** Cuts `bytes` at the given offsets (taken modulo length+1, sorted, duplicates allowed). */
export function cutAt(bytes: Buffer, offsets: readonly number[]): Buffer[] {
  const points = offsets.map((o) => o % (bytes.length + 1)).sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let start = 0;
  for (const p of [...points, bytes.length]) {
    chunks.push(Buffer.from(bytes.subarray(start, p)));
    start = p;
  }
  return chunks;
}

export interface StreamRun<F> {
  readonly frames: F[];
  readonly error: ErrorKey | null;
  /** Index of the chunk whose push made the decoder throw. */
  readonly errorAtChunk: number | null;
  /** Bytes still buffered at the end (an unfinished frame). */
  readonly buffered: number;
}

/**
 * Pushes chunks one by one and drains complete frames after each push, like a socket 'data'
 * handler. Stops at the first error (the server closes the connection there).
 */
export function runStream<F>(
  chunks: readonly Buffer[],
  next: (queue: ByteQueue) => F | null,
  onFrame?: (frame: F) => void,
): StreamRun<F> {
  const queue = new ByteQueue();
  const frames: F[] = [];
  for (const [index, chunk] of chunks.entries()) {
    queue.push(chunk);
    try {
      for (;;) {
        const before = queue.length;
        const frame = next(queue);
        if (frame === null) break;
        // A frame that consumed nothing would make every 'data' handler loop forever.
        assert.ok(queue.length < before, 'decoder returned a frame without consuming bytes');
        frames.push(frame);
        onFrame?.(frame);
      }
    } catch (err) {
      return { frames, error: errorKey(err), errorAtChunk: index, buffered: queue.length };
    }
  }
  return { frames, error: null, errorAtChunk: null, buffered: queue.length };
}

export interface OneShotRun<T> {
  readonly value: T | null;
  readonly error: ErrorKey | null;
  readonly errorAtChunk: number | null;
  /** Bytes left for the next stage after a successful read. */
  readonly surplus: Buffer;
}

/** Feeds chunks to a one-shot reader until it returns a value; the rest stays queued. */
export function runOnce<T>(chunks: readonly Buffer[], read: (queue: ByteQueue) => T | null): OneShotRun<T> {
  const queue = new ByteQueue();
  let value: T | null = null;
  for (const [index, chunk] of chunks.entries()) {
    queue.push(chunk);
    if (value !== null) continue;
    try {
      value = read(queue);
    } catch (err) {
      return { value: null, error: errorKey(err), errorAtChunk: index, surplus: queue.drain() };
    }
  }
  return { value, error: null, errorAtChunk: null, surplus: queue.drain() };
}

/** The ErrorCode key of a thrown PsrtError; anything else fails the test. */
export function errorKey(err: unknown): ErrorKey {
  if (!(err instanceof PsrtError)) {
    assert.fail(`expected a PsrtError, got ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
  }
  const entry = Object.entries(ErrorCode).find(([, code]) => code === err.code);
  assert.ok(entry, `unknown error code ${err.code}`);
  return entry[0] as ErrorKey;
}

/** Asserts `fn` throws a PsrtError with exactly that code. */
export function assertPsrtError(fn: () => unknown, key: ErrorKey): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof PsrtError, `expected PsrtError, got ${String(err)}`);
    assert.equal(err.code, ErrorCode[key]);
    return true;
  });
}

/** Runs `fn`; returns normally if it succeeded or threw a PsrtError, fails on anything else. */
export function onlyPsrtErrors(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    if (err instanceof PsrtError) return;
    throw err;
  }
}

/** Fixed fast-check parameters: deterministic and bounded. */
export const FC_PARAMS = { seed: 0x5eed, numRuns: 300 } as const;

/**
 * One Unicode scalar value (no lone surrogates), ASCII-biased; NUL only when `withNul`.
 * Built by hand because fast-check's 'binary' unit spends ~1 s building a reverse mapping.
 */
function scalar(withNul: boolean): fc.Arbitrary<string> {
  const low = withNul ? 0 : 1;
  const surrogates = 0xe000 - 0xd800;
  return fc.oneof(
    fc.integer({ min: low, max: 0x7f }).map((cp) => String.fromCodePoint(cp)),
    fc
      .integer({ min: low, max: 0x10ffff - surrogates })
      .map((cp) => String.fromCodePoint(cp >= 0xd800 ? cp + surrogates : cp)),
  );
}

/** Valid UTF-8-encodable text of min..max code points; no NUL unless `withNul`. */
export function unicodeText(minLength: number, maxLength: number, withNul = false): fc.Arbitrary<string> {
  return fc.string({ unit: scalar(withNul), minLength, maxLength });
}
