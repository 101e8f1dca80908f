/**
 * What every bridge shares, whatever the engine: its state, its counters, the bounded buffer
 * that holds exports while the upstream is away (sent in order when it returns), the topic
 * prefixes on both sides, and the import path into the broker.
 */
import type { BrokerLogger, MessageMeta } from '../broker/ports.js';
import { hasWildcardChar, normalizeTopic, topicDepth } from '../topics/index.js';
import { BoundedBuffer, type Buffered, type OutMessage } from './buffer.js';
import type { BridgeConfig } from './config.js';

export type BridgeState = 'connecting' | 'online' | 'offline' | 'stopped';

/**
 * What send() did with one message: handed over, not now (buffer it, keep order), or never
 * (the upstream can never take it, e.g. too large: counted as unmappable by send, not buffered
 * and not counted as exported).
 */
export type SendOutcome = 'sent' | 'later' | 'refused';

/** Counters of one bridge; rates are computed by whoever polls them. */
export interface BridgeCounters {
  /** Messages handed to the upstream (sent now or from the buffer). */
  exported: number;
  exportedBytes: number;
  /** Messages taken from the upstream into the broker. */
  imported: number;
  importedBytes: number;
  /** Exports dropped because the buffer was full (oldest first). */
  dropped: number;
  /**
   * Topics or subjects that could not be mapped, and imports matching no current `in` mask (a
   * subscription a persistent MQTT session kept), per message.
   */
  unmappable: number;
  /** Imports that carried this node's own origin (a loop through another path), discarded. */
  echoes: number;
  /** Connections (re-)established. */
  connects: number;
}

/** The read-only view the stats page, /status and /metrics get. */
export interface BridgeStatus {
  readonly name: string;
  readonly type: string;
  readonly state: BridgeState;
  /** The server currently (or last) connected to; '' before the first connection. */
  readonly server: string;
  readonly buffered: number;
  readonly bufferedBytes: number;
  readonly counters: Readonly<BridgeCounters>;
}

/** How a bridge hands imported messages to the broker (the manager's publishExternal call). */
export type ImportSink = (priority: number, topic: string, payload: Buffer, qos: 0 | 1 | 2, meta: MessageMeta | null) => void;

/** Names of topics already reported as unmappable; bounded so a flood cannot grow it. */
const MAX_REPORTED = 1000;

export abstract class Bridge {
  state: BridgeState = 'connecting';
  server = '';
  readonly counters: BridgeCounters = {
    exported: 0, exportedBytes: 0, imported: 0, importedBytes: 0, dropped: 0, unmappable: 0, echoes: 0, connects: 0,
  };
  protected readonly buffer: BoundedBuffer;
  /**
   * What becomes of the exports still waiting when this bridge stops, for the log lines of the
   * stop: `saved in <file>` (shutdown with `mqtt.persistence_file`), `handed to the new bridge`
   * (replaced at a reload); null: they are dropped. Set by the manager before stop().
   */
  keptIn: string | null = null;
  private readonly reported = new Set<string>();
  /** Why the last connection attempt failed ('' once connected), so a retry is not logged again. */
  private lastFailure = '';

  constructor(
    readonly config: BridgeConfig,
    protected readonly nodeId: string,
    protected readonly log: BrokerLogger,
    private readonly sink: ImportSink,
    private readonly maxTopicDepth: number,
  ) {
    this.buffer = new BoundedBuffer(config.bufferMessages, config.bufferBytes);
  }

  abstract start(): void;
  abstract stop(): Promise<void>;
  /**
   * Called before start() when this bridge replaces `previous` (a reload changed its settings),
   * so that it can clean up what its predecessor left on the upstream (a NATS bridge leaves nothing).
   */
  succeed?(previous: Bridge): void;

  /** The remote name (subject or topic) of a remote topic, or why it has none. */
  abstract remoteName(remoteTopic: string): string | null;
  /** Hands one message to the connected upstream. */
  protected abstract send(remote: string, m: OutMessage): SendOutcome;

  /** The remote name of a local topic when this bridge exports it (masks already checked). */
  route(localTopic: string): string | null {
    const { localPrefix, remotePrefix } = this.config;
    if (!localTopic.startsWith(localPrefix)) return null;
    const remote = this.remoteName(remotePrefix + localTopic.slice(localPrefix.length));
    if (remote === null) this.unmappable(localTopic, 'local topic');
    return remote;
  }

  /** One export: sent now when online and nothing older waits, else buffered. */
  offer(remote: string, m: OutMessage): void {
    if (this.state === 'online' && this.buffer.length === 0) {
      const outcome = this.send(remote, m);
      if (outcome === 'sent') this.counted(m);
      if (outcome !== 'later') return;
    }
    this.buffer.push({ remote, m });
    this.counters.dropped = this.buffer.dropped;
  }

  /** Exports older than everything buffered, first in line (see BoundedBuffer.prepend). */
  requeueFirst(entries: readonly Buffered[]): void {
    this.buffer.prepend(entries);
    this.counters.dropped = this.buffer.dropped;
  }

