/**
 * What one subscriber received from each publisher: unique messages, duplicates and messages
 * that arrived out of per-publisher order. A bitset of seen sequence numbers makes duplicate
 * detection exact (a duplicate is a sequence number seen before; "out of order" is a new one
 * below the highest seen). Loss is computed at the end against what the publishers sent.
 */

export interface Verdict {
  received: number;
  unique: number;
  duplicates: number;
  outOfOrder: number;
  corrupt: number;
}

class PubTrack {
  unique = 0;
  /** One past the highest sequence number seen. */
  next = 0;
  private seen = new Uint8Array(1 << 16);

  /** Returns 0 = new in order, 1 = new but out of order, 2 = duplicate. */
  record(seq: number): 0 | 1 | 2 {
    const byte = seq >>> 3;
    if (byte >= this.seen.length) this.grow(byte);
    const bit = 1 << (seq & 7);
    const cur = this.seen[byte] ?? 0;
    if ((cur & bit) !== 0) return 2;
    this.seen[byte] = cur | bit;
    this.unique++;
    if (seq === this.next) {
      this.next = seq + 1;
      return 0;
    }
    if (seq > this.next) {
      this.next = seq + 1;
      return 0; // a gap: counted as loss at the end unless the missing ones arrive later
    }
    return 1;
  }

  private grow(byte: number): void {
    let size = this.seen.length;
    while (size <= byte) size *= 2;
    const bigger = new Uint8Array(size);
    bigger.set(this.seen);
    this.seen = bigger;
  }
}

export class Tracker {
  received = 0;
  duplicates = 0;
  outOfOrder = 0;
  corrupt = 0;
  private readonly tracks: (PubTrack | undefined)[] = [];

  record(pubId: number, seq: number): void {
    this.received++;
    let t = this.tracks[pubId];
    if (t === undefined) {
      t = new PubTrack();
      this.tracks[pubId] = t;
    }
    const r = t.record(seq);
    if (r === 2) this.duplicates++;
    else if (r === 1) this.outOfOrder++;
  }

  /** Unique messages received from one publisher. */
  uniqueFrom(pubId: number): number {
    return this.tracks[pubId]?.unique ?? 0;
  }

  verdict(): Verdict {
    let unique = 0;
    for (const t of this.tracks) unique += t?.unique ?? 0;
    return {
      received: this.received,
      unique,
      duplicates: this.duplicates,
      outOfOrder: this.outOfOrder,
      corrupt: this.corrupt,
    };
  }
}
