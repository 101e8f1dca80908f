/**
 * Messages that arrive by cluster replication (PUBLISH_REPL stage 1 and 2, and the cluster
 * extension ops 12/13): delivered to the local PSRT subscribers with their original timestamp
 * and to local-delivery hooks (MQTT), never replicated or bridged onwards again.
 */
import { RESPONSE_ERR_ACCESS, RESPONSE_NOT_REQUIRED, RESPONSE_OK, RESPONSE_OK_WAITING } from '../protocol/constants.js';
import { parsePublishBody } from '../protocol/control.js';
import { encodeDataFrame } from '../protocol/encode.js';
import { escapeForLog } from '../protocol/log-escape.js';
import type { SubscriptionIndex } from '../topics/index.js';
import { Stamp, delivery, type Delivery, type FrameSlab } from './delivery.js';
import type { RepeatedLine } from './log-limiter.js';
import type { BrokerLogger, PublisherPort } from './ports.js';
import type { PublishHooks } from './publish-hooks.js';
import type { Session } from './session.js';

export interface IntakeParts {
  readonly index: SubscriptionIndex<Session>;
  readonly slab: FrameSlab;
  readonly hooks: PublishHooks;
  readonly log: BrokerLogger;
  /** `replication access deneid` lines (rate-limited). */
  readonly denied: RepeatedLine;
  /** The broker's enqueue (undeliverable counting, publisher backpressure). */
  readonly enqueue: (session: Session, d: Delivery, publisher: PublisherPort | null) => void;
}

export class ReplicationIntake {
  constructor(private readonly parts: IntakeParts) {}

  /**
   * PUBLISH_REPL stage 1: `FE` for a non-replicator, `E0` when nobody here is subscribed (PSRT
   * or MQTT), else `02` and the PSRT subscriber set to deliver stage 2 to.
   */
  topic(session: Session, topic: string): { status: number; targets: Session[] } {
    if (!session.acl.replicator) {
      if (this.parts.denied.admit()) this.parts.log.error(`replication access deneid for ${escapeForLog(topic)} to ${session.label}`);
      return { status: RESPONSE_ERR_ACCESS, targets: [] };
    }
    const targets: Session[] = [];
    this.parts.index.match(topic, targets);
    const wanted = targets.length > 0 || this.parts.hooks.localWants(topic);
    return { status: wanted ? RESPONSE_OK_WAITING : RESPONSE_NOT_REQUIRED, targets };
  }

  /** Cluster extension query (op 12): like stage 1 without a stage 2. */
  query(session: Session, topic: string): number {
    if (!session.acl.replicator) return RESPONSE_ERR_ACCESS;
    const { index, hooks } = this.parts;
    return index.hasMatch(topic) || hooks.localWants(topic) ? RESPONSE_OK_WAITING : RESPONSE_NOT_REQUIRED;
  }

  /**
   * Cluster extension publish (op 13): `topic 00 payload`, topic as received (like
   * PUBLISH_REPL: not normalised, never replicated again). Throws where the connection closes.
   */
  publish(session: Session, priority: number, timestampNs: bigint, body: Buffer, publisher: PublisherPort): number {
    if (!session.acl.replicator) return RESPONSE_ERR_ACCESS;
    const { index, slab, hooks, enqueue } = this.parts;
    const { topic, payloadOffset } = parsePublishBody(body);
    const targets: Session[] = [];
    index.match(topic, targets);
    const received = new Stamp(Number(timestampNs / 1000n));
    if (targets.length > 0) {
      const message = slab.fromBody(priority, body, 0, body.length, received, topic);
      for (const s of targets) enqueue(s, message, publisher);
    }
    if (hooks.size > 0) hooks.notifyLocal(priority, topic, body.subarray(payloadOffset), received.us, publisher);
    return RESPONSE_OK;
  }

  /** PUBLISH_REPL stage 2: delivered with the original timestamp, never replicated again. */
  body(targets: readonly Session[], topic: string, priority: number, timestampNs: bigint, payload: Buffer, publisher: PublisherPort): number {
    const { hooks, enqueue } = this.parts;
    const received = new Stamp(Number(timestampNs / 1000n));
    if (targets.length > 0) {
      const message = delivery(encodeDataFrame(priority, topic, payload), received, topic);
      for (const s of targets) enqueue(s, message, publisher);
    }
    if (hooks.size > 0) hooks.notifyLocal(priority, topic, payload, received.us, publisher);
    return RESPONSE_OK;
  }
}
