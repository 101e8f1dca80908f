/**
 * The MQTT subscription index and the fan-out of one message to the sessions whose
 * subscriptions match it: who is subscribed to what (plain and shared subscriptions, a cache of
 * matches per topic, large sets retired in slices) and, per message, each session once with the
 * rules of overlapping subscriptions. MqttRouter adds the sessions, wills, retained messages and
 * the ways messages come in.
 */
import { SubscriptionRetirer, type PublisherPort } from '../broker/index.js';
import { SubscriptionIndex, isSystemTopic } from '../topics/index.js';
import { MqttCounters } from './counters.js';
import type { MqttMessage, QoS } from './message.js';
import type { MqttSession } from './session.js';
import { SharedGroup, SubscriptionEntry, internOptions, splitShared, type SubscriptionOptions } from './subscription.js';

type IndexEntry = SubscriptionEntry<MqttSession> | SharedGroup<MqttSession>;

const MAX_CACHED_TOPICS = 4096;
const NO_ENTRIES: readonly IndexEntry[] = [];
const MAX_CACHED_TOPIC = 1024;

/**
 * Subscriptions of an ended session taken out of the index per turn: ~1.5 µs each (the shared
 * index plus shared groups; a PSRT mask costs ~0.6 µs), so 1.5–2 ms a slice.
 */
const RETIRE_PER_TURN = 1024;

export class MqttFanOut {
  readonly counters = new MqttCounters();
  private readonly index = new SubscriptionIndex<IndexEntry>({ semantics: 'mqtt' });
  private readonly groups = new Map<string, SharedGroup<MqttSession>>();
  /**
   * Index matches per topic (publishers repeat their topics), dropped whenever a subscription
   * changes; bounded in count, and long topics are never cached.
   */
  private readonly matches = new Map<string, IndexEntry[]>();
  private readonly targets: MqttSession[] = [];
  private stamp = 0;
  protected subscriptionTotal = 0;
  /**
   * Bumped whenever something a save of the persistent sessions holds changes (subscriptions
   * here, sessions and their QoS state in the router): mqtt.persistence_file saves when it moved.
   */
  sessionChanges = 0;
  /** Large subscription sets of ended sessions leave the index a slice per turn. */
  private readonly retirer = new SubscriptionRetirer<MqttSession>(
    (key, session) => {
      const entry = session.subscriptions.get(key);
      if (entry !== undefined) this.dropEntry(entry);
    },
    () => {
      this.matches.clear();
    },
    RETIRE_PER_TURN,
  );

  get subscriptionCount(): number {
    return this.subscriptionTotal;
  }

  /** The index entries matching `topic` (cached; see `matches`). */
  protected entriesFor(topic: string): readonly IndexEntry[] {
    const cached = this.matches.get(topic);
    if (cached !== undefined) return cached;
    // Most topics of a busy site have no MQTT subscriber: answer those without allocating or
    // filling the cache (which would otherwise churn through every distinct sensor topic).
    if (!this.index.hasMatch(topic)) return NO_ENTRIES;
    const found: IndexEntry[] = [];
    // `$SYS` is the broker's own (publishSystem): a message there from PSRT, UDP, a peer or a
    // bridge reaches no MQTT subscriber. Checked on a cache miss with subscribers only.
    if (!isSystemTopic(topic)) this.index.match(topic, found);
    if (topic.length <= MAX_CACHED_TOPIC) {
      if (this.matches.size >= MAX_CACHED_TOPICS) this.matches.clear();
      this.matches.set(topic, found);
    }
    return found;
  }

  /** Adds or replaces a subscription; true when it existed before (retain handling 1). */
  subscribe(session: MqttSession, key: string, options: SubscriptionOptions): boolean {
    const existing = session.subscriptions.get(key);
    if (session.expiryInterval !== 0) this.sessionChanges++;
    if (existing !== undefined) {
      existing.options = internOptions(options);
      return true;
    }
    this.matches.clear();
    const shared = splitShared(key);
    let entry: SubscriptionEntry<MqttSession>;
    if (shared === null) {
      entry = new SubscriptionEntry(session, key, internOptions(options), null);
      this.index.subscribe(key, entry);
    } else {
      const groupKey = `${shared.group}\u0000${shared.filter}`;
      let group = this.groups.get(groupKey);
      if (group === undefined) {
        group = new SharedGroup<MqttSession>(shared.group, shared.filter);
        this.groups.set(groupKey, group);
        this.index.subscribe(shared.filter, group);
      }
      entry = new SubscriptionEntry(session, key, internOptions(options), group);
      group.members.push(entry);
    }
    session.subscriptions.set(entry);
    session.subscriptionChars += key.length;
    this.subscriptionTotal++;
    return false;
  }

