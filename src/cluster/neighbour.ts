/**
 * Replication to one neighbour node (our design, SERVER.md §16.5): a FIFO bounded by
 * data_queue that never blocks local publishers (overflow drops and counts), reconnect with
 * back-off, and the node states of /status.cluster:
 *
 *   waiting     — no message needed replicating yet (nothing was attempted)
 *   connecting  — a connection attempt is in progress
 *   online      — logged in; messages flow
 *   offline     — the neighbour is unreachable or the connection broke; retrying with back-off
 *   unavailable — reachable but refuses us (login failed, or the user is not a replicator);
 *                 retrying with back-off, since the neighbour's files may be fixed and reloaded
 *
 * Transfer: with a psrt-node neighbour (detected by a probe), interest queries and replicated
 * publishes are pipelined on one link; with any other server, PUBLISH_REPL's two-step exchange
 * runs on `links` connections in parallel, each topic pinned to one link to keep its order.
 */
import type { BrokerLogger } from '../broker/ports.js';
import {
  RESPONSE_ERR_ACCESS,
  RESPONSE_NOT_REQUIRED,
  RESPONSE_OK,
  RESPONSE_OK_WAITING,
} from '../protocol/constants.js';
import {
  encodeReplBody,
  encodeReplTopic,
  encodeXReplPublish,
  encodeXReplQuery,
} from '../protocol/encode.js';
import { ErrorCode, PsrtError, isPsrtError } from '../protocol/errors.js';
import type { NeighbourConfig } from './cluster-config.js';
import { openLink, REPLIES_TIMED_OUT, type ReplicationLink } from './link.js';

export type NodeState = 'waiting' | 'connecting' | 'online' | 'offline' | 'unavailable';

export interface ReplMessage {
  readonly priority: number;
  readonly topic: string;
  readonly payload: Buffer;
  readonly timestampNs: bigint;
}

export interface NeighbourStats {
  sent: number;
  notRequired: number;
  dropped: number;
  lost: number;
}

const PIPELINE_WINDOW = 4096;
/**
 * Payload bytes the pipeline may have taken off the queue and not yet settled. Without it a
 * neighbour that reads slowly let up to PIPELINE_WINDOW bodies pile up in the socket's write
 * buffer (4 GiB of 1 MB messages) on top of the bounded queue.
 */
const MAX_IN_FLIGHT_BYTES = 8 * 1024 * 1024;

/** The per-neighbour queue bounds: `server.data_queue` messages and `server.data_queue_bytes` bytes. */
export interface QueueLimits {
  readonly messages: number;
  readonly bytes: number;
}
const BACKOFF_MIN_MS = 250;
const BACKOFF_MAX_MS = 30_000;

export class Neighbour {
  state: NodeState = 'waiting';
  readonly stats: NeighbourStats = { sent: 0, notRequired: 0, dropped: 0, lost: 0 };
  private queue: ReplMessage[] = [];
  private head = 0;
  /** Messages accepted and not yet written: in `queue` or staged on a classic link's queue. */
  private pending = 0;
  private pendingBytes = 0;
  private inFlightBytes = 0;
  /** Undefined until probed: true = psrt-node extensions, false = PUBLISH_REPL only. */
  private pipelined: boolean | undefined = undefined;
  private links: ReplicationLink[] = [];
  private readonly classicQueues: ReplMessage[][] = [];
  private readonly classicBusy: boolean[] = [];
  private backoffMs = BACKOFF_MIN_MS;
  private retryTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  /**
   * The failure last logged. connect() sets `connecting` before every retry, so checking the
   * state did not keep a neighbour that stays down from logging on every attempt.
   */
  private lastProblem: string | null = null;
  /**
   * Set by a refusal, cleared when the neighbour takes a message or answers the probe. A link
   * that logs in proves nothing (a PUBLISH_REPL link learns of a refusal from its first message):
   * resetting the back-off there retried every 250 ms, logging and logging in `links` times each.
   */
  private refusing = false;

  constructor(
    readonly config: NeighbourConfig,
    private readonly limits: QueueLimits,
    private readonly timeoutMs: number,
    private readonly log: BrokerLogger,
  ) {}

  get queued(): number {
    return this.pending;
  }

