/**
 * The status bytes a control connection owes its client, collected over one event-loop turn
 * and written at its end. The storage is kept between turns: an array emptied with
 * `length = 0` is reallocated and regrown by every busy turn, which was ~25 bytes of garbage
 * per pipelined publish. A backlog beyond MAX_KEPT_BYTES is not kept (idle sessions stay small).
 */
const INITIAL_BYTES = 64;
const MAX_KEPT_BYTES = 4096;

export class ReplyBytes {
  private bytes = new Uint8Array(INITIAL_BYTES);
  private count = 0;

  get length(): number {
    return this.count;
  }

  push(status: number): void {
    if (this.count === this.bytes.length) {
      const grown = new Uint8Array(this.bytes.length * 2);
      grown.set(this.bytes);
      this.bytes = grown;
    }
    this.bytes[this.count++] = status;
  }

  /** The collected bytes in a Buffer of their own (the socket may keep it); empties the list. */
  take(): Buffer {
    const out = Buffer.allocUnsafe(this.count);
    out.set(this.bytes.subarray(0, this.count));
    this.clear();
    return out;
  }

  clear(): void {
    this.count = 0;
    if (this.bytes.length > MAX_KEPT_BYTES) this.bytes = new Uint8Array(INITIAL_BYTES);
  }
}
