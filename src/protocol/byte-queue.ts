/**
 * An append-only queue of received chunks that frames are cut from.
 *
 * Frames that lie inside one received chunk are returned as zero-copy views (`subarray`), so a
 * read carrying many small frames is parsed without copying; only frames that straddle chunk
 * boundaries are concatenated.
 */
const EMPTY = Buffer.alloc(0);
/** The chunk list of a new or released queue (never written to). */
const NO_CHUNKS: Buffer[] = [];

export class ByteQueue {
  private chunks: Buffer[] = NO_CHUNKS;
  /** Read offset inside chunks[0]. */
  private offset = 0;
  private total = 0;
  /** Where the bytes returned by the last takeRange start in the returned buffer. */
  takenStart = 0;

  get length(): number {
    return this.total;
  }

  /** The first chunk (unread bytes from headOffset on), for a caller that parses in place. */
  get headChunk(): Buffer | undefined {
    return this.chunks[0];
  }

  get headOffset(): number {
    return this.offset;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    if (this.chunks === NO_CHUNKS) this.chunks = [chunk];
    else this.chunks.push(chunk);
    this.total += chunk.length;
  }

  /** Byte at logical position `index` (caller guarantees index < length). */
  byteAt(index: number): number {
    let i = index + this.offset;
    for (const chunk of this.chunks) {
      if (i < chunk.length) return chunk[i] ?? 0;
      i -= chunk.length;
    }
    return 0;
  }

  /** u32 LE at logical position `index` (caller guarantees index + 4 <= length). */
  u32At(index: number): number {
    const first = this.chunks[0];
    const at = index + this.offset;
    if (first !== undefined && at + 4 <= first.length) return first.readUInt32LE(at);
    return (
      (this.byteAt(index) |
        (this.byteAt(index + 1) << 8) |
        (this.byteAt(index + 2) << 16)) +
      this.byteAt(index + 3) * 0x1000000
    );
  }

  /** Removes and returns the next `n` bytes (caller guarantees n <= length). */
  take(n: number): Buffer {
    const first = this.chunks[0];
    if (first === undefined || n === 0) return Buffer.alloc(0);
    const end = this.offset + n;
    if (end <= first.length) {
      const view = first.subarray(this.offset, end);
      this.advance(n, first.length);
      return view;
    }
    return this.takeCopy(n);
  }

  /**
   * Removes the next `n` bytes without allocating a view: returns the buffer that holds them at
   * [takenStart, takenStart + n) — the received chunk itself when they lie inside one, else a
   * joined copy (takenStart 0). The hot path for small frames (caller guarantees n <= length).
   */
  takeRange(n: number): Buffer {
    const first = this.chunks[0];
    const end = this.offset + n;
    if (first !== undefined && end <= first.length) {
      this.takenStart = this.offset;
      this.advance(n, first.length);
      return first;
    }
    this.takenStart = 0;
    return n === 0 ? EMPTY : this.takeCopy(n);
  }

  /**
   * Removes the next `n` bytes and returns them as views of the received chunks, in order,
   * without copying (caller guarantees n <= length). The views pin their chunks.
   */
  takeViews(n: number): Buffer[] {
    const views: Buffer[] = [];
    let left = n;
    while (left > 0) {
      const first = this.chunks[0];
      if (first === undefined) break;
      const step = Math.min(first.length - this.offset, left);
      views.push(first.subarray(this.offset, this.offset + step));
      this.advance(step, first.length);
      left -= step;
    }
    return views;
  }

  /**
   * Logical position of the first byte equal to `value` in [from, to), or -1. Each chunk is
   * searched natively (caller guarantees to <= length).
   */
  indexOf(value: number, from: number, to: number): number {
    let base = -this.offset;
    for (const chunk of this.chunks) {
      const end = base + chunk.length;
      if (end > from) {
        const start = Math.max(from, base) - base;
        const stop = Math.min(to, end) - base;
        const at = chunk.subarray(0, stop).indexOf(value, start);
        if (at >= 0) return base + at;
      }
      if (end >= to) return -1;
      base = end;
    }
    return -1;
  }

  /** Drops the next `n` bytes (caller guarantees n <= length). */
  skip(n: number): void {
    let left = n;
    while (left > 0) {
      const first = this.chunks[0];
      if (first === undefined) return;
      const avail = first.length - this.offset;
      const step = Math.min(avail, left);
      this.advance(step, first.length);
      left -= step;
    }
  }

  /** Lets go of the chunk array when nothing is buffered (an idle connection keeps none). */
  releaseIfEmpty(): void {
    if (this.total === 0) this.chunks = NO_CHUNKS;
  }

  /** Removes and returns everything buffered (used to hand surplus bytes to the next stage). */
  drain(): Buffer {
    return this.take(this.total);
  }

  private advance(n: number, firstLength: number): void {
    this.offset += n;
    this.total -= n;
    if (this.offset === firstLength) {
      // The array stays for the next chunks: a new one per read would be garbage enough, at
      // millions of messages a second, to promote read buffers and grow RSS (measured).
      this.chunks.shift();
      this.offset = 0;
    }
  }

  private takeCopy(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    let written = 0;
    while (written < n) {
      const first = this.chunks[0];
      if (first === undefined) break;
      const step = Math.min(first.length - this.offset, n - written);
      first.copy(out, written, this.offset, this.offset + step);
      written += step;
      this.advance(step, first.length);
    }
    return out;
  }
}