  unsubscribe(session: MqttSession, key: string): boolean {
    const entry = session.subscriptions.get(key);
    if (entry === undefined) return false;
    if (session.expiryInterval !== 0) this.sessionChanges++;
    session.subscriptions.delete(key);
    session.subscriptionChars -= key.length;
    this.subscriptionTotal--;
    this.dropEntry(entry);
    return true;
  }

  /** Takes a subscription out of the index (and its shared group). */
  private dropEntry(entry: SubscriptionEntry<MqttSession>): void {
    this.matches.clear();
    const group = entry.group;
    if (group === null) {
      this.index.unsubscribe(entry.filter, entry);
    } else {
      group.remove(entry);
      if (group.members.length === 0) {
        this.groups.delete(`${group.name}\u0000${group.filter}`);
        this.index.unsubscribe(group.filter, group);
      }
    }
  }

  /**
   * Every subscription of an ending session leaves the index. A session with more than one
   * slice leaves it over the next turns (removing 100,000 in one go stalled every other client
   * for ~100 ms); it is `ended` by then, which fan-out and shared groups skip.
   */
  protected removeSubscriptions(session: MqttSession): void {
    const count = session.subscriptions.size;
    if (count > this.retirer.perTurn) {
      this.subscriptionTotal -= count;
      session.subscriptionChars = 0;
      this.retirer.retire(session);
    } else {
      for (const key of session.subscriptions.keys()) this.unsubscribe(session, key);
    }
  }

  /** Delivers a `$SYS` message, which entriesFor hides from every other source (see publishSystem). */
  protected dispatchSystem(msg: MqttMessage): void {
    if (this.subscriptionTotal === 0 || !this.index.hasMatch(msg.rawTopic)) return;
    const found: IndexEntry[] = [];
    this.index.match(msg.rawTopic, found);
    this.fanOut(found, msg, null);
  }

  hasSubscribers(topic: string): boolean {
    return this.subscriptionTotal > 0 && this.entriesFor(topic).length > 0;
  }

  /**
   * Delivers to every MQTT session with a matching subscription, once per session: the highest
   * granted QoS of its matching subscriptions, all their identifiers, no-local honoured, and one
   * member of each shared group.
   */
  protected dispatch(msg: MqttMessage, publisher: PublisherPort | null): void {
    if (this.subscriptionTotal === 0) return;
    const matched = this.entriesFor(msg.rawTopic);
    if (matched.length > 0) this.fanOut(matched, msg, publisher);
  }

  /** Hands `msg` to the sessions of `matched` (see dispatch). */
  private fanOut(matched: readonly IndexEntry[], msg: MqttMessage, publisher: PublisherPort | null): void {
    const stamp = ++this.stamp;
    const targets = this.targets;
    for (const e of matched) {
      const entry = e instanceof SharedGroup ? e.pick() : e;
      if (entry !== undefined) this.collect(entry, msg, stamp, targets);
    }
    msg.shareEncodings(true);
    for (const s of targets) {
      const qos = Math.min(s.matchQos, msg.qos) as QoS;
      s.deliver(msg, qos, s.matchRetain, s.matchIds, publisher);
      s.matchIds = null;
    }
    msg.shareEncodings(false);
    this.counters.delivered += targets.length;
    targets.length = 0;
  }

  private collect(entry: SubscriptionEntry<MqttSession>, msg: MqttMessage, stamp: number, targets: MqttSession[]): void {
    const s = entry.session;
    const o = entry.options;
    if (s.ended) return; // its subscriptions are retiring (endSession)
    if (o.noLocal && msg.origin === s && entry.group === null) return;
    if (s.matchStamp !== stamp) {
      s.matchStamp = stamp;
      s.matchQos = o.qos;
      s.matchRetain = o.retainAsPublished && msg.retain;
      s.matchIds = o.identifier === 0 ? null : [o.identifier];
      targets.push(s);
      return;
    }
    if (o.qos > s.matchQos) s.matchQos = o.qos;
    if (o.retainAsPublished && msg.retain) s.matchRetain = true;
    if (o.identifier !== 0) (s.matchIds ??= []).push(o.identifier);
  }
}
