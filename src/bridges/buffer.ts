/**
 * Exports waiting for an upstream that is away: a FIFO bounded by message count and bytes.
 * When either bound would be exceeded the oldest messages are dropped (and counted), so the
 * newest data survives a long outage and memory stays bounded.
 */

export interface OutMessage {
  readonly priority: number;
  /** Local (normalised) topic. */
  readonly topic: string;
  /** Owned copy of the payload. */
  readonly payload: Buffer;
  readonly qos: 0 | 1 | 2;
  readonly contentType: string | undefined;
  readonly userProperties: readonly (readonly [string, string])[] | undefined;
}

/** A buffered export: the message and its remote name on this bridge. */
export interface Buffered {
  readonly remote: string;
  readonly m: OutMessage;
}

/** Per-entry overhead counted against the byte bound besides payload and topic. */
const ENTRY_OVERHEAD = 64;

export class BoundedBuffer {
  private items: (Buffered | undefined)[] = [];
  private head = 0;
  private bytesHeld = 0;
  /** Messages dropped because a bound was reached (oldest first). */
  dropped = 0;
  /** Moves at every change of the contents (a save of the persistence file looks at it). */
  changes = 0;

  constructor(
    private readonly maxMessages: number,
    private readonly maxBytes: number,
  ) {}

  get length(): number {
    return this.items.length - this.head;
  }

  get bytes(): number {
    return this.bytesHeld;
  }

  static sizeOf(m: OutMessage): number {
    return m.payload.length + m.topic.length + ENTRY_OVERHEAD;
  }

  push(entry: Buffered): void {
    this.changes++;
    const size = BoundedBuffer.sizeOf(entry.m);
    while (this.length > 0 && (this.length >= this.maxMessages || this.bytesHeld + size > this.maxBytes)) {
      this.shift();
      this.dropped++;
    }
    if (size > this.maxBytes) {
      this.dropped++; // larger than the whole buffer: nothing to keep
      return;
    }
    this.items.push(entry);
    this.bytesHeld += size;
  }

  shift(): Buffered | undefined {
    if (this.head >= this.items.length) return undefined;
    this.changes++;
    const entry = this.items[this.head];
    this.items[this.head] = undefined;
    this.head++;
    if (entry !== undefined) this.bytesHeld -= BoundedBuffer.sizeOf(entry.m);
    // Compact once the consumed part dominates, so the array does not grow forever.
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return entry;
  }

  /** Puts an entry that could not be sent back at the front (order is kept). */
  unshift(entry: Buffered): void {
    this.changes++;
    if (this.head > 0) this.items[--this.head] = entry;
    else this.items.unshift(entry);
    this.bytesHeld += BoundedBuffer.sizeOf(entry.m);
  }

  /**
   * Puts entries older than everything held (a predecessor's unacknowledged exports) in front,
   * in their order; then, over a bound, the oldest go first, as for push.
   */
  prepend(entries: readonly Buffered[]): void {
    if (entries.length === 0) return;
    this.changes++;
    this.items = [...entries, ...this.items.slice(this.head)];
    this.head = 0;
    for (const e of entries) this.bytesHeld += BoundedBuffer.sizeOf(e.m);
    while (this.length > 0 && (this.length > this.maxMessages || this.bytesHeld > this.maxBytes)) {
      this.shift();
      this.dropped++;
    }
  }

  /** The messages held, oldest first (the buffer is not changed). */
  messages(): OutMessage[] {
    const out: OutMessage[] = [];
    for (let i = this.head; i < this.items.length; i++) {
      const entry = this.items[i];
      if (entry !== undefined) out.push(entry.m);
    }
    return out;
  }

  clear(): void {
    this.changes++;
    this.items = [];
    this.head = 0;
    this.bytesHeld = 0;
  }
}
