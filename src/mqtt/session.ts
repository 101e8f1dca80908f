/**
 * An MQTT session: the state that outlives a network connection when the client asks for it
 * (clean start 0 / session expiry > 0): subscriptions, QoS 1/2 deliveries in flight and queued,
 * QoS 2 publishes received but not yet released, and the will.
 *
 * Outbound QoS 1/2 flow: a delivery takes a packet id while the in-flight window (the smaller
 * of `max_inflight` and the client's Receive Maximum) has room, else waits in a bounded queue;
 * an ack frees the slot and the next queued one goes out. After a reconnect everything in
 * flight is sent again in order (PUBLISH with DUP, or PUBREL), then the queue.
 */
import type { AclEntry } from '../auth/acl.js';
import type { PublisherPort } from '../broker/ports.js';
import type { MqttVersion } from '../protocol/mqtt/index.js';
import type { MqttMessage, QoS } from './message.js';
import type { SavedQos } from './session-codec.js';
import { mqttTopicMatches } from '../topics/index.js';
import { splitShared, type SubscriberSession, type SubscriptionEntry } from './subscription.js';
import { SmallMap } from './small-map.js';
import { PacketIdSet } from './packet-id-set.js';
import { allocatePacketId, NO_INFLIGHT, NO_QUEUE, NO_WAITERS, pressure, QosState, type InFlight, type Queued, type QueuePolicy } from './qos-state.js';

export type { QueuePolicy } from './qos-state.js';

/** What a session needs of its current network connection (src/mqtt/connection.ts). */
export interface MqttLink {
  readonly version: MqttVersion;
  /** Outbound window: min(max_inflight, the client's Receive Maximum). */
  readonly sendWindow: number;
  /** Encodes and queues a PUBLISH; false when the client cannot take it (too large: dropped). */
  sendPublish(msg: MqttMessage, qos: QoS, retain: boolean, packetId: number, dup: boolean, subIds: readonly number[] | null, publisher: PublisherPort | null): boolean;
  sendPubrel(packetId: number): void;
  /** The client does not acknowledge fast enough: disconnect it (the slow-consumer policy). */
  dropSlow(why: string): void;
}


export interface Will {
  readonly message: MqttMessage;
  /** v5 Will Delay Interval, seconds. */
  readonly delay: number;
}

export interface SessionDrops {
  /** The bounds of every session's queue (shared, not a field per session). */
  readonly queuePolicy: QueuePolicy;
  /** A message did not fit the session's queue. */
  queueFull(session: MqttSession): void;
  /** A message expired (v5 Message Expiry Interval) before it could be sent. */
  expired(session: MqttSession): void;
  /** The QoS state of a persistent session changed (mqtt.persistence_file saves it). */
  stateChanged(): void;
}

/** The subscriptions are the session's own SmallMap fields (see SmallMap). */
export class MqttSession extends SmallMap<SubscriptionEntry<MqttSession>> implements SubscriberSession {
  /** Characters of the subscriptions' keys (server.max_subscription_bytes). */
  subscriptionChars = 0;
  /** Which subscription limits were logged (bits, see packet-handler.ts: once per session). */
  limitsLogged = 0;
  link: MqttLink | null = null;
  /** Seconds the session is kept after its connection ends (0: ends with it). */
  expiryInterval = 0;
  will: Will | null = null;
  willTimer: NodeJS.Timeout | null = null;
  expiryTimer: NodeJS.Timeout | null = null;
  /** Scratch of the router's fan-out (see MqttRouter.dispatch). */
  matchStamp = 0;
  matchQos = -1;
  matchRetain = false;
  matchIds: number[] | null = null;
  ended = false;
  private q: QosState | null = null;

  constructor(
    readonly clientId: string,
    public user: string,
    public acl: AclEntry,
    private readonly drops: SessionDrops,
  ) {
    super();
  }

  /** The subscriptions by key (the session itself: see SmallMap). */
  get subscriptions(): SmallMap<SubscriptionEntry<MqttSession>> {
    return this;
  }

  get connected(): boolean {
    return this.link !== null;
  }