  /**
   * Never blocks: a full queue (messages or bytes) drops the message and counts it. One message
   * is always accepted into an empty queue, so a message larger than the byte bound still goes.
   */
  offer(message: ReplMessage): void {
    if (this.stopped) return;
    const size = message.payload.length;
    const full = this.pending > 0 && this.pendingBytes + size > this.limits.bytes;
    if (full || this.pending >= this.limits.messages) {
      this.stats.dropped++;
      return;
    }
    this.queue.push(message);
    this.pending++;
    this.pendingBytes += size;
    if (this.state === 'waiting') void this.connect();
    else if (this.state === 'online') this.pump();
  }

  stop(): void {
    this.stopped = true;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    for (const l of this.links) l.close();
    this.links = [];
  }

  /** A method so TS does not narrow `stopped` across awaits (stop() may run meanwhile). */
  private isStopped(): boolean {
    return this.stopped;
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    this.state = 'connecting';
    try {
      // Probed again after a refusal: a psrt-node node closes the probe of a non-replicator like
      // the reference does, so "PUBLISH_REPL only" may have meant "not a replicator yet".
      if (this.pipelined === undefined || this.refusing) this.pipelined = await this.probe();
      const count = this.pipelined ? 1 : this.config.links;
      const links = await Promise.all(Array.from({ length: count }, () => openLink(this.config, this.timeoutMs)));
      if (this.isStopped()) {
        for (const l of links) l.close();
        return;
      }
      this.online(links);
    } catch (e) {
      this.failed(e);
    }
  }

  /**
   * A reference server closes the connection on op 12; a psrt-node node answers it. Only those
   * two definite answers are remembered: a probe left unanswered for T says nothing about the
   * neighbour's kind, so it fails this attempt (offline, like any unanswered request) and the
   * next connection probes again, instead of pinning a slow psrt-node neighbour to PUBLISH_REPL.
   */
  private async probe(): Promise<boolean> {
    const link = await openLink(this.config, this.timeoutMs);
    const answer = await new Promise<number | string>((resolve) => {
      link.onClose = resolve;
      link.send(encodeXReplQuery(''), resolve);
    });
    link.onClose = null;
    link.close();
    if (answer === REPLIES_TIMED_OUT) {
      throw new PsrtError(ErrorCode.Timeout, 'timed out waiting for the answer to the replication probe');
    }
    const pipelined = typeof answer === 'number';
    if (pipelined !== this.pipelined) {
      this.log.info(
        `cluster: ${this.config.path} ${pipelined ? 'supports pipelined replication' : `speaks PUBLISH_REPL only: using ${this.config.links} links`}`,
      );
    }
    if (answer === RESPONSE_ERR_ACCESS) {
      // failed() makes it unavailable and retries; going on brought the links online under a
      // pending retry. Not remembered, so each retry asks again before any link comes up.
      throw new PsrtError(ErrorCode.LoginFailed, 'the user is not a replicator');
    }
    if (pipelined) this.accepted();
    return pipelined;
  }

  private online(links: ReplicationLink[]): void {
    this.links = links;
    // The old link's in-flight messages were counted lost; their replies never come.
    this.inFlightBytes = 0;
    this.classicQueues.length = 0;
    this.classicBusy.length = 0;
    for (const link of links) {
      this.classicQueues.push([]);
      this.classicBusy.push(false);
      link.onClose = (reason) => {
        this.linkLost(reason);
      };
    }
    this.state = 'online';
    if (!this.refusing) this.accepted();
    this.log.info(`cluster: ${this.config.path} online`);
    this.restampWaiting();
    this.pump();
  }

  /**
   * Messages queued while the link was coming up (connect, probe, login — a bcrypt check on the
   * neighbour) leave with the time the link came up instead of their publish time. The timestamp
   * only feeds the neighbour's latency statistics and warnings (subscribers never see it), and
   * the link's start-up is not message latency: without this the first message after every
   * link start logged a high-latency warning. Runs once per link start, not per message sent.
   */
  private restampWaiting(): void {
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    for (let i = this.head; i < this.queue.length; i++) {
      const m = this.queue[i];
      if (m !== undefined && m.timestampNs < nowNs) this.queue[i] = { ...m, timestampNs: nowNs };
    }
  }

  private pump(): void {
    if (this.pipelined === true) this.pumpPipelined();
    else this.pumpClassic();
  }

  private take(): ReplMessage | undefined {
    const m = this.queue[this.head];
    if (m === undefined) return undefined;
    this.head++;
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 4096 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    return m;
  }

