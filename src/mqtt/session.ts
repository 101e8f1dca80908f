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
import type { SubscriberSession, SubscriptionEntry } from './subscription.js';
import { SmallMap } from './small-map.js';

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

/**
 * When a connected session's queue of QoS 1/2 deliveries grows past `pauseAt`, the publishers
 * feeding it wait (as for a congested PSRT data socket) until it is back under half; if it does
 * not get there within `drainTimeoutMs`, the connection is dropped and the session, now offline,
 * keeps what fits its queue. So a client that stops acknowledging costs publishers at most the
 * drain timeout, and a brief burst loses nothing.
 */
export interface QueuePolicy {
  readonly maxQueued: number;
  readonly pauseAt: number;
  readonly drainTimeoutMs: number;
}

export interface Will {
  readonly message: MqttMessage;
  /** v5 Will Delay Interval, seconds. */
  readonly delay: number;
}

interface InFlight {
  readonly msg: MqttMessage;
  readonly qos: 1 | 2;
  readonly retain: boolean;
  readonly subIds: readonly number[] | null;
  /** PUBREC received (QoS 2): PUBREL sent, waiting for PUBCOMP. */
  released: boolean;
}

/** Only QoS 1/2 deliveries wait (QoS 0 goes out at once or not at all). */
interface Queued {
  readonly msg: MqttMessage;
  readonly qos: 1 | 2;
  readonly retain: boolean;
  readonly subIds: readonly number[] | null;
}

export interface SessionDrops {
  /** A message did not fit the session's queue. */
  queueFull(session: MqttSession): void;
  /** A message expired (v5 Message Expiry Interval) before it could be sent. */
  expired(session: MqttSession): void;
}

/**
 * The empty containers of every idle session, shared and never written to (each is replaced by
 * an own one at its first entry): an idle connection then costs no Map, Set or array of these.
 */
const NO_IDS = new Set<number>();
const NO_INFLIGHT = new Map<number, InFlight>();
const NO_QUEUE: Queued[] = [];
const NO_WAITERS: PublisherPort[] = [];

