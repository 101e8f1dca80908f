/**
 * The MQTT side of the broker: sessions by client id (takeover, expiry, wills), retained
 * messages, and every way a message reaches MQTT subscribers (from MQTT, PSRT, UDP,
 * replication, bridges, the `$SYS` tree); the subscription index and the fan-out are
 * MqttFanOut's (fan-out.ts). It joins the broker as a publish hook that only delivers locally,
 * and hands messages published over MQTT to the broker (PSRT subscribers, replication,
 * bridges) with itself as their source, so nobody gets a message twice.
 */
import type { AclEntry } from '../auth/acl.js';
import { FrameSlab, Stamp, stampNow, type Broker, type BrokerLogger, type MessageMeta, type PublishHook, type PublisherPort } from '../broker/index.js';
import { escapeForLog } from '../protocol/log-escape.js';
import { isSystemTopic, normalizeTopic, topicDepth } from '../topics/index.js';
import { MqttFanOut } from './fan-out.js';
import { MqttMessage, carriedFromMeta } from './message.js';
import { RetainedStore } from './retained.js';
import { MqttSession, type QueuePolicy, type SessionDrops, type Will } from './session.js';
import { splitShared } from './subscription.js';
import { longTimer } from './long-timer.js';

export interface MqttRouterOptions {
  /** Per-session queue bounds and the publisher pause (see QueuePolicy). */
  readonly queue: QueuePolicy;
  readonly retainedMaxCount: number;
  readonly retainedMaxBytes: number;
  readonly maxTopicDepth: number;
}

/** A v5 Session Expiry Interval of 0xFFFFFFFF: the session does not expire (§3.1.2.11.2). */
const NEVER_EXPIRES = 0xffffffff;

/**
 * An MQTT topic is a string of 1 to 65,535 UTF-8 bytes; PSRT allows longer ones
 * (server.max_topic_length) and the empty one (a publish to `/`). A UTF-16 unit takes at most
 * 3 bytes, so shorter strings fit.
 */
const MQTT_TOPIC_MAX_BYTES = 65535;
const FITS_ANY_TOPIC_CHARS = Math.floor(MQTT_TOPIC_MAX_BYTES / 3);

function unfitForMqtt(topic: string): boolean {
  return topic === '' || (topic.length > FITS_ANY_TOPIC_CHARS && Buffer.byteLength(topic) > MQTT_TOPIC_MAX_BYTES);
}

/** PSRT's default priority (what a PSRT subscriber sees on a message published over MQTT). */
export const DEFAULT_PRIORITY = 0x7f;

export class MqttRouter extends MqttFanOut implements PublishHook, SessionDrops {
  readonly forwardsMessages = false;
  readonly retained: RetainedStore;
  readonly sessions = new Map<string, MqttSession>();
  /** Shared slabs small QoS 0 packets are encoded into (see MqttMessage.plainQos0). */
  readonly slabs = new FrameSlab();
  /** The receive Stamp of the last message from the other protocols (reads share one). */
  private lastStamp = new Stamp(0);
  /** Wall-clock ms each offline persistent session ends at (a map, not a field every session pays for). */
  private readonly endsAt = new Map<MqttSession, number>();
  /** Wall-clock ms each will waiting for its Will Delay Interval is due. */
  private readonly willAt = new Map<MqttSession, number>();

  constructor(
    private readonly broker: Broker,
    private readonly opts: MqttRouterOptions,
    private readonly log: BrokerLogger,
  ) {
    super();
    this.retained = new RetainedStore(opts.retainedMaxCount, opts.retainedMaxBytes);
  }

  get queuePolicy(): QueuePolicy {
    return this.opts.queue;
  }

  // ---- sessions ---------------------------------------------------------------------------

