/**
 * The subscribers of each published topic, cached in the topic table: while nobody
 * (un)subscribes, a publish costs one Map lookup instead of an index walk, independent of how
 * many subscriptions exist.
 */
import type { Subscriber, SubscriptionIndex } from '../topics/index.js';
import type { TopicEntry, TopicTable } from './topic-table.js';

export class SubscriberLists<S extends Subscriber> {
  /** Bumped on every index change; lists cached at other versions are stale. */
  private version = 0;
  /** Topic entries holding a list cached at the current version (see invalidate). */
  private cached: TopicEntry<S>[] = [];
  /**
   * Where lists too long to cache are collected; returned as is, so the caller empties it
   * after use (it must not keep ended sessions alive).
   */
  readonly scratch: S[] = [];

  constructor(
    private readonly index: SubscriptionIndex<S>,
    private readonly topics: TopicTable<S>,
  ) {}

  /**
   * Subscribers of a normalised publish topic, from the topic table when its cached list is
   * current, else from the index. Also counts the topic's traffic.
   */
  collect(topic: string, payloadBytes: number): readonly S[] {
    const entry = this.topics.entry(topic);
    const scratch = this.scratch;
    if (entry === null) {
      // Too long to keep (see TopicTable): matched every time, like a long subscriber list.
      scratch.length = 0;
      this.index.match(topic, scratch);
      return scratch;
    }
    entry.messages++;
    entry.bytes += payloadBytes;
    if (entry.version === this.version) return entry.subscribers;
    scratch.length = 0;
    this.index.match(topic, scratch);
    if (scratch.length > this.topics.maxCachedSubscribers) {
      entry.version = -1;
      entry.subscribers = [];
      return scratch;
    }
    entry.subscribers = scratch.slice();
    scratch.length = 0;
    entry.version = this.version;
    this.cached.push(entry);
    // Without index changes the list would also collect entries the table already swept.
    if (this.cached.length > 2 * this.topics.capacity) this.dropSwept();
    return entry.subscribers;
  }

  /**
   * Invalidates every cached list (the index changed). Stale lists are also dropped, not just
   * outdated: a list cached for a topic that is never published again would otherwise keep its
   * ended sessions (with their sockets and buffers) alive until the topic table evicts the
   * topic. Each cached list is dropped once, so this is amortised O(1) per cache fill. Lists
   * are replaced, never mutated: a fan-out may still be iterating one.
   */
  invalidate(): void {
    this.version++;
    if (this.cached.length === 0) return;
    for (const e of this.cached) {
      e.version = -1;
      e.subscribers = [];
    }
    this.cached = [];
  }

  /** Not inline in collect(): a closure there would cost a context allocation per publish. */
  private dropSwept(): void {
    this.cached = this.cached.filter((e) => this.topics.holds(e));
  }
}