export class MqttSession implements SubscriberSession {
  readonly subscriptions = new SmallMap<string, SubscriptionEntry<MqttSession>>();
  /** Characters of the subscriptions' keys (server.max_subscription_bytes). */
  subscriptionChars = 0;
  /** The subscription limit was logged (once per session). */
  limitLogged = false;
  link: MqttLink | null = null;
  /** Seconds the session is kept after its connection ends (0: ends with it). */
  expiryInterval = 0;
  will: Will | null = null;
  willTimer: NodeJS.Timeout | null = null;
  expiryTimer: NodeJS.Timeout | null = null;
  /**
   * QoS 2 packet ids received and acknowledged with PUBREC, not yet released (PUBREL). The
   * shared empty set until the first (see NO_IDS): most sensors never publish at QoS 2.
   */
  private qos2: Set<number> = NO_IDS;
  /** Scratch of the router's fan-out (see MqttRouter.dispatch). */
  matchStamp = 0;
  matchQos = -1;
  matchRetain = false;
  matchIds: number[] | null = null;
  ended = false;
  private inflight: Map<number, InFlight> = NO_INFLIGHT;
  private queue: Queued[] = NO_QUEUE;
  private queueHead = 0;
  private nextPacketId = 1;
  private waiters: PublisherPort[] = NO_WAITERS;
  private drainTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly clientId: string,
    public user: string,
    public acl: AclEntry,
    private readonly policy: QueuePolicy,
    private readonly drops: SessionDrops,
  ) {}

  get connected(): boolean {
    return this.link !== null;
  }

  get inflightCount(): number {
    return this.inflight.size;
  }

  get queuedCount(): number {
    return this.queue.length - this.queueHead;
  }

  /** A matched message for this session (qos already min(published, granted)). */
  deliver(msg: MqttMessage, qos: QoS, retain: boolean, subIds: readonly number[] | null, publisher: PublisherPort | null): void {
    const link = this.link;
    if (qos === 0) {
      // QoS 0 is never queued for an offline session (as Mosquitto by default).
      if (link !== null) link.sendPublish(msg, 0, retain, 0, false, subIds, publisher);
      return;
    }
    msg.own();
    if (link !== null && this.queuedCount === 0 && this.inflight.size < link.sendWindow) {
      this.sendNew(link, msg, qos, retain, subIds, publisher);
      return;
    }
    if (this.queuedCount >= this.policy.maxQueued) {
      this.drops.queueFull(this);
      return;
    }
    if (this.queue === NO_QUEUE) this.queue = [];
    this.queue.push({ msg, qos, retain, subIds });
    if (publisher !== null && link !== null && this.queuedCount >= this.policy.pauseAt) this.holdBack(publisher, link);
  }

  /** Makes `publisher` wait for this queue (see QueuePolicy). */
  private holdBack(publisher: PublisherPort, link: MqttLink): void {
    if (this.waiters.includes(publisher)) return;
    if (this.waiters === NO_WAITERS) this.waiters = [];
    this.waiters.push(publisher);
    publisher.blockedOn++;
    this.drainTimer ??= setTimeout(() => {
      this.drainTimer = null;
      if (this.link === link && this.queuedCount >= this.policy.pauseAt / 2) {
        link.dropSlow(`${this.queuedCount} QoS 1/2 messages unacknowledged for ${this.policy.drainTimeoutMs} ms`);
      }
      this.releaseWaiters();
    }, this.policy.drainTimeoutMs);
  }

  private releaseWaiters(): void {
    if (this.drainTimer !== null) clearTimeout(this.drainTimer);
    this.drainTimer = null;
    const waiters = this.waiters;
    if (waiters.length === 0) return;
    this.waiters = NO_WAITERS;
    for (const p of waiters) if (--p.blockedOn === 0) p.resume();
  }

  /** PUBACK (QoS 1) or PUBCOMP (QoS 2): the slot is free. False when the id was not in flight. */
  completed(packetId: number): boolean {
    if (!this.inflight.delete(packetId)) return false;
    this.drain();
    return true;
  }

  /** PUBREC: answer PUBREL; false when the id is unknown. `failed` (v5 reason ≥ 0x80) ends it. */
  received(packetId: number, failed: boolean): boolean {
    const f = this.inflight.get(packetId);
    if (f?.qos !== 2) return false;
    if (failed) return this.completed(packetId);
    f.released = true;
    this.link?.sendPubrel(packetId);
    return true;
  }

  get inboundQos2Count(): number {
    return this.qos2.size;
  }

  hasInboundQos2(packetId: number): boolean {
    return this.qos2.has(packetId);
  }

  addInboundQos2(packetId: number): void {
    if (this.qos2 === NO_IDS) this.qos2 = new Set();
    this.qos2.add(packetId);
  }

  /** PUBREL: false when the id was not pending. */
  releaseInboundQos2(packetId: number): boolean {
    return this.qos2.delete(packetId);
  }

  /** A new connection took the session: resend what is in flight, then drain the queue. */
  resume(link: MqttLink): void {
    this.link = link;
    const now = Date.now();
    for (const [id, f] of this.inflight) {
      if (f.released) link.sendPubrel(id);
      else if (!f.msg.expired(now)) link.sendPublish(f.msg, f.qos, f.retain, id, true, f.subIds, null);
      else this.inflight.delete(id);
    }
    this.drain();
  }

  /** Offline: nobody waits for this queue any more (new messages are queued or dropped). */
  detach(): void {
    this.link = null;
    this.releaseWaiters();
  }

  /** Forget everything queued (clean start, or the session ended). */
  clearState(): void {
    this.releaseWaiters();
    this.inflight = NO_INFLIGHT;
    this.queue = NO_QUEUE;
    this.queueHead = 0;
    this.qos2 = NO_IDS;
  }

  private drain(): void {
    const link = this.link;
    if (link === null) return;
    const now = Date.now();
    while (this.queueHead < this.queue.length && this.inflight.size < link.sendWindow) {
      const q = this.queue[this.queueHead] as Queued;
      this.queue[this.queueHead++] = undefined as unknown as Queued; // release for GC
      if (q.msg.expired(now)) this.drops.expired(this);
      else this.sendNew(link, q.msg, q.qos, q.retain, q.subIds, null);
    }
    if (this.waiters.length > 0 && this.queuedCount < this.policy.pauseAt / 2) this.releaseWaiters();
    if (this.queueHead === this.queue.length) {
      this.queue = NO_QUEUE;
      this.queueHead = 0;
    } else if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
      this.queue.splice(0, this.queueHead);
      this.queueHead = 0;
    }
  }

  private sendNew(link: MqttLink, msg: MqttMessage, qos: 1 | 2, retain: boolean, subIds: readonly number[] | null, publisher: PublisherPort | null): void {
    const id = this.allocatePacketId();
    if (this.inflight === NO_INFLIGHT) this.inflight = new Map();
    this.inflight.set(id, { msg, qos, retain, subIds, released: false });
    if (!link.sendPublish(msg, qos, retain, id, false, subIds, publisher)) this.inflight.delete(id);
  }

  /** Ids cycle 1…65535, skipping those still in flight (the window is far smaller). */
  private allocatePacketId(): number {
    let id = this.nextPacketId;
    while (this.inflight.has(id)) id = id === 65535 ? 1 : id + 1;
    this.nextPacketId = id === 65535 ? 1 : id + 1;
    return id;
  }
}