  private pumpPipelined(): void {
    const link = this.links[0];
    if (link === undefined) return;
    while (link.inFlight < PIPELINE_WINDOW && this.inFlightBytes < MAX_IN_FLIGHT_BYTES) {
      const m = this.take();
      if (m === undefined) return;
      const size = m.payload.length;
      this.released(m);
      this.inFlightBytes += size;
      link.send(encodeXReplQuery(m.topic), (code) => {
        if (code === RESPONSE_OK_WAITING) {
          link.send(encodeXReplPublish(m.priority, m.timestampNs, m.topic, m.payload), (c) => {
            this.inFlightBytes -= size;
            this.settled(c);
            this.pump();
          });
        } else {
          this.inFlightBytes -= size;
          this.settled(code);
        }
        this.pump();
      });
    }
  }

  private pumpClassic(): void {
    for (let m = this.take(); m !== undefined; m = this.take()) {
      const i = hashTopic(m.topic) % this.links.length;
      this.classicQueues[i]?.push(m);
    }
    this.links.forEach((_, i) => {
      this.nextClassic(i);
    });
  }

  /** One PUBLISH_REPL exchange at a time per link: stage 1, and stage 2 only after `02`. */
  private nextClassic(i: number): void {
    const link = this.links[i];
    const q = this.classicQueues[i];
    if (link === undefined || q === undefined || this.classicBusy[i] === true) return;
    const m = q.shift();
    if (m === undefined) return;
    this.released(m);
    this.classicBusy[i] = true;
    const done = (code: number): void => {
      this.classicBusy[i] = false;
      this.settled(code);
      this.nextClassic(i);
    };
    link.send(encodeReplTopic(m.topic), (code) => {
      if (code !== RESPONSE_OK_WAITING) {
        done(code);
        return;
      }
      link.send(encodeReplBody(m.priority, m.timestampNs, m.payload), done);
    });
  }

  /** A message leaves the bounded queue (it is being written, or it was lost). */
  private released(m: ReplMessage): void {
    this.pending--;
    this.pendingBytes -= m.payload.length;
  }

  private settled(code: number): void {
    if (code === RESPONSE_OK) this.stats.sent++;
    else if (code === RESPONSE_NOT_REQUIRED) this.stats.notRequired++;
    else {
      // Lost whatever the reason: a refused message (FE) is counted too, not only dropped with the links.
      this.stats.lost++;
      if (code === RESPONSE_ERR_ACCESS) this.refused('the user is not a replicator');
      return;
    }
    if (this.refusing) this.accepted();
  }

  /** The neighbour works with us: retries start at the shortest back-off, problems are logged anew. */
  private accepted(): void {
    this.refusing = false;
    this.backoffMs = BACKOFF_MIN_MS;
    this.lastProblem = null;
  }

  private refused(why: string): void {
    this.refusing = true;
    const text = `cluster: ${this.config.path} refuses replication: ${why}`;
    if (text !== this.lastProblem) this.log.error(text);
    this.lastProblem = text;
    this.state = 'unavailable';
    this.dropLinks();
    this.scheduleRetry();
  }

  private linkLost(reason: string): void {
    if (this.stopped || this.state !== 'online') return;
    this.log.warn(`cluster: ${this.config.path} link lost (${reason}); reconnecting`);
    this.state = 'offline';
    this.dropLinks();
    this.scheduleRetry();
  }

  private failed(e: unknown): void {
    const login = isPsrtError(e) && e.code === ErrorCode.LoginFailed;
    const msg = e instanceof Error ? e.message : String(e);
    if (login) {
      this.refused(msg);
      return;
    }
    const text = `cluster: ${this.config.path} offline: ${msg}`;
    if (text !== this.lastProblem) this.log.warn(text);
    this.lastProblem = text;
    this.state = 'offline';
    this.scheduleRetry();
  }

  private dropLinks(): void {
    const links = this.links;
    this.links = [];
    // Every link's unanswered requests and staged messages are lost, not only the broken link's.
    for (const l of links) {
      this.stats.lost += l.messagesInFlight;
      l.onClose = null;
      l.close();
    }
    for (const q of this.classicQueues) {
      this.stats.lost += q.length;
      for (const m of q) this.released(m);
      q.length = 0;
    }
  }

  private scheduleRetry(): void {
    if (this.stopped || this.retryTimer !== null) return;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(BACKOFF_MAX_MS, this.backoffMs * 2);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.connect();
    }, delay);
  }
}

/** FNV-1a: cheap and stable, so each topic always uses the same link. */
function hashTopic(topic: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < topic.length; i++) {
    h ^= topic.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
