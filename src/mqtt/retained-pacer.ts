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
 *   subscriber live, and the old value must not follow it;
 * - the messages of a subscription that was removed (UNSUBSCRIBE) or subscribed again with
 *   other options (that SUBSCRIBE sends its own set).
 * It stops when the session ends. A persistent session that loses its connection meanwhile gets
 * the rest as any message while it is away (QoS 1/2 queued, QoS 0 not), and over its next
 * connection once it is back.
 */
import type { PublisherPort } from '../broker/index.js';
import type { MqttMessage, QoS } from './message.js';
import type { MqttSession } from './session.js';
import type { SubscriptionEntry, SubscriptionOptions } from './subscription.js';

export interface RetainedDelivery {
  readonly msg: MqttMessage;
  readonly qos: QoS;
  /** The subscription the message is for, and its options when the set was taken. */
  readonly entry: SubscriptionEntry<MqttSession>;
  readonly options: SubscriptionOptions;
}

/** Whether a message from the retained store is still its topic's retained message. */
export type StillRetained = (msg: MqttMessage) => boolean;

/** Messages handed on per turn at most (about a millisecond of encoding). */
const PER_TURN = 512;

class RetainedPacer implements PublisherPort {
  blockedOn = 0;
  private next = 0;

  constructor(
    private readonly session: MqttSession,
    private readonly items: readonly RetainedDelivery[],
    private readonly subIds: readonly number[] | null,
    private readonly stillRetained: StillRetained,
  ) {}

  run(): void {
    const { items, session } = this;
    let budget = PER_TURN;
    while (this.next < items.length && this.blockedOn === 0 && !session.ended) {
      if (budget-- === 0) {
        this.resume();
        return;
      }
      const r = items[this.next++] as RetainedDelivery;
      if (!this.wanted(r)) continue;
      session.deliver(r.msg, r.qos, true, this.subIds, this);
    }
  }

  private wanted(r: RetainedDelivery): boolean {
    const entry = r.entry;
    return this.session.subscriptions.get(entry.key) === entry && entry.options === r.options && this.stillRetained(r.msg);
  }

  /** Called from the queue's write path (or for the next slice): go on in a turn of our own. */
  resume(): void {
    setImmediate(() => {
      this.run();
    });
  }
}

export function deliverRetained(session: MqttSession, items: readonly RetainedDelivery[], subIds: readonly number[] | null, stillRetained: StillRetained): void {
  if (items.length === 0 || session.link === null) return;
  new RetainedPacer(session, items, subIds, stillRetained).run();
}
