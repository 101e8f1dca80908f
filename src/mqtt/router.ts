/**
 * The MQTT side of the broker: sessions by client id, the MQTT subscription index, retained
 * messages, and the fan-out of every message (from MQTT, PSRT, UDP, replication, bridges) to
 * MQTT subscribers. It joins the broker as a publish hook that only delivers locally, and hands
 * messages published over MQTT to the broker (PSRT subscribers, replication, bridges) with
 * itself as their source, so nobody gets a message twice.
 */
import type { AclEntry } from '../auth/acl.js';
import { FrameSlab, Stamp, SubscriptionRetirer, stampNow, type Broker, type BrokerLogger, type MessageMeta, type PublishHook, type PublisherPort } from '../broker/index.js';
import { escapeForLog } from '../protocol/log-escape.js';
import { SubscriptionIndex, isSystemTopic, normalizeTopic, topicDepth } from '../topics/index.js';
import { MqttMessage, carriedFromMeta, type QoS } from './message.js';
import { MqttCounters } from './counters.js';
import { RetainedStore } from './retained.js';
import { MqttSession, type QueuePolicy, type SessionDrops } from './session.js';
import { SharedGroup, SubscriptionEntry, internOptions, splitShared, type SubscriptionOptions } from './subscription.js';
import { longTimer } from './long-timer.js';

export interface MqttRouterOptions {
  /** Per-session queue bounds and the publisher pause (see QueuePolicy). */
  readonly queue: QueuePolicy;
  readonly retainedMaxCount: number;
  readonly retainedMaxBytes: number;
  readonly maxTopicDepth: number;
}

type IndexEntry = SubscriptionEntry<MqttSession> | SharedGroup<MqttSession>;

const MAX_CACHED_TOPICS = 4096;
const NO_ENTRIES: readonly IndexEntry[] = [];
const MAX_CACHED_TOPIC = 1024;

/**
 * Subscriptions of an ended session taken out of the index per turn: ~1.5 µs each (the shared
 * index plus shared groups; a PSRT mask costs ~0.6 µs), so 1.5–2 ms a slice.
 */
const RETIRE_PER_TURN = 1024;

/** A v5 Session Expiry Interval of 0xFFFFFFFF: the session does not expire (§3.1.2.11.2). */
const NEVER_EXPIRES = 0xffffffff;

/** PSRT's default priority (what a PSRT subscriber sees on a message published over MQTT). */
export const DEFAULT_PRIORITY = 0x7f;

export class MqttRouter implements PublishHook, SessionDrops {
  readonly forwardsMessages = false;
  readonly counters = new MqttCounters();
  readonly retained: RetainedStore;
  readonly sessions = new Map<string, MqttSession>();
  /** Shared slabs small QoS 0 packets are encoded into (see MqttMessage.plainQos0). */
  readonly slabs = new FrameSlab();
  /** The receive Stamp of the last message from the other protocols (reads share one). */
  private lastStamp = new Stamp(0);
  private readonly index = new SubscriptionIndex<IndexEntry>({ semantics: 'mqtt' });
  private readonly groups = new Map<string, SharedGroup<MqttSession>>();
  /**
   * Index matches per topic (publishers repeat their topics), dropped whenever a subscription
   * changes; bounded in count, and long topics are never cached.
   */
  private readonly matches = new Map<string, IndexEntry[]>();
  private readonly targets: MqttSession[] = [];
  private stamp = 0;
  private subscriptionTotal = 0;
  /** Large subscription sets of ended sessions leave the index a slice per turn. */
  private readonly retirer: SubscriptionRetirer<MqttSession>;

  constructor(
    private readonly broker: Broker,
    private readonly opts: MqttRouterOptions,
    private readonly log: BrokerLogger,
  ) {
    this.retained = new RetainedStore(opts.retainedMaxCount, opts.retainedMaxBytes);
    this.retirer = new SubscriptionRetirer<MqttSession>(
      (key, session) => {
        const entry = session.subscriptions.get(key);
        if (entry !== undefined) this.dropEntry(entry);
      },
      () => {
        this.matches.clear();
      },
      RETIRE_PER_TURN,
    );
  }

  get queuePolicy(): QueuePolicy {
    return this.opts.queue;
  }

  get subscriptionCount(): number {
    return this.subscriptionTotal;
  }

  // ---- sessions ---------------------------------------------------------------------------

