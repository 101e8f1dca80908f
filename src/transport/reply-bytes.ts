/**
 * The status bytes a control connection owes its client, collected over one event-loop turn
 * and written at its end.
 *
 * Most turns owe one byte (a keepalive, an isolated publish or subscribe): it is held in a
 * number field and written as a shared one-byte Buffer, so an idle session keeps no buffer
 * (~270 bytes with its ArrayBuffer) and a keepalive allocates nothing. From two bytes on they
 * are collected in a byte array that is kept between turns: an array emptied with `length = 0`
 * is reallocated and regrown by every busy turn, which was ~25 bytes of garbage per pipelined
 * publish. A backlog beyond MAX_KEPT_BYTES is not kept.
 */
const INITIAL_BYTES = 64;
const MAX_KEPT_BYTES = 4096;

/** One shared, never written to, one-byte Buffer per status value. */
const SINGLE_BYTES: readonly Buffer[] = (() => {
  const all = Buffer.alloc(256);
  const out: Buffer[] = [];
  for (let b = 0; b < 256; b++) {
    all[b] = b;
    out.push(all.subarray(b, b + 1));
  }
  return out;
})();

/** A status byte as a shared one-byte Buffer (written to sockets, never written to). */
export function statusBuffer(status: number): Buffer {
  return SINGLE_BYTES[status & 0xff] ?? Buffer.from([status]);
}

export class ReplyBytes {
  private bytes: Uint8Array | null = null;
  /** The first byte owed (bytes[0] as well once bytes are collected in the array). */
  private first = 0;
  private count = 0;

  get length(): number {
    return this.count;
  }

  push(status: number): void {
    if (this.count === 0) {
      this.first = status;
      this.count = 1;
      return;
    }
    let bytes = (this.bytes ??= new Uint8Array(INITIAL_BYTES));
    if (this.count === 1) bytes[0] = this.first;
    if (this.count === bytes.length) {
      const grown = new Uint8Array(bytes.length * 2);
      grown.set(bytes);
      bytes = this.bytes = grown;
    }
    bytes[this.count++] = status;
  }

  /**
   * The collected bytes (the socket may keep them: a Buffer of their own, or a shared one-byte
   * Buffer nobody writes to); empties the list.
   */
  take(): Buffer {
    if (this.count === 1) {
      this.count = 0;
      return statusBuffer(this.first);
    }
    const out = Buffer.allocUnsafe(this.count);
    if (this.bytes !== null) out.set(this.bytes.subarray(0, this.count));
    this.clear();
    return out;
  }

  clear(): void {
    this.count = 0;
    if (this.bytes !== null && this.bytes.length > MAX_KEPT_BYTES) this.bytes = null;
  }
}
