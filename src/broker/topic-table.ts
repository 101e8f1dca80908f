/**
 * Per-topic entries for published topics: the cached subscriber set (so a repeated topic costs
 * one Map lookup instead of a tree walk) and the message/byte counters behind "top topics".
 *
 * Bounded: at most `capacity` topics. When full, topics not published since the previous sweep
 * are dropped; if that frees too little, the oldest half goes (Map iteration is insertion
 * order), so the cost is amortised O(1) per new topic. Subscriber lists longer than
 * `maxCachedSubscribers` are not cached (memory would grow as topics × subscribers).
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

export class TopicTable<S extends Subscriber> {
  private readonly entries = new Map<string, TopicEntry<S>>();

  constructor(
    readonly capacity = 10_000,
    readonly maxCachedSubscribers = 64,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** The entry for a publish topic, created (and the table swept) when new. */
  entry(topic: string): TopicEntry<S> {
    let e = this.entries.get(topic);
    if (e === undefined) {
      if (this.entries.size >= this.capacity) this.sweep();
      e = new TopicEntry<S>(topic);
      this.entries.set(topic, e);
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
      if (!e.seen) this.entries.delete(topic);
      else e.seen = false;
    }
    if (this.entries.size < this.capacity * 0.75) return;
    let drop = Math.floor(this.entries.size / 2);
    for (const topic of this.entries.keys()) {
      if (drop-- <= 0) break;
      this.entries.delete(topic);
    }
  }
}
