/**
 * The narrow interfaces through which the broker core talks to the outside: transports
 * implement DataPort and PublisherPort, edges provide a Logger and may attach hooks. The broker
 * never touches sockets, files or HTTP.
 */

/** Structural logger (src/log implements it; the broker may not import src/log). */
export interface BrokerLogger {
  error(msg: string): void;
  warn(msg: string): void;
  info(msg: string): void;
  debug(msg: string): void;
  trace(msg: string): void;
  enabled(level: 'error' | 'warn' | 'info' | 'debug' | 'trace'): boolean;
}

/** The transport side of a data socket. */
export interface DataPort {
  /**
   * Hands frames to the socket in one write (writev). Returns false when the socket's buffer is
   * above its high-water mark; the transport then calls DataChannel.onWritable() on 'drain'.
   * `written`, if given, is called once the frames' bytes are no longer needed (written to the
   * kernel, or the socket failed); until then the caller does not reuse their memory.
   */
  write(frames: readonly Buffer[], written?: () => void): boolean;
  /** Closes the socket now; the transport then calls Broker.detachData(). */
  destroy(): void;
  /** Closes after the frames already handed over are written (session ended normally). */
  end(): void;
}

/** A connection whose reading can be suspended while a subscriber it feeds is congested. */
export interface PublisherPort {
  /** Number of congested data channels this publisher waits for; reading stops while > 0. */
  blockedOn: number;
  /** Called when blockedOn drops back to 0. */
  resume(): void;
}

/** The ending side of a control session (to close it from the broker, e.g. on shutdown). */
export interface ControlPort {
  close(): void;
}

/**
 * What a message carries beyond topic, payload and priority, for hooks that pass it on to
 * another protocol or engine (MQTT subscribers, bridges). PSRT publishes have none (null): they
 * enter as QoS 1 when acknowledged (TCP, UDP with ack) and QoS 0 otherwise.
 */
export interface MessageMeta {
  readonly qos: 0 | 1 | 2;
  readonly retain: boolean;
  /** The topic exactly as an MQTT publisher sent it (PSRT subscribers see it normalised). */
  readonly rawTopic: string;
  readonly contentType?: string | undefined;
  readonly payloadFormatIndicator?: number | undefined;
  readonly messageExpiryInterval?: number | undefined;
  readonly responseTopic?: string | undefined;
  readonly correlationData?: Buffer | undefined;
  readonly userProperties?: readonly (readonly [string, string])[] | undefined;
}

/**
 * Where an accepted message entered the broker. Hooks that inject messages (MQTT, bridges) pass
 * themselves as the source; the broker never hands a message back to the hook it came from, so
 * no hook sees its own messages again (no loops). Local PSRT clients and UDP: source null.
 */
export type PublishSource = PublishHook | null;

/** Sees every accepted message after local PSRT fan-out (cluster replication, MQTT, bridges). */
export interface PublishHook {
  /**
   * False for hooks that only deliver locally (MQTT subscribers): they also get messages that
   * arrived by cluster replication. Forwarders (replication, bridges; the default) never do, so
   * a replicated message is not sent onwards again.
   */
  readonly forwardsMessages?: boolean;
  /** For local-delivery hooks: whether a replicated message on `topic` is wanted here. */
  hasSubscribers?(topic: string): boolean;
  /**
   * `topic` is the normalised (PSRT) topic; `payload` is a view into the publisher's reads (one
   * buffer, or a large one's pieces): copy what must outlive the call. `qos` is the QoS the
   * message entered with. `publisher`, when not null, is the connection the message came from:
   * a hook that queues it for a congested subscriber may make it wait (DataChannel.addWaiter).
   * Called synchronously on the publish path: no I/O waits here.
   */
  onLocalPublish(
    priority: number,
    topic: string,
    payload: Buffer | readonly Buffer[],
    timestampUs: number,
    qos: 0 | 1 | 2,
    meta: MessageMeta | null,
    publisher: PublisherPort | null,
  ): void;
}