  /**
   * The limit a new subscription `key` would pass (server.max_subscriptions,
   * max_subscription_bytes), as its config name and value; null when it fits. A SUBSCRIBE and a
   * session loaded from the persistence file are held to the same rule.
   */
  subscriptionLimit(key: string, maxCount: number, maxChars: number): string | null {
    if (this.subscriptions.size >= maxCount) return `server.max_subscriptions ${maxCount}`;
    if (this.subscriptionChars + key.length > maxChars) return `server.max_subscription_bytes ${maxChars}`;
    return null;
  }

  get inflightCount(): number {
    return this.q?.inflight.size ?? 0;
  }

  get queuedCount(): number {
    return this.q?.queuedCount ?? 0;
  }

  private qos(): QosState {
    return (this.q ??= new QosState());
  }

  /** A matched message for this session (qos already min(published, granted)). */
  deliver(msg: MqttMessage, qos: QoS, retain: boolean, subIds: readonly number[] | null, publisher: PublisherPort | null): void {
    const link = this.link;
    if (qos === 0) {
      // QoS 0 is never queued for an offline session (as Mosquitto by default).
      if (link !== null) link.sendPublish(msg, 0, retain, 0, false, subIds, publisher);
      return;
    }
    this.changed();
    msg.own();
    const q = this.qos();
    if (link !== null && q.queuedCount === 0 && q.inflight.size < link.sendWindow) {
      this.sendNew(q, link, msg, qos, retain, subIds, publisher);
      return;
    }
    if (!this.enqueue(q, { msg, qos, retain, subIds })) return;
    const policy = this.drops.queuePolicy;
    // Not the subscriber's own connection (it publishes to its own topic): held back, it would
    // not read the acknowledgements that drain this queue.
    if (publisher !== null && link !== null && (publisher as object) !== link && pressure(q, policy) >= 1) this.holdBack(q, publisher, link);
  }

  /** Queues `item` within the queue bounds; false (counted as a full queue) when it does not fit. */
  private enqueue(q: QosState, item: Queued): boolean {
    const policy = this.drops.queuePolicy;
    const bytes = item.msg.footprint();
    if (q.queuedCount >= policy.maxQueued || (policy.maxQueuedBytes > 0 && q.queuedBytes + bytes > policy.maxQueuedBytes)) {
      this.drops.queueFull(this);
      return false;
    }
    if (q.queue === NO_QUEUE) q.queue = [];
    q.queue.push(item);
    q.queuedBytes += bytes;
    return true;
  }

  /** Makes `publisher` wait for this queue (see QueuePolicy). */
  private holdBack(q: QosState, publisher: PublisherPort, link: MqttLink): void {
    if (q.waiters.includes(publisher)) return;
    if (q.waiters === NO_WAITERS) q.waiters = [];
    q.waiters.push(publisher);
    publisher.blockedOn++;
    const policy = this.drops.queuePolicy;
    q.drainTimer ??= setTimeout(() => {
      q.drainTimer = null;
      if (this.link === link && pressure(q, policy) >= 0.5) {
        link.dropSlow(`${this.queuedCount} QoS 1/2 messages unacknowledged for ${policy.drainTimeoutMs} ms`);
      }
      this.releaseWaiters();
    }, policy.drainTimeoutMs);
  }

  private releaseWaiters(): void {
    const q = this.q;
    if (q === null) return;
    if (q.drainTimer !== null) clearTimeout(q.drainTimer);
    q.drainTimer = null;
    const waiters = q.waiters;
    if (waiters.length === 0) return;
    q.waiters = NO_WAITERS;
    for (const p of waiters) if (--p.blockedOn === 0) p.resume();
  }

  /** PUBACK (QoS 1) or PUBCOMP (QoS 2): the slot is free. False when the id was not in flight. */
  completed(packetId: number): boolean {
    const q = this.q;
    const f = q?.inflight.get(packetId);
    if (q === null || f === undefined) return false;
    q.inflight.delete(packetId);
    this.changed();
    if (f.unsent) q.unsent--; // acknowledged from the previous connection before its resend
    this.drain(q);
    return true;
  }