  /** The session for `clientId`, fresh when `cleanStart` or unknown; `present` per CONNACK. */
  openSession(clientId: string, cleanStart: boolean, user: string, acl: AclEntry): { session: MqttSession; present: boolean } {
    const old = this.sessions.get(clientId);
    if (old !== undefined) {
      this.cancelTimers(old);
      // Taken over while connected: its will goes out now unless delayed (a delayed will is
      // cancelled by the new connection, as v5 says for a reconnect within the delay).
      if (old.link !== null && old.will?.delay === 0) this.publishWill(old);
      old.detach();
      if (!cleanStart && old.user === user) {
        old.will = null;
        if (old.acl !== acl) this.dropDenied(old, acl);
        old.acl = acl; // login-time ACL of the new connection, as for PSRT sessions
        return { session: old, present: true };
      }
      // The session ends here: a will still waiting for its delay goes out now (v5 §3.1.3.2.2,
      // "until the Will Delay Interval has passed or the Session ends, whichever happens first").
      this.endSession(old, true);
    }
    const session = new MqttSession(clientId, user, acl, this);
    this.sessions.set(clientId, session);
    return { session, present: false };
  }

  /**
   * A resumed session gets the rights of its new login (SIGHUP may have reduced them since it
   * subscribed): a subscription that login could not make is removed, or it would keep
   * delivering topics the user may no longer read. Runs only when the ACL entry changed (each
   * reload makes new entries), so a resume without a reload costs nothing.
   */
  private dropDenied(session: MqttSession, acl: AclEntry): void {
    const denied: string[] = [];
    for (const key of session.subscriptions.keys()) {
      if (!acl.canSubscribe(splitShared(key)?.filter ?? key)) denied.push(key);
    }
    for (const key of denied) this.unsubscribe(session, key);
    if (denied.length > 0 && this.broker.logLimiter.line('mqtt: resume denied', 'warn').admit()) {
      this.log.warn(`mqtt: session ${escapeForLog(session.clientId)} resumed: ${denied.length} subscription(s) its ACL no longer allows removed (first: ${escapeForLog(denied[0] ?? '')})`);
    }
  }

  /**
   * The session's connection ended. `publishWill`: abnormal end (or DISCONNECT 0x04). The session
   * stays for its expiry interval (its will may wait for its delay), else it ends now.
   */
  connectionLost(session: MqttSession, publishWill: boolean): void {
    if (session.ended) return;
    session.detach();
    if (!publishWill) session.will = null;
    if (session.expiryInterval === 0) {
      this.endSession(session, true);
      return;
    }
    const will = session.will;
    if (will !== null && will.delay === 0) this.publishWill(session);
    else if (will !== null) {
      longTimer(Math.min(will.delay, session.expiryInterval) * 1000, () => { this.publishWill(session); }, (t) => { session.willTimer = t; });
    }
    if (session.expiryInterval === NEVER_EXPIRES) return;
    longTimer(session.expiryInterval * 1000, () => {
      if (session.link === null) this.endSession(session, true);
    }, (t) => { session.expiryTimer = t; });
  }

  /**
   * Removes the session and its subscriptions; a pending will goes out first (`withWill`).
   * A session with more subscriptions than one slice leaves the index over the next turns
   * (removing 100,000 in one go stalled every other client for ~100 ms); meanwhile it is
   * `ended`, which fan-out and shared groups skip, so it gets no message.
   */
  endSession(session: MqttSession, withWill: boolean): void {
    if (session.ended) return;
    session.ended = true;
    this.cancelTimers(session);
    if (withWill) this.publishWill(session);
    const count = session.subscriptions.size;
    if (count > this.retirer.perTurn) {
      this.subscriptionTotal -= count;
      session.subscriptionChars = 0;
      this.retirer.retire(session);
    } else {
      for (const key of session.subscriptions.keys()) this.unsubscribe(session, key);
    }
    session.clearState();
    if (this.sessions.get(session.clientId) === session) this.sessions.delete(session.clientId);
  }

  /** Shutdown: every session ends (persistent ones are not kept across restarts). */
  closeAll(): void {
    for (const s of [...this.sessions.values()]) this.endSession(s, false);
  }

  private cancelTimers(session: MqttSession): void {
    if (session.willTimer !== null) clearTimeout(session.willTimer);
    if (session.expiryTimer !== null) clearTimeout(session.expiryTimer);
    session.willTimer = null;
    session.expiryTimer = null;
  }

  private publishWill(session: MqttSession): void {
    const will = session.will;
    session.will = null;
    if (will === null) return;
    const w = will.message;
    if (isSystemTopic(w.rawTopic) || !session.acl.canPublish(normalizeTopic(w.rawTopic))) {
      if (this.broker.logLimiter.line('mqtt: will denied', 'warn').admit()) this.log.warn(`mqtt: will of ${escapeForLog(session.clientId)} denied by ACL for ${escapeForLog(w.rawTopic)}`);
      return;
    }
    // Received now, as far as latency is concerned (not when the client connected).
    this.publish(new MqttMessage(w.rawTopic, w.payload, w.qos, w.retain, w.priority, stampNow(), w.props, null), null);
  }

