/**
 * The broker core: sessions and tokens, subscriptions, and fan-out of published messages into
 * per-session data channels. Pure logic on top of the topic index and the ACL; transports call
 * it synchronously and it answers with the reference's status bytes.
 */
import type { AclEntry } from '../auth/acl.js';
import { RESPONSE_ERR, RESPONSE_ERR_ACCESS, RESPONSE_OK, TOKEN_LENGTH } from '../protocol/constants.js';
import { publishTopicEnd, type PublishRequest } from '../protocol/control.js';
import { encodeDataFrame } from '../protocol/encode.js';
import { ErrorCode, PsrtError } from '../protocol/errors.js';
import { decodeUtf8 } from '../protocol/handshake.js';
import { escapeForLog } from '../protocol/log-escape.js';
import { hasWildcardChar, normalizeTopic, topicDepth } from '../topics/index.js';
import { Counters } from './counters.js';
import { DataChannel, type ChannelEnv, type DataChannelOptions } from './data-channel.js';
import { DeadlineWheel } from './deadline-wheel.js';
import { FrameSlab, Stamp, chunkedDelivery, delivery, type Delivery } from './delivery.js';
import { LogLimiter, TOO_DEEP, type RepeatedLine } from './log-limiter.js';
import { FlushScheduler } from './flush-scheduler.js';
import type {
  BrokerLogger,
  ControlPort,
  DataPort,
  MessageMeta,
  PublishHook,
  PublishSource,
  PublisherPort,
} from './ports.js';
import { PublishHooks } from './publish-hooks.js';
import { PublishTopicCache } from './publish-topic-cache.js';
import { ReplicationIntake } from './replication-intake.js';
import { Session } from './session.js';
import { TokenSource } from './token-source.js';
import { SubscriberLists } from './subscriber-lists.js';
import { Subscriptions } from './subscriptions.js';
import { TopicTable, type TopicStat } from './topic-table.js';

import {
  DEFAULT_MAX_SUBSCRIPTION_BYTES,
  DEFAULT_MAX_SUBSCRIPTIONS,
  DEFAULT_SLOW_MAX_HOLD,
  DEFAULT_SLOW_WINDOW_MS,
  channelOptionsOf,
  type BrokerOptions,
  type BrokerStats,
} from './broker-options.js';

export { DEFAULT_MAX_SUBSCRIPTION_BYTES, DEFAULT_MAX_SUBSCRIPTIONS, DEFAULT_SLOW_MAX_HOLD, DEFAULT_SLOW_WINDOW_MS };
export type { BrokerOptions, BrokerStats };

export class Broker implements BrokerStats {
  readonly counters = new Counters();
  readonly scheduler = new FlushScheduler();
  /** The deadlines of every connection (see DeadlineWheel). */
  readonly wheel = new DeadlineWheel();
  /** What every data channel shares. */
  readonly channelEnv: ChannelEnv;
  private readonly channelOptions: DataChannelOptions;
  private readonly slab = new FrameSlab();
  /** Cluster replication, MQTT, bridges: each sees every accepted message but its own. */
  private readonly hooks = new PublishHooks();
  /** What arrives by cluster replication (PUBLISH_REPL and the extension ops). */
  readonly replication: ReplicationIntake;
  private externalStamp = new Stamp(0);
  /** PSRT subscriptions, their index and limits. */
  private readonly subs: Subscriptions;
  /** Lines a client can repeat at will, for the broker and every transport (log-limiter.ts). */
  readonly logLimiter: LogLimiter;
  private readonly pubDenied: RepeatedLine;
  private readonly tooDeep: RepeatedLine;
  private readonly sessions = new Map<string, Session>();
  private readonly topics: TopicTable<Session>;
  private readonly lists: SubscriberLists<Session>;
  /** The last small publish's entry and subscriber list, while it may be appended to. */
  private lastDelivery: Delivery | null = null;
  private lastTargets: readonly Session[] | null = null;
  private readonly tokens = new TokenSource(TOKEN_LENGTH);
  /** One function for every session (a closure per session would cost memory per client). */
  private readonly onDrop = (s: Session, ch: DataChannel, reason?: string): void => {
    this.dropCongested(s, ch, reason);
  };