  /** The session for `clientId`, fresh when `cleanStart` or unknown; `present` per CONNACK. */
  openSession(clientId: string, cleanStart: boolean, user: string, acl: AclEntry): { session: MqttSession; present: boolean } {
    const old = this.sessions.get(clientId);
    if (old !== undefined) {
      if (old.link !== null && old.will !== null) this.sessionChanges++; // an open connection's will is saved
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
   * delivering topics the user may no longer read, and so is what it queued. Runs only when
   * the ACL entry changed (each reload makes new entries), so a resume without a reload costs
   * nothing.
   */
  private dropDenied(session: MqttSession, acl: AclEntry): void {
    const denied: string[] = [];
    for (const key of session.subscriptions.keys()) {
      if (!acl.canSubscribe(splitShared(key)?.filter ?? key)) denied.push(key);
    }
    if (denied.length === 0) return;
    for (const key of denied) this.unsubscribe(session, key);
    const dropped = session.dropUnreadable(acl);
    if (this.broker.logLimiter.line('mqtt: resume denied', 'warn').admit()) {
      const messages = dropped === 0 ? '' : `, ${dropped} queued message(s) it may no longer read dropped`;
      this.log.warn(`mqtt: session ${escapeForLog(session.clientId)} resumed: ${denied.length} subscription(s) its ACL no longer allows removed (first: ${escapeForLog(denied[0] ?? '')})${messages}`);
    }
  }

  /**
   * The session's connection ended. `publishWill`: abnormal end (or DISCONNECT 0x04). The session
   * stays for its expiry interval (its will may wait for its delay), else it ends now.
   */
  connectionLost(session: MqttSession, publishWill: boolean): void {
    if (session.ended) return;
    session.detach();
    // The wills of open connections are saved (clean sessions' too): one that goes out or is
    // discarded here must leave the file at the next save, or a crash would publish it.
    if (session.expiryInterval !== 0 || session.will !== null) this.sessionChanges++;
    if (!publishWill) session.will = null;
    if (session.expiryInterval === 0) {
      this.endSession(session, true);
      return;
    }
    const will = session.will;
    if (will !== null && will.delay === 0) this.publishWill(session);
    else if (will !== null) this.scheduleWill(session, Math.min(will.delay, session.expiryInterval) * 1000);
    if (session.expiryInterval === NEVER_EXPIRES) return;
    this.expireIn(session, session.expiryInterval * 1000);
  }

  private expireIn(session: MqttSession, ms: number): void {
    this.endsAt.set(session, Date.now() + ms);
    longTimer(ms, () => {
      if (session.link === null) this.endSession(session, true);
    }, (t) => { session.expiryTimer = t; });
  }

  /**
   * The session's will goes out in `ms` unless its client is back first. Also for a will loaded
   * from mqtt.persistence_file, whose session may have ended while psrtd was down (it is due
   * then: "the Will Delay Interval has passed or the Session ends, whichever happens first").
   */
  scheduleWill(session: MqttSession, ms: number): void {
    this.willAt.set(session, Date.now() + ms);
    longTimer(Math.max(0, ms), () => { this.publishWill(session); }, (t) => { session.willTimer = t; });
  }

  /** Wall-clock ms the session's delayed will is due; 0 when none waits. */
  willDueMs(session: MqttSession): number {
    return this.willAt.get(session) ?? 0;
  }

  /** A session's expiry interval (CONNECT, v5 DISCONNECT); a persistent one's save notices. */
  setExpiry(session: MqttSession, seconds: number): void {
    if (seconds !== 0 || session.expiryInterval !== 0) this.sessionChanges++;
    session.expiryInterval = seconds;
  }

  /** The will of the session's new connection; one is a change (the wills of open connections are saved). */
  setWill(session: MqttSession, will: Will | null): void {
    if (will !== null) this.sessionChanges++;
    session.will = will;
  }

  stateChanged(): void {
    this.sessionChanges++;
  }

  /**
   * A session loaded from mqtt.persistence_file at start: offline, ending after `remainingMs`
   * (null: never) unless its client is back first.
   */
  adoptSession(session: MqttSession, remainingMs: number | null): void {
    this.sessions.set(session.clientId, session);
    if (remainingMs !== null) this.expireIn(session, remainingMs);
  }

  /** Wall-clock ms an offline session ends at; 0 when connected or it never expires. */
  endsAtMs(session: MqttSession): number {
    return this.endsAt.get(session) ?? 0;
  }

  /**
   * Removes the session and its subscriptions (see removeSubscriptions); a pending will goes out
   * first (`withWill`).
   */
  endSession(session: MqttSession, withWill: boolean): void {
    if (session.ended) return;
    session.ended = true;
    if (session.expiryInterval !== 0) this.sessionChanges++;
    this.cancelTimers(session);
    if (withWill) this.publishWill(session);
    this.removeSubscriptions(session);
    session.clearState();
    if (this.sessions.get(session.clientId) === session) this.sessions.delete(session.clientId);
  }

  /** Shutdown: every session ends (mqtt.persistence_file has saved the persistent ones by then). */
  closeAll(): void {
    for (const s of [...this.sessions.values()]) this.endSession(s, false);
  }

  /** Its will and expiry timers, and their deadlines (a session back online or ended has none). */
  private cancelTimers(session: MqttSession): void {
    this.endsAt.delete(session);
    this.willAt.delete(session);
    if (session.willTimer !== null) clearTimeout(session.willTimer);
    if (session.expiryTimer !== null) clearTimeout(session.expiryTimer);
    session.willTimer = null;
    session.expiryTimer = null;
  }

  /** The session's will goes out now, if it has one (and its ACL allows it). */
  publishWill(session: MqttSession): void {
    const will = session.will;
    session.will = null;
    this.willAt.delete(session);
    if (will === null) return;
    if (session.expiryInterval !== 0) this.sessionChanges++; // a saved will must not go out twice
    const w = will.message;
    if (isSystemTopic(w.rawTopic) || !session.acl.canPublish(normalizeTopic(w.rawTopic))) {
      if (this.broker.logLimiter.line('mqtt: will denied', 'warn').admit()) this.log.warn(`mqtt: will of ${escapeForLog(session.clientId)} denied by ACL for ${escapeForLog(w.rawTopic)}`);
      return;
    }
    // Received now, as far as latency is concerned (not when the client connected).
    this.publish(new MqttMessage(w.rawTopic, w.payload, w.qos, w.retain, w.priority, stampNow(), w.props, null), null);
  }

  // ---- retained messages --------------------------------------------------------------------

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
    // No PUBLISH can carry it: encoding a long one threw into the publisher's connection (PSRT
    // "Internal error") or into the CONNECT of a session that had queued it, and an empty one
    // is a protocol error to the client (mosquitto_sub dropped the connection, again each time
    // its persistent session handed the queued message back).
    if (unfitForMqtt(rawTopic)) return;
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
   * bridges never see it.
   */
  publishSystem(msg: MqttMessage): void {
    this.retain(msg);
    this.dispatchSystem(msg);
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