  /** PUBREC: answer PUBREL; false when the id is unknown. `failed` (v5 reason ≥ 0x80) ends it. */
  received(packetId: number, failed: boolean): boolean {
    const f = this.q?.inflight.get(packetId);
    if (f?.qos !== 2) return false;
    if (failed) return this.completed(packetId);
    if (f.unsent && this.q !== null) {
      f.unsent = false;
      this.q.unsent--;
    }
    f.released = true;
    this.changed();
    this.link?.sendPubrel(packetId);
    return true;
  }

  get inboundQos2Count(): number {
    return this.q?.qos2?.size ?? 0;
  }

  hasInboundQos2(packetId: number): boolean {
    return this.q?.qos2?.has(packetId) ?? false;
  }

  addInboundQos2(packetId: number): void {
    const q = this.qos();
    (q.qos2 ??= new PacketIdSet()).add(packetId);
    this.changed();
  }

  /** PUBREL: false when the id was not pending. */
  releaseInboundQos2(packetId: number): boolean {
    const released = this.q?.qos2?.delete(packetId) ?? false;
    if (released) this.changed();
    return released;
  }

  /** Only what a save of a persistent session holds counts (a clean session's traffic does not). */
  private changed(): void {
    if (this.expiryInterval !== 0) this.drops.stateChanged();
  }

  /** The QoS 1/2 state as mqtt.persistence_file saves it; null when there is none. */
  savedQos(): SavedQos<MqttMessage> | null {
    const q = this.q;
    if (q === null) return null;
    const inflight = [...q.inflight].map(([packetId, f]) => ({ packetId, msg: f.msg, qos: f.qos, retain: f.retain, subIds: f.subIds, released: f.released }));
    const queue = q.queue.slice(q.queueHead);
    const inboundQos2 = q.qos2?.ids() ?? [];
    if (inflight.length === 0 && queue.length === 0 && inboundQos2.length === 0) return null;
    return { nextPacketId: q.nextPacketId, inflight, queue, inboundQos2 };
  }

  /**
   * A saved QoS state, into a session loaded at start (offline): everything goes out when the
   * client is back. With `narrowed` (its ACL removed subscriptions) what it may no longer read
   * goes first (see dropUnreadable; that count is returned), then queued messages past today's
   * queue bounds (lowered since) are dropped and counted as a full queue would.
   */
  restoreQos(saved: SavedQos<MqttMessage>, narrowed: AclEntry | null): number {
    const q = this.qos();
    q.nextPacketId = saved.nextPacketId;
    if (saved.inflight.length > 0) q.inflight = new Map();
    for (const f of saved.inflight) q.inflight.set(f.packetId, { msg: f.msg, qos: f.qos, retain: f.retain, subIds: f.subIds, released: f.released, unsent: false });
    for (const id of saved.inboundQos2) (q.qos2 ??= new PacketIdSet()).add(id);
    if (saved.queue.length > 0) q.queue = [...saved.queue];
    const unreadable = narrowed === null ? 0 : this.dropUnreadable(narrowed);
    const loaded = q.queue;
    q.queue = NO_QUEUE;
    q.queueHead = 0;
    q.queuedBytes = 0;
    for (const d of loaded) this.enqueue(q, d);
    return unreadable;
  }

  /**
   * A new connection took the session: resend what is in flight, then drain the queue. The new
   * connection may have a smaller Receive Maximum: what does not fit its window waits (marked
   * `unsent`, keeping its packet id) and goes out as acks free the window, before the queue.
   */
  resume(link: MqttLink): void {
    this.link = link;
    const q = this.q;
    if (q === null) return;
    const now = Date.now();
    q.unsent = 0;
    let sent = 0;
    for (const [id, f] of q.inflight) {
      f.unsent = false;
      if (!f.released && f.msg.expired(now)) q.inflight.delete(id);
      else if (sent >= link.sendWindow) {
        f.unsent = true;
        q.unsent++;
      } else if (this.resend(q, link, id, f)) sent++;
    }
    this.drain(q);
  }

  /** Sends an in-flight entry again; false when it was dropped (too large for this client). */
  private resend(q: QosState, link: MqttLink, id: number, f: InFlight): boolean {
    if (f.released) {
      link.sendPubrel(id);
      return true;
    }
    if (link.sendPublish(f.msg, f.qos, f.retain, id, true, f.subIds, null)) return true;
    q.inflight.delete(id); // as if delivered [MQTT-3.1.2-25]
    return false;
  }