  // ---- subscriptions ------------------------------------------------------------------------

  /** The index entries matching `topic` (cached; see `matches`). */
  private entriesFor(topic: string): readonly IndexEntry[] {
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

  /** Retained messages for a new subscription, already limited to its granted QoS. */
  retainedFor(filter: string): MqttMessage[] {
    return this.retained.match(filter, Date.now());
  }

  /** Whether `msg` (from retainedFor) is still retained: not replaced or deleted since. */
  stillRetained(msg: MqttMessage): boolean {
    return this.retained.holds(msg);
  }

  // ---- messages ---------------------------------------------------------------------------

  /** The publish hook: a message that entered by PSRT, UDP, replication or a bridge. */
  onLocalPublish(
    priority: number,
    topic: string,
    payload: Buffer | readonly Buffer[],
    timestampUs: number,
    qos: 0 | 1 | 2,
    meta: MessageMeta | null,
    publisher: PublisherPort | null,
  ): void {
    const retain = meta?.retain === true;
    if (this.subscriptionTotal === 0 && !retain) return;
    const rawTopic = meta?.rawTopic ?? topic;
    if (!retain && this.entriesFor(rawTopic).length === 0) return;
    const body = Buffer.isBuffer(payload) ? payload : Buffer.concat(payload);
    if (this.lastStamp.us !== timestampUs) this.lastStamp = new Stamp(timestampUs);
    const msg = new MqttMessage(rawTopic, body, qos, retain, priority, this.lastStamp, carriedFromMeta(meta), null);
    if (retain && !isSystemTopic(rawTopic)) this.retain(msg);
    this.dispatch(msg, publisher);
  }

  /**
   * A message of the broker's own `$SYS` tree (sys-tree.ts): retained, and delivered to MQTT
   * subscribers only. It never reaches the broker, so PSRT subscribers, cluster peers and
   * bridges never see it. The index is asked directly: entriesFor hides `$SYS` topics.
   */
  publishSystem(msg: MqttMessage): void {
    this.retain(msg);
    if (this.subscriptionTotal === 0 || !this.index.hasMatch(msg.rawTopic)) return;
    const found: IndexEntry[] = [];
    this.index.match(msg.rawTopic, found);
    this.fanOut(found, msg, null);
  }

  hasSubscribers(topic: string): boolean {
    return this.subscriptionTotal > 0 && this.entriesFor(topic).length > 0;
  }

  /**
   * A message published over MQTT (or a will): MQTT subscribers, the retained store, then the
   * broker for PSRT subscribers and the other hooks. PSRT sees the topic normalised; a topic
   * that normalises to nothing or is deeper than max_topic_depth is not given to PSRT.
   */
  publish(msg: MqttMessage, publisher: PublisherPort | null): void {
    this.counters.published++;
    const c = this.broker.counters;
    c.pubMessages++;
    c.pubBytes += msg.payload.length;
    if (msg.retain) this.retain(msg);
    this.dispatch(msg, publisher);
    const topic = msg.psrtTopic ?? normalizeTopic(msg.rawTopic);
    if (topic === '' || topicDepth(topic) > this.opts.maxTopicDepth) return;
    this.broker.publishExternal(msg.priority, topic, msg.payload, msg.receivedUs, msg.qos, msg, this, publisher);
  }

  private retain(msg: MqttMessage): void {
    if (!this.retained.put(msg)) this.warnOnce(`mqtt: retained store full (retained_max_count / retained_max_bytes), ${escapeForLog(msg.rawTopic)} not retained`);
  }

  /**
   * Delivers to every MQTT session with a matching subscription, once per session: the highest
   * granted QoS of its matching subscriptions, all their identifiers, no-local honoured, and one
   * member of each shared group.
   */
  private dispatch(msg: MqttMessage, publisher: PublisherPort | null): void {
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

  // ---- SessionDrops -------------------------------------------------------------------------

  queueFull(session: MqttSession): void {
    this.counters.droppedQueueFull++;
    this.warnOnce(`mqtt: queue of ${escapeForLog(session.clientId)} is full (max_queued_messages or max_queued_bytes), dropping messages`);
  }

  expired(): void {
    this.counters.expired++;
  }

  private lastWarnMs = -Infinity;

  private warnOnce(line: string): void {
    const now = performance.now();
    if (now - this.lastWarnMs < 1000) return;
    this.lastWarnMs = now;
    this.log.warn(line);
  }
}