  constructor(
    private readonly opts: BrokerOptions,
    private readonly log: BrokerLogger,
  ) {
    this.logLimiter = new LogLimiter(log);
    this.pubDenied = this.logLimiter.line('pub access deneid');
    this.tooDeep = this.logLimiter.line(TOO_DEEP);
    this.channelEnv = { scheduler: this.scheduler, counters: this.counters, log, wheel: this.wheel };
    this.channelOptions = channelOptionsOf(opts);
    this.topics = new TopicTable<Session>(10_000, 64, opts.topicTableBytes);
    this.subs = new Subscriptions(opts, log, this.logLimiter, this.counters, () => { this.indexChanged(); });
    this.lists = new SubscriberLists(this.subs.index, this.topics);
    this.replication = new ReplicationIntake({
      index: this.subs.index,
      slab: this.slab,
      hooks: this.hooks,
      log,
      denied: this.logLimiter.line('replication access deneid'),
      enqueue: (session, d, publisher) => {
        this.enqueue(session, d, publisher);
      },
    });
  }

  get clientCount(): number {
    return this.sessions.size;
  }

  get subscriptionCount(): number {
    return this.subs.count;
  }

  /** The logged-in sessions (the stats client list reads them on request, never per message). */
  sessionList(): IterableIterator<Session> {
    return this.sessions.values();
  }

  get dataChannelCount(): number {
    let n = 0;
    for (const s of this.sessions.values()) if (s.data !== null) n++;
    return n;
  }

  addPublishHook(hook: PublishHook): void {
    this.hooks.add(hook);
  }

  removePublishHook(hook: PublishHook): void {
    this.hooks.remove(hook);
  }

  /** Frame slabs reused instead of allocated (diagnostics, tests). */
  get slabsReused(): number {
    return this.slab.reused;
  }

  queueDepths(): number[] {
    const depths: number[] = [];
    for (const s of this.sessions.values()) if (s.data !== null) depths.push(s.data.pending);
    return depths;
  }

  topTopics(limit: number, by: 'messages' | 'bytes'): TopicStat[] {
    return this.topics.top(limit, by);
  }

  createSession(user: string, address: string, acl: AclEntry, control: ControlPort): Session {
    let key = this.tokens.next();
    while (this.sessions.has(key)) key = this.tokens.next();
    const session = new Session(key, user, address, acl, control, this.onDrop);
    this.sessions.set(key, session);
    return session;
  }

  /** Unregisters the session, its subscriptions and token, and closes its data socket. */
  endSession(session: Session): void {
    if (session.ended) return;
    session.ended = true;
    this.sessions.delete(session.tokenKey);
    this.subs.removeAll(session);
    const channel = session.data;
    if (channel !== null) {
      session.data = null;
      channel.flush(); // what was accepted before the session ended still goes out
      channel.close();
      channel.port.end();
    }
  }

  /** Ends every session (shutdown). */
  closeAll(): void {
    for (const s of [...this.sessions.values()]) {
      s.control.close();
      this.endSession(s);
    }
  }

  /**
   * Attaches a data socket to the session owning `token`; null means refuse (`FF`): unknown
   * token, or the session already has a data socket.
   */
  attachData(token: Buffer, port: DataPort, timeoutSeconds: number): DataChannel | null {
    const session = this.sessions.get(token.toString('latin1'));
    if (session?.data !== null) return null;
    const pingIntervalMs = Math.max(this.opts.pingFloorMs, timeoutSeconds * 500);
    const channel = new DataChannel(port, session, this.channelOptions, this.channelEnv, pingIntervalMs);
    session.data = channel;
    return channel;
  }

