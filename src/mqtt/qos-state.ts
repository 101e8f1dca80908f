/**
 * The QoS 1/2 state of an MQTT session (src/mqtt/session.ts): deliveries in flight and queued,
 * inbound QoS 2 packet ids, and the publishers waiting for the queue to drain.
 */
import type { PublisherPort } from '../broker/ports.js';
import type { MqttMessage } from './message.js';
import { PacketIdSet } from './packet-id-set.js';

/**
 * When a connected session's queue of QoS 1/2 deliveries grows past `pauseAt` (or half of
 * `maxQueuedBytes`), the publishers
 * feeding it wait (as for a congested PSRT data socket) until it is back under half; if it does
 * not get there within `drainTimeoutMs`, the connection is dropped and the session, now offline,
 * keeps what fits its queue. So a client that stops acknowledging costs publishers at most the
 * drain timeout, and a brief burst loses nothing.
 */
export interface QueuePolicy {
  readonly maxQueued: number;
  /** Bytes of queued messages (see MqttMessage.footprint); 0: no limit. */
  readonly maxQueuedBytes: number;
  readonly pauseAt: number;
  readonly drainTimeoutMs: number;
}

export interface InFlight {
  readonly msg: MqttMessage;
  readonly qos: 1 | 2;
  readonly retain: boolean;
  readonly subIds: readonly number[] | null;
  /** PUBREC received (QoS 2): PUBREL sent, waiting for PUBCOMP. */
  released: boolean;
  /** To resend after a reconnect once the client's window has room (see resume()). */
  unsent: boolean;
}

/** Only QoS 1/2 deliveries wait (QoS 0 goes out at once or not at all). */
export interface Queued {
  readonly msg: MqttMessage;
  readonly qos: 1 | 2;
  readonly retain: boolean;
  readonly subIds: readonly number[] | null;
}

/**
 * The empty containers of every QoS state, shared and never written to (each is replaced by
 * an own one at its first entry).
 */
export const NO_INFLIGHT = new Map<number, InFlight>();
export const NO_QUEUE: Queued[] = [];
export const NO_WAITERS: PublisherPort[] = [];

/**
 * A session's QoS 1/2 state, made at its first QoS 1/2 delivery or QoS 2 publish: most sensors
 * only ever use QoS 0, and these seven fields would cost each of them 56 bytes.
 */
export class QosState {
  /** QoS 2 packet ids received and acknowledged with PUBREC, not yet released (PUBREL). */
  qos2: PacketIdSet | null = null;
  inflight: Map<number, InFlight> = NO_INFLIGHT;
  queue: Queued[] = NO_QUEUE;
  queueHead = 0;
  /** Footprint of the queued messages (queue[queueHead…]). */
  queuedBytes = 0;
  nextPacketId = 1;
  /** In-flight entries marked `unsent`: a resumed window smaller than what was in flight. */
  unsent = 0;
  waiters: PublisherPort[] = NO_WAITERS;
  drainTimer: NodeJS.Timeout | null = null;

  get queuedCount(): number {
    return this.queue.length - this.queueHead;
  }
}

/**
 * How full the queue is against the publisher pause, by count (`pauseAt`) or by bytes (half of
 * `maxQueuedBytes`), whichever is fuller: publishers wait at 1 and go on below 0.5, so a burst
 * of large messages pauses them before `max_queued_bytes` drops any.
 */
export function pressure(q: QosState, policy: QueuePolicy): number {
  const byCount = q.queuedCount / policy.pauseAt;
  return policy.maxQueuedBytes > 0 ? Math.max(byCount, q.queuedBytes / (policy.maxQueuedBytes / 2)) : byCount;
}

/** Ids cycle 1…65535, skipping those still in flight (the window is far smaller). */
export function allocatePacketId(q: QosState): number {
  let id = q.nextPacketId;
  while (q.inflight.has(id)) id = id === 65535 ? 1 : id + 1;
  q.nextPacketId = id === 65535 ? 1 : id + 1;
  return id;
}
