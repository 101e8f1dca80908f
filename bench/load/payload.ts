/**
 * The benchmark payload: a 16-byte header (publisher id, sequence number, send time) followed
 * by filler up to the configured size. The header is what lets every subscriber check loss,
 * duplicates and per-publisher order, and measure one-way latency on the same machine
 * (process.hrtime is CLOCK_MONOTONIC, shared by all processes).
 */

export const HEADER_BYTES = 16;
const FILL = 0x5a;

/** Now on the machine-wide monotonic clock, in ns (a double: exact below 2^53 ns ≈ 104 days). */
export function monoNs(): number {
  return Number(process.hrtime.bigint());
}

/** A payload of `size` bytes (at least the header) with filler; the header is written later. */
export function payloadTemplate(size: number): Buffer {
  const p = Buffer.alloc(Math.max(size, HEADER_BYTES), FILL);
  p.fill(0, 0, HEADER_BYTES);
  return p;
}

/** Writes the header in place at `at` (the payload start inside a frame). */
export function stampHeader(buf: Buffer, at: number, pubId: number, seq: number, sentNs: number): void {
  buf.writeUInt32LE(pubId, at);
  buf.writeUInt32LE(seq, at + 4);
  buf.writeDoubleLE(sentNs, at + 8);
}

export function readPubId(payload: Buffer): number {
  return payload.readUInt32LE(0);
}

export function readSeq(payload: Buffer): number {
  return payload.readUInt32LE(4);
}

export function readSentNs(payload: Buffer): number {
  return payload.readDoubleLE(8);
}

/** Cheap integrity check of a received payload: size and the filler's last byte. */
export function payloadIntact(received: number, lastByte: number, size: number): boolean {
  if (received !== size) return false;
  return size <= HEADER_BYTES || lastByte === FILL;
}