  /** The data socket ended (any reason): detach it so the token may attach a new one. */
  detachData(channel: DataChannel): void {
    channel.close();
    channel.owner.channelClosed(channel);
  }

  sessionLabel(channel: DataChannel): string {
    return channel.owner.label;
  }

  /** SUBSCRIBE: the status byte (see Subscriptions). */
  subscribe(session: Session, rawTopics: readonly string[]): number {
    return this.subs.subscribe(session, rawTopics);
  }

  unsubscribe(session: Session, rawTopics: readonly string[]): number {
    return this.subs.unsubscribe(session, rawTopics);
  }

  /**
   * TCP PUBLISH (PROTOCOL.md §5.6): returns the status byte, throws PsrtError where the
   * connection must be closed. When a subscriber queue is congested the publisher is registered
   * as its waiter (publisher.blockedOn > 0 afterwards: stop reading). A `chunked` (large)
   * publish has only `topic 00` in body; its payload is delivered as the pieces it came in.
   */
  publish(session: Session, request: PublishRequest, publisher: PublisherPort, received: Stamp): number {
    const { bytes, start, end, chunked } = request;
    const c = this.counters;
    c.pubMessages++;
    c.pubBytes += end - start + (chunked?.payloadLength ?? 0);
    const sep = publishTopicEnd(bytes, start, end);
    const cache = (session.publishTopic ??= new PublishTopicCache());
    let raw: string;
    let topic: string;
    if (cache.matches(bytes, start, sep)) {
      raw = cache.raw;
      topic = cache.topic;
    } else {
      raw = decodeUtf8(bytes.subarray(start, sep));
      topic = normalizeTopic(raw);
      const status = this.checkPublishTopic(session, topic);
      if (status !== RESPONSE_OK) return status;
      cache.remember(bytes, start, sep, raw, topic);
    }
    const targets = this.lists.collect(topic, chunked?.payloadLength ?? end - sep - 1);
    const asSent = topic === raw;
    if (targets.length > 0 && !(asSent && this.appended(request, targets, publisher, received))) {
      const d = this.deliveryOf(request, sep, topic, asSent, received);
      this.fanOut(targets, d, publisher);
      // Only slab entries can grow; nothing else (a large message's pieces) is kept from here.
      const open = d.slab !== null;
      this.lastDelivery = open ? d : null;
      this.lastTargets = open ? targets : null;
    }
    if (this.hooks.size > 0) {
      const payload = chunked?.payload ?? bytes.subarray(sep + 1, end);
      this.hooks.notify(request.priority, topic, payload, received.us, 1, null, null, publisher);
    }
    return RESPONSE_OK;
  }

  /**
   * Appends a small publish to the previous one's queue entry instead of creating its own:
   * allowed when the previous publish went to the same (cached) subscriber list, with the same
   * receive time, and its entry is still the unwritten tail of every target's queue and ends
   * where the slab's free space begins. The topic is then the same (a cached list belongs to one
   * topic, and the request bytes are the frame). A pipelined burst to one topic thus leaves one
   * object per ~64 messages, not one per message. False: deliver normally.
   */
  private appended(request: PublishRequest, targets: readonly Session[], publisher: PublisherPort, received: Stamp): boolean {
    const d = this.lastDelivery;
    if (d === null || request.chunked !== null || targets !== this.lastTargets || d.received !== received) return false;
    if (targets === this.lists.scratch) return false; // reused for every uncached list
    for (const s of targets) if (s.data?.endsWith(d) !== true) return false;
    const bytes = this.slab.appendTo(d, request.priority, request.bytes, request.start, request.end);
    if (bytes === 0) return false;
    for (const s of targets) {
      const channel = s.data;
      if (channel !== null && channel.grown(bytes) === 'congested') channel.addWaiter(publisher);
    }
    return true;
  }

