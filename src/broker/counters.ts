/**
 * The reference's statistics counters (SERVER.md §12). Doubles are exact up to 2^53, which a
 * counter incremented a million times per second reaches after ~285 years; the stats page
 * treats them as cyclic anyway.
 */
export class Counters {
  subOps = 0;
  pubMessages = 0;
  pubBytes = 0;
  sentMessages = 0;
  sentBytes = 0;
  sentLatency = 0;
  /** Data sockets dropped because their queue stayed full (our addition, for /metrics). */
  droppedDataChannels = 0;
  /** Of those, dropped because they held their publishers back too long while reading slowly. */
  droppedSlowChannels = 0;
  /** Messages not queued for a slow subscriber (slow_consumer: drop). */
  droppedSlowMessages = 0;
  /** Logins refused (our addition). */
  rejectedLogins = 0;
  /** Messages delivered to no one because a subscriber had no data socket (our addition). */
  undeliverable = 0;
}

export type CountersView = Readonly<Counters>;
