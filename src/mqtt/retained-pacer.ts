/**
 * Retained messages for a new subscription, paced by the subscriber's own queue. A filter may
 * match far more retained messages (up to `mqtt.retained_max_count`) than `server.data_queue`
 * holds: queued all at once they would make a client that reads normally look like a slow
 * consumer (disconnected before it could read the first one) and stall the event loop. The
 * pacer is a publisher like any other: congestion (queue full, or half of
 * `max_queued_messages` unacknowledged) pauses it, and it goes on when the client has read.
 * It skips a message replaced or deleted since the set was taken (during a pause, or between
 * the slices of a large SUBSCRIBE): the replacement (or the deleting publish) already reached
 * the subscriber live, and the old value must not follow it.
 */
import type { PublisherPort } from '../broker/index.js';
import type { MqttMessage, QoS } from './message.js';
import type { MqttLink, MqttSession } from './session.js';

export interface RetainedDelivery {
  readonly msg: MqttMessage;
  readonly qos: QoS;
}

/** Whether a message from the retained store is still its topic's retained message. */
export type StillRetained = (msg: MqttMessage) => boolean;

class RetainedPacer implements PublisherPort {
  blockedOn = 0;
  private next = 0;

  constructor(
    private readonly session: MqttSession,
    private readonly link: MqttLink,
    private readonly items: readonly RetainedDelivery[],
    private readonly subIds: readonly number[] | null,
    private readonly stillRetained: StillRetained,
  ) {}

  run(): void {
    const { items, session } = this;
    while (this.next < items.length && this.blockedOn === 0) {
      // The connection ended or was taken over: a new subscription gets its own retained set.
      if (session.link !== this.link) return;
      const r = items[this.next++] as RetainedDelivery;
      if (!this.stillRetained(r.msg)) continue;
      session.deliver(r.msg, r.qos, true, this.subIds, this);
    }
  }

  /** Called from the queue's write path: go on in a turn of our own. */
  resume(): void {
    setImmediate(() => {
      this.run();
    });
  }
}

export function deliverRetained(session: MqttSession, items: readonly RetainedDelivery[], subIds: readonly number[] | null, stillRetained: StillRetained): void {
  const link = session.link;
  if (items.length === 0 || link === null) return;
  new RetainedPacer(session, link, items, subIds, stillRetained).run();
}