  /** Empties the buffer, oldest first (a restarted bridge hands it to its successor). */
  takeBuffered(): Buffered[] {
    const all: Buffered[] = [];
    for (let e = this.buffer.shift(); e !== undefined; e = this.buffer.shift()) all.push(e);
    return all;
  }

  /** Moves whenever what waits to be sent changes (a save looks at it). */
  get waitingChanges(): number {
    return this.buffer.changes;
  }

  /** What waits to be sent, oldest first, left in place (an autosave takes a copy). */
  waiting(): OutMessage[] {
    return this.buffer.messages();
  }

  /**
   * After stop(): every export not handed over for good, oldest first (an MQTT bridge adds its
   * QoS 1 exports the upstream did not acknowledge); the bridge keeps none of them.
   */
  takeWaiting(): OutMessage[] {
    return this.takeBuffered().map((e) => e.m);
  }

  /** Sends what was buffered, in order; stops early when the upstream goes away again. */
  protected flush(): void {
    while (this.state === 'online') {
      const entry = this.buffer.shift();
      if (entry === undefined) return;
      const outcome = this.send(entry.remote, entry.m);
      if (outcome === 'later') {
        this.buffer.unshift(entry); // the connection broke mid-flush: keep it first
        return;
      }
      if (outcome === 'sent') this.counted(entry.m);
    }
  }

  private counted(m: OutMessage): void {
    this.counters.exported++;
    this.counters.exportedBytes += m.payload.length;
  }

  /** Counts one unmappable message; the topic is logged the first time only. */
  unmappable(name: string, what: string): void {
    this.counters.unmappable++;
    if (this.reported.has(name) || this.reported.size >= MAX_REPORTED) return;
    this.reported.add(name);
    this.log.warn(`bridge ${this.config.name}: ${what} ${JSON.stringify(name)} cannot be mapped, not bridged`);
  }

  /**
   * One message from the upstream: `remoteTopic` in MQTT form. Outside the remote prefix,
   * invalid as a PSRT topic, or too deep: counted as unmappable.
   */
  protected importMessage(remoteTopic: string, payload: Buffer, priority: number, qos: 0 | 1 | 2, meta: MessageMeta | null): void {
    const topic = this.localTopic(remoteTopic);
    if (topic === null) this.unmappable(remoteTopic, 'remote topic');
    else this.deliver(topic, payload, priority, qos, meta);
  }

  /**
   * The local topic of a remote topic (MQTT form), or null when it has none: outside the
   * remote prefix, invalid as a PSRT topic, or too deep. It depends on nothing else, so a
   * bridge may remember it per remote name.
   */
  protected localTopic(remoteTopic: string): string | null {
    const { localPrefix, remotePrefix } = this.config;
    if (!remoteTopic.startsWith(remotePrefix)) return null;
    const topic = normalizeTopic(localPrefix + remoteTopic.slice(remotePrefix.length));
    return topic === '' || hasWildcardChar(topic) || topicDepth(topic) > this.maxTopicDepth ? null : topic;
  }

  /** Hands an import with a valid local topic to the broker. */
  protected deliver(topic: string, payload: Buffer, priority: number, qos: 0 | 1 | 2, meta: MessageMeta | null): void {
    this.counters.imported++;
    this.counters.importedBytes += payload.length;
    this.sink(priority, topic, payload, qos, meta);
  }

  /** `note`: what the log line adds about the connection (an MQTT session resumed or new). */
  protected connected(server: string, note = ''): void {
    this.lastFailure = '';
    this.server = server;
    this.state = 'online';
    this.counters.connects++;
    this.log.info(`bridge ${this.config.name}: connected to ${server}${note}${this.buffer.length > 0 ? `, sending ${this.buffer.length} buffered messages` : ''}`);
    this.flush();
  }

  /**
   * A connection ended or an attempt failed. An attempt failing for a new reason is logged (a
   * wrong password or an unreachable upstream would otherwise only show in /status); the same
   * reason again, on every retry, is not.
   */
  protected disconnected(reason: string): void {
    if (this.state === 'stopped') return;
    if (this.state === 'online') this.log.warn(`bridge ${this.config.name}: lost ${this.server}: ${reason}`);
    else if (reason !== this.lastFailure) this.log.warn(`bridge ${this.config.name}: cannot connect to ${this.config.servers.join(', ')}: ${reason}`);
    this.lastFailure = reason;
    this.state = 'offline';
  }

  status(): BridgeStatus {
    return {
      name: this.config.name,
      type: this.config.type,
      state: this.state,
      server: this.server,
      buffered: this.buffer.length,
      bufferedBytes: this.buffer.bytes,
      counters: { ...this.counters },
    };
  }
}

/** Exponential back-off: 100 ms doubling to 5 s, with ±20 % jitter; reset on success. */
export class Backoff {
  private attempt = 0;

  next(): number {
    const base = Math.min(5000, 100 * 2 ** Math.min(this.attempt, 6));
    this.attempt++;
    return Math.round(base * (0.8 + Math.random() * 0.4));
  }

  reset(): void {
    this.attempt = 0;
  }
}
