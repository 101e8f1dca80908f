/**
 * Per-topic entries for published topics: the cached subscriber set (so a repeated topic costs
 * one Map lookup instead of a tree walk) and the message/byte counters behind "top topics".
 *
 * Bounded: at most `capacity` topics and `maxBytes` of topic names (a topic costs its length
 * in UTF-16 code units, twice its characters when V8 has to store it two-byte, plus
 * ENTRY_OVERHEAD). When either is reached, topics not published since the previous sweep are
 * dropped; if that frees too little, the oldest go until both are below 3/4 (Map iteration is
 * insertion order), so the cost is amortised O(1) per new topic. A topic longer than
 * `maxBytes / 64` is not entered at all (`entry` returns null: no cached list, not in "top
 * topics"), so a few huge topic names cannot evict every normal one. Subscriber lists longer
 * than `maxCachedSubscribers` are not cached (memory would grow as topics × subscribers).
 */
import type { Subscriber } from '../topics/index.js';

export interface TopicStat {
  readonly topic: string;
  readonly messages: number;
  readonly bytes: number;
}

export class TopicEntry<S> {
  messages = 0;
  bytes = 0;
  /** Index version the cached list belongs to; -1 = no list cached. */
  version = -1;
  subscribers: S[] = [];
  seen = true;
  constructor(readonly topic: string) {}
}

/** Map entry, TopicEntry object and its fields, roughly (bytes). */
const ENTRY_OVERHEAD = 160;
export const DEFAULT_TOPIC_TABLE_BYTES = 16 * 1024 * 1024;

function costOf(topic: string): number {
  return topic.length * 2 + ENTRY_OVERHEAD;
}

export class TopicTable<S extends Subscriber> {
  private readonly entries = new Map<string, TopicEntry<S>>();
  /** Sum of costOf over the entries. */
  private bytes = 0;
  private readonly maxTopicCost: number;

  constructor(
    readonly capacity = 10_000,
    readonly maxCachedSubscribers = 64,
    readonly maxBytes = DEFAULT_TOPIC_TABLE_BYTES,
  ) {
    this.maxTopicCost = maxBytes / 64;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Bytes accounted to the entries (see costOf). */
  get byteSize(): number {
    return this.bytes;
  }

  /** The entry for a publish topic, created (and the table swept) when new; null: too long to keep. */
  entry(topic: string): TopicEntry<S> | null {
    let e = this.entries.get(topic);
    if (e === undefined) {
      const cost = costOf(topic);
      if (cost > this.maxTopicCost) return null;
      if (this.entries.size >= this.capacity || this.bytes + cost > this.maxBytes) this.sweep();
      e = new TopicEntry<S>(topic);
      this.entries.set(topic, e);
      this.bytes += cost;
    } else {
      e.seen = true;
    }
    return e;
  }

  /** Is `e` still the table's entry for its topic (not swept)? */
  holds(e: TopicEntry<S>): boolean {
    return this.entries.get(e.topic) === e;
  }

  /** The busiest topics, by message count or by payload bytes. */
  top(limit: number, by: 'messages' | 'bytes'): TopicStat[] {
    const all = [...this.entries.values()];
    all.sort((a, b) => b[by] - a[by] || (a.topic < b.topic ? -1 : 1));
    return all.slice(0, limit).map((e) => ({ topic: e.topic, messages: e.messages, bytes: e.bytes }));
  }

  private sweep(): void {
    for (const [topic, e] of this.entries) {
      if (!e.seen) this.remove(topic);
      else e.seen = false;
    }
    if (this.entries.size < this.capacity * 0.75 && this.bytes < this.maxBytes * 0.75) return;
    let drop = Math.floor(this.entries.size / 2);
    for (const topic of this.entries.keys()) {
      if (drop-- <= 0 && this.bytes < this.maxBytes * 0.75) break;
      this.remove(topic);
    }
  }

  private remove(topic: string): void {
    this.entries.delete(topic);
    this.bytes -= costOf(topic);
  }
}
