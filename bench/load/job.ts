/** Messages between the bench orchestrator (bench/run.ts) and its load workers (worker.ts). */

export type Proto = 'psrt' | 'mqtt';

export interface PubSpec {
  /** Unique per job; written into every payload. */
  readonly id: number;
  readonly topic: string;
  readonly payload: number;
  /** PSRT: requests awaiting their reply; MQTT: messages not yet seen by every subscriber. */
  readonly window: number;
  /** Messages per second; 0 = as fast as the window allows. */
  readonly rate: number;
  /** MQTT only: 1 publishes at QoS 1 and the window counts unacknowledged PUBLISHes. */
  readonly qos?: 0 | 1;
}

export interface SubSpec {
  readonly topics: readonly string[];
  /** Publisher ids whose every message this subscriber must receive. */
  readonly expectFrom: readonly number[];
  readonly payload: number;
  /** MQTT only: subscription QoS (1: every delivery is acknowledged with PUBACK). */
  readonly qos?: 0 | 1;
}

export interface LoadJob {
  readonly kind: 'load';
  /** The publishers' protocol (and the subscribers' unless subProto says otherwise). */
  readonly proto: Proto;
  /** Cross-protocol runs: the subscribers' protocol and port. */
  readonly subProto?: Proto;
  readonly subPort?: number;
  readonly port: number;
  readonly pubs: readonly PubSpec[];
  readonly subs: readonly SubSpec[];
  readonly warmupMs: number;
  readonly durationMs: number;
  /** Longest wait for in-flight messages after the publishers stop. */
  readonly drainMs: number;
  /** Record one-way latency of every message (paced runs only). */
  readonly latency: boolean;
}

export interface PopulateJob {
  readonly kind: 'populate';
  readonly port: number;
  readonly sessions: number;
  readonly subscriptions: number;
  readonly seed: number;
}

export type Job = LoadJob | PopulateJob;

export interface Latency {
  readonly count: number;
  readonly p50: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
}

export interface LoadResult {
  readonly kind: 'load';
  readonly windowMs: number;
  /** The measurement window in wall-clock epoch ms (to cut the broker's CPU samples). */
  readonly windowStartMs: number;
  readonly windowEndMs: number;
  /** Messages accepted (PSRT: acknowledged; MQTT: written) during the measurement window. */
  readonly publishedInWindow: number;
  readonly deliveredInWindow: number;
  readonly publishedTotal: number;
  readonly expected: number;
  readonly unique: number;
  readonly loss: number;
  readonly duplicates: number;
  readonly outOfOrder: number;
  readonly corrupt: number;
  /** The worker's own CPU use over the window, in % of one core (proof it was not saturated). */
  readonly cpuPct: number;
  /** Paced runs: sends that left more than 1 ms after their scheduled time. */
  readonly lateSends: number;
  readonly latencyUs: Latency | null;
  readonly errors: readonly string[];
}

export interface PopulateResult {
  readonly kind: 'populate';
  readonly connectMs: number;
  readonly subscribeMs: number;
  readonly subscriptions: number;
  readonly errors: readonly string[];
}

export type JobResult = LoadResult | PopulateResult;

/** Parent → worker after a populate result: close the sessions and exit. */
export interface CloseMessage {
  readonly kind: 'close';
}