  /** Resends `unsent` in-flight entries while the window has room (after a resume). */
  private resendWaiting(q: QosState, link: MqttLink): void {
    for (const [id, f] of q.inflight) {
      if (q.unsent === 0 || q.inflight.size - q.unsent >= link.sendWindow) return;
      if (!f.unsent) continue;
      f.unsent = false;
      q.unsent--;
      this.resend(q, link, id, f);
    }
  }

  /**
   * After subscriptions its ACL no longer allows were removed: what they queued (or sent and got
   * no ack for) on topics the ACL does not let it read is dropped, not delivered at the next
   * connect. A QoS 2 delivery in flight goes on with PUBREL instead of the PUBLISH again: the
   * client may hold its packet id until then, and would take the id's next message for a
   * duplicate.
   */
  dropUnreadable(acl: AclEntry): number {
    const q = this.q;
    if (q === null) return 0;
    const readable = (msg: MqttMessage): boolean => this.mayRead(acl, msg.rawTopic);
    let dropped = 0;
    for (const [id, f] of q.inflight) {
      if (f.released || readable(f.msg)) continue;
      dropped++;
      if (f.qos === 2) f.released = true;
      else {
        q.inflight.delete(id);
        if (f.unsent) q.unsent--;
      }
    }
    const kept = q.queue.slice(q.queueHead).filter((d) => readable(d.msg));
    dropped += q.queuedCount - kept.length;
    q.queue = kept.length === 0 ? NO_QUEUE : kept;
    q.queueHead = 0;
    q.queuedBytes = kept.reduce((n, d) => n + d.msg.footprint(), 0);
    if (dropped > 0) this.changed();
    return dropped;
  }

  /**
   * Whether `acl` lets this session read `topic`: it could subscribe to the topic itself, or one
   * of its subscriptions (each allowed by `acl`) matches it. The second covers topics the first
   * refuses for their PSRT form alone (`a//b` under an ACL `a/+/b`).
   */
  mayRead(acl: AclEntry, topic: string): boolean {
    if (acl.canSubscribe(topic)) return true;
    for (const key of this.keys()) if (mqttTopicMatches(splitShared(key)?.filter ?? key, topic)) return true;
    return false;
  }

  /** Offline: nobody waits for this queue any more (new messages are queued or dropped). */
  detach(): void {
    this.link = null;
    this.releaseWaiters();
  }

  /** Forget everything queued (clean start, or the session ended). */
  clearState(): void {
    this.releaseWaiters();
    this.q = null;
  }

  private drain(q: QosState): void {
    const link = this.link;
    if (link === null) return;
    if (q.unsent > 0) this.resendWaiting(q, link);
    const now = Date.now();
    while (q.queueHead < q.queue.length && q.inflight.size < link.sendWindow) {
      const item = q.queue[q.queueHead] as Queued;
      q.queue[q.queueHead++] = undefined as unknown as Queued; // release for GC
      q.queuedBytes -= item.msg.footprint();
      if (item.msg.expired(now)) this.drops.expired(this);
      else this.sendNew(q, link, item.msg, item.qos, item.retain, item.subIds, null);
    }
    if (q.waiters.length > 0 && pressure(q, this.drops.queuePolicy) < 0.5) this.releaseWaiters();
    if (q.queueHead === q.queue.length) {
      q.queue = NO_QUEUE;
      q.queueHead = 0;
      q.queuedBytes = 0;
    } else if (q.queueHead > 1024 && q.queueHead * 2 > q.queue.length) {
      q.queue.splice(0, q.queueHead);
      q.queueHead = 0;
    }
  }

  private sendNew(q: QosState, link: MqttLink, msg: MqttMessage, qos: 1 | 2, retain: boolean, subIds: readonly number[] | null, publisher: PublisherPort | null): void {
    const id = allocatePacketId(q);
    if (q.inflight === NO_INFLIGHT) q.inflight = new Map();
    q.inflight.set(id, { msg, qos, retain, subIds, released: false, unsent: false });
    if (!link.sendPublish(msg, qos, retain, id, false, subIds, publisher)) q.inflight.delete(id);
  }
}
