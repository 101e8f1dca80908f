/** The broker's options and its read-only view for the stats edges. */
import type { Counters } from './counters.js';
import type { DataChannelOptions, SlowConsumerAction } from './data-channel.js';
import type { TopicStat } from './topic-table.js';

export interface BrokerOptions {
  readonly maxTopicDepth: number;
  readonly dataQueue: number;
  readonly dataQueueBytes: number;
  readonly drainTimeoutMs: number;
  /** Slow-reader policy (DataChannelOptions); absent: defaults there. */
  readonly slowWindowMs?: number;
  readonly slowMaxHold?: number;
  readonly slowAction?: SlowConsumerAction;
  /** Topic-name bytes kept in the topic table (with its 10,000-topic cap). */
  readonly topicTableBytes?: number;
  /** Subscriptions per session; topics per SUBSCRIBE/UNSUBSCRIBE request. */
  readonly maxSubscriptions?: number;
  /** Characters of all subscriptions of one session (bounds a session's share of the index). */
  readonly maxSubscriptionBytes?: number;
  readonly maxTopicsPerRequest?: number;
  readonly latencyWarnUs: number;
  /** Floor of the data-socket ping interval (a timeout byte of 0 would mean 0 ms). */
  readonly pingFloorMs: number;
}

export const DEFAULT_SLOW_WINDOW_MS = 5000;
export const DEFAULT_SLOW_MAX_HOLD = 0.5;
export const DEFAULT_MAX_SUBSCRIPTIONS = 100_000;
export const DEFAULT_MAX_SUBSCRIPTION_BYTES = 64 * 1024 * 1024;

/** Read-only view for stats edges (HTTP, metrics). */
export interface BrokerStats {
  readonly counters: Readonly<Counters>;
  readonly clientCount: number;
  readonly subscriptionCount: number;
  readonly dataChannelCount: number;
  /** Queue depth of every attached data channel (for queue-depth summaries). */
  queueDepths(): number[];
  /** Busiest published topics since they entered the bounded topic table. */
  topTopics(limit: number, by: 'messages' | 'bytes'): TopicStat[];
}


/** The options every PSRT data channel of a broker shares. */
export function channelOptionsOf(opts: BrokerOptions): DataChannelOptions {
  return {
    queueLimit: opts.dataQueue,
    byteLimit: opts.dataQueueBytes,
    drainTimeoutMs: opts.drainTimeoutMs,
    slowWindowMs: opts.slowWindowMs ?? DEFAULT_SLOW_WINDOW_MS,
    slowMaxHold: opts.slowMaxHold ?? DEFAULT_SLOW_MAX_HOLD,
    slowAction: opts.slowAction ?? 'disconnect',
    latencyWarnUs: opts.latencyWarnUs,
  };
}