  /**
   * The data frame of an accepted publish whose topic ends at `sep`. The request bytes are the
   * frame when the topic needed no normalisation: small ones are copied into the slab, chunked
   * ones delivered as they came.
   */
  private deliveryOf(request: PublishRequest, sep: number, topic: string, topicAsSent: boolean, received: Stamp): Delivery {
    const { priority, bytes, start, end, chunked } = request;
    if (chunked !== null) return chunkedDelivery(priority, topic, topicAsSent, chunked, received);
    if (topicAsSent) return this.slab.fromBody(priority, bytes, start, end, received, topic);
    return delivery(encodeDataFrame(priority, topic, bytes.subarray(sep + 1, end)), received, topic);
  }

  /** PROTOCOL.md §5.6 steps 7–9 for a normalised publish topic: the status byte, or throws. */
  private checkPublishTopic(session: Session, topic: string): number {
    if (topicDepth(topic) > this.opts.maxTopicDepth) {
      if (this.tooDeep.admit()) this.log.error(`${session.address}: topic too deep`);
      return RESPONSE_ERR;
    }
    if (hasWildcardChar(topic)) {
      throw new PsrtError(ErrorCode.WildcardInPublish, `Wildcard in publish topic: ${escapeForLog(topic)}`);
    }
    if (!session.acl.canPublish(topic)) {
      if (this.pubDenied.admit()) this.log.error(`pub access deneid for ${escapeForLog(topic)} to ${session.label}`);
      return RESPONSE_ERR_ACCESS;
    }
    return RESPONSE_OK;
  }

  /**
   * A message accepted outside a PSRT control session (UDP, MQTT, bridges): topic already
   * normalised and checked. `publisher`, when given, is paused while a PSRT subscriber it feeds
   * is congested; without one, congested queues rely on the channel's hard cap. `source` is the
   * hook the message came from (it is not handed back to it).
   */
  publishExternal(
    priority: number,
    topic: string,
    payload: Buffer,
    timestampUs: number,
    qos: 0 | 1 | 2 = 0,
    meta: MessageMeta | null = null,
    source: PublishSource = null,
    publisher: PublisherPort | null = null,
  ): void {
    const targets = this.lists.collect(topic, payload.length);
    if (targets.length > 0) {
      // Messages of one read share a receive time: share the Stamp too (no object per message).
      if (this.externalStamp.us !== timestampUs) this.externalStamp = new Stamp(timestampUs);
      this.fanOut(targets, this.slab.fromParts(priority, topic, payload, this.externalStamp), publisher);
    }
    if (this.hooks.size > 0) this.hooks.notify(priority, topic, payload, timestampUs, qos, meta, source, publisher);
  }

  /** The index changed: cached subscriber lists and the open entry are outdated. */
  private indexChanged(): void {
    this.lists.invalidate();
    this.lastDelivery = null; // nor the sessions of an outdated list
    this.lastTargets = null;
  }

  private fanOut(targets: readonly Session[], delivery: Delivery, publisher: PublisherPort | null): void {
    for (const s of targets) this.enqueue(s, delivery, publisher);
    if (targets === this.lists.scratch) this.lists.scratch.length = 0; // do not keep the sessions alive
  }

  private enqueue(session: Session, delivery: Delivery, publisher: PublisherPort | null): void {
    const channel = session.data;
    if (channel === null) {
      if (!session.ended) this.counters.undeliverable++; // ended: its subscriptions are retiring
      return;
    }
    if (channel.enqueue(delivery) === 'congested' && publisher !== null) channel.addWaiter(publisher);
  }

  private dropCongested(session: Session, channel: DataChannel, reason?: string): void {
    if (session.data !== channel) return;
    if (reason === undefined) this.log.warn(`queue is full (${session.label}), dropping data channel`);
    else this.log.warn(`${reason} (${session.label}), dropping data channel`);
    this.counters.droppedDataChannels++;
    session.data = null;
    channel.close();
    channel.port.destroy();
  }
}
