/**
 * Retained messages for a new subscription, paced by the subscriber's own queue. A filter may
 * match far more retained messages (up to `mqtt.retained_max_count`) than `server.data_queue`
 * holds: queued all at once they would make a client that reads normally look like a slow
 * consumer (disconnected before it could read the first one) and stall the event loop. The
 * pacer is a publisher like any other: congestion (queue full, or the session's QoS 1/2 queue
 * past its pause point) pauses it, and it goes on when the client has read. It never does more
 * than PER_TURN messages in one turn (a shedding or closed channel never congests).
 *
 * What it skips, checked per message:
 * - a message replaced or deleted since the set was taken (during a pause, or between the
 *   slices of a large SUBSCRIBE): the replacement, or the deleting publish, already reached the
 *   subscriber live, and the old value must not follow it; and one that expired meanwhile;
 * - the messages of a subscription that was removed (UNSUBSCRIBE), or for which a later
 *   SUBSCRIBE sent a set of its own (a repeated SUBSCRIBE must not get two sets at once).
 * A later SUBSCRIBE of the same filter that sends no set (v5 Retain Handling 2, or 1 for an
 * existing subscription) replaces the subscription's options (MQTT 5 §3.8.4): the rest of the
 * set goes on, at the new maximum QoS and with the new subscription identifier, both read from
 * the subscription per message. Not stopped: the earlier SUBSCRIBE asked for these messages,
 * and Mosquitto, which queues a whole set at once, delivers all of it.
 * It stops when the session ends. While a persistent session is away it waits (parked, not
 * filling the session's offline queue with old values) and goes on over its next connection.
 */
import { stampNow, type PublisherPort, type Stamp } from '../broker/index.js';
import type { MqttMessage, QoS } from './message.js';
import type { MqttSession } from './session.js';
import type { SubscriptionEntry } from './subscription.js';

export interface RetainedDelivery {
  readonly msg: MqttMessage;
  /** The subscription the message is for; its current options give the QoS and identifier. */
  readonly entry: SubscriptionEntry<MqttSession>;
}

/** The retained store's side (the router): what is still retained, and the delivery count. */
export interface RetainedSource {
  /** Whether a message from the retained store is still its topic's retained message. */
  stillRetained(msg: MqttMessage): boolean;
  /** Retained messages handed to a session count as deliveries, like live ones. */
  readonly counters: { delivered: number };
}

/** Messages handed on per turn at most (about a millisecond of encoding). */
const PER_TURN = 512;

/**
 * The pacer whose set a subscription currently gets (the newest SUBSCRIBE that sent one). A
 * WeakMap, not a field: only subscriptions with a set in progress pay for it.
 */
const currentSet = new WeakMap<SubscriptionEntry<MqttSession>, RetainedPacer>();
/** Pacers waiting for their session's next connection. */
const parked = new WeakMap<MqttSession, RetainedPacer[]>();

class RetainedPacer implements PublisherPort {
  blockedOn = 0;
  private next = 0;
  /** The identifier list last handed on, reused while the identifier stays the same. */
  private subId = 0;
  private subIds: readonly number[] | null = null;

  constructor(
    private readonly session: MqttSession,
    private readonly items: readonly RetainedDelivery[],
    private readonly source: RetainedSource,
  ) {
    for (const r of items) currentSet.set(r.entry, this);
  }

  run(): void {
    const { items, session } = this;
    const now = Date.now();
    const stamp = stampNow(); // latency of these deliveries counts from now (see restamped)
    let budget = PER_TURN;
    while (this.next < items.length && this.blockedOn === 0 && !session.ended) {
      if (session.link === null) {
        this.park();
        return;
      }
      if (budget-- === 0) {
        this.resume();
        return;
      }
      const r = items[this.next++] as RetainedDelivery;
      if (this.wanted(r, now)) this.deliver(r, stamp);
    }
    if (this.next >= items.length) this.done();
  }

  private deliver(r: RetainedDelivery, stamp: Stamp): void {
    const options = r.entry.options;
    if (options.identifier !== this.subId) {
      this.subId = options.identifier;
      this.subIds = options.identifier === 0 ? null : [options.identifier];
    }
    const qos = Math.min(r.msg.qos, options.qos) as QoS;
    this.session.deliver(r.msg.restamped(stamp), qos, true, this.subIds, this);
    this.source.counters.delivered++;
  }

  private wanted(r: RetainedDelivery, now: number): boolean {
    const entry = r.entry;
    return (
      currentSet.get(entry) === this &&
      this.session.subscriptions.get(entry.key) === entry &&
      !r.msg.expired(now) &&
      this.source.stillRetained(r.msg)
    );
  }

  private park(): void {
    const list = parked.get(this.session);
    if (list === undefined) parked.set(this.session, [this]);
    else if (!list.includes(this)) list.push(this);
  }

  private done(): void {
    for (const r of this.items) if (currentSet.get(r.entry) === this) currentSet.delete(r.entry);
  }

  /** Called from the queue's write path (or for the next slice): go on in a turn of our own. */
  resume(): void {
    setImmediate(() => {
      this.run();
    });
  }
}

export function deliverRetained(session: MqttSession, items: readonly RetainedDelivery[], source: RetainedSource): void {
  if (items.length === 0 || session.link === null) return;
  new RetainedPacer(session, items, source).run();
}

/** The session has a connection again: its parked pacers go on (in a later turn, after the resends). */
export function resumeRetained(session: MqttSession): void {
  const list = parked.get(session);
  if (list === undefined) return;
  parked.delete(session);
  for (const p of list) p.resume();
}
