/**
 * A bridge onto an upstream MQTT broker (Mosquitto, EMQX, HiveMQ, AWS IoT, another psrtd), as
 * an MQTT.js client.
 *
 * Origin, so that nothing loops:
 * - MQTT 5 (default): exports carry the user property `psrt-origin` = node id (and
 *   `psrt-priority`); import subscriptions use No Local, so the broker does not send our own
 *   messages back, and an import with our own origin is discarded anyway.
 * - MQTT 3.1.1 has neither: the origin travels as the first topic level after the remote
 *   prefix (`<remote_prefix><node id>/<topic>`); imports subscribe `<remote_prefix>+/<mask>`,
 *   discard their own node id and strip the level.
 *
 * The URLs are tried in turn; reconnects back off from 100 ms to 5 s.
 *
 * With `clean_session: false` the upstream keeps the session while the bridge is away (a
 * restart, a reload): the import subscriptions and the QoS 1 messages queued for them, which
 * arrive on the next connection. Such a session may still hold subscriptions of an earlier
 * configuration: only messages matching the current `in` masks are imported.
 */
import type { Socket } from 'node:net';
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import type { BrokerLogger, MessageMeta } from '../broker/ports.js';
import { DEFAULT_PRIORITY } from '../protocol/constants.js';
import { Backoff, Bridge, type ImportSink, type SendOutcome } from './bridge.js';
import type { OutMessage } from './buffer.js';
import type { BridgeConfig } from './config.js';
import { independentMasks } from './masks.js';
import { firstSubscriptionId, MQTT_SYNTAX, Subscriptions } from './overlap.js';
import {
  MAX_TOPIC_BYTES,
  MQTT_MAX_PACKET,
  PLAIN_PROPERTIES,
  PUBLISH_OVERHEAD,
  parseMqttUrl,
  propertiesBytes,
  publishPacketBytes,
  type ExportProperties,
  type Server,
  type UserProperties,
} from './mqtt-wire.js';

export const ORIGIN_PROPERTY = 'psrt-origin';
export const PRIORITY_PROPERTY = 'psrt-priority';

/**
 * How long stop() lets the upstream acknowledge QoS 1 exports in flight (a forced close would
 * drop them) before it closes the connection anyway.
 */
const STOP_GRACE_MS = 1000;

/** MQTT v5 DISCONNECT reason: another connection with this client id took the session over. */
const SESSION_TAKEN_OVER = 0x8e;

export class MqttBridge extends Bridge {
  private client: MqttClient | null = null;
  private readonly backoff = new Backoff();
  private readonly v5: boolean;
  private drainArmed = false;
  private readonly subs: Subscriptions;
  /** The subscription identifier of the first import filter (overlapping filters, MQTT 5). */
  private readonly firstId: number;
  /** Whether imports are checked against the current filters: only a persistent session can hold others. */
  private readonly checkFilters: boolean;
  /** Filters a predecessor subscribed in the same persistent session that this one does not want. */
  private stale: string[] = [];
  /**
   * The upstream's Maximum Packet Size (its CONNACK, else MQTT's own limit). A larger packet
   * makes the broker close the connection (MQTT 5.0 §3.2.2.3.6); at QoS 1 the client would send
   * it again after every reconnect, so such a message must never reach the client.
   */
  private maxPacket = MQTT_MAX_PACKET;
  /**
   * QoS 1 exports handed to the client and not acknowledged yet, in the order they were sent
   * (the key counts sends): what a stop that cannot wait for them saves with the buffer.
   */
  private readonly unacked = new Map<number, OutMessage>();
  private sends = 0;

  constructor(config: BridgeConfig, nodeId: string, log: BrokerLogger, sink: ImportSink, maxTopicDepth: number) {
    super(config, nodeId, log, sink, maxTopicDepth);
    this.v5 = config.protocolVersion === 5;
    this.subs = new Subscriptions(importFilters(config), MQTT_SYNTAX);
    this.firstId = firstSubscriptionId(this.subs.patterns);
    this.checkFilters = !config.cleanSession;
  }

  /**
   * The filters `previous` subscribed in the session this bridge resumes, or had yet to
   * unsubscribe (it may have been replaced before it ever connected), that this one does not want.
   */
  override succeed(previous: Bridge): void {
    const sameSession = previous instanceof MqttBridge && !previous.config.cleanSession && !this.config.cleanSession &&
      previous.clientId() === this.clientId();
    if (!sameSession) return;
    const wanted = new Set(this.subs.patterns);
    this.stale = [...new Set([...previous.subs.patterns, ...previous.stale])].filter((f) => !wanted.has(f));
  }

  private clientId(): string {
    return this.config.clientId ?? `psrtd-${this.nodeId}-${this.config.name}`;
  }

  /** MQTT topics are PSRT topics; with 3.1.1 the origin level goes first. */
  remoteName(remoteTopic: string): string | null {
    if (remoteTopic === '') return null;
    const { remotePrefix } = this.config;
    const name = this.v5 ? remoteTopic : `${remotePrefix}${this.nodeId}/${remoteTopic.slice(remotePrefix.length)}`;
    // A longer topic cannot be encoded: the client would write a broken packet (and throw).
    return Buffer.byteLength(name) <= MAX_TOPIC_BYTES ? name : null;
  }

  start(): void {
    const c = this.config;
    const servers = c.servers.map((u) => parseMqttUrl(u, c.tls !== undefined));
    const usable = servers.filter((s): s is Server => s !== null);
    if (usable.length < servers.length) this.log.error(`bridge ${c.name}: unusable server URL in ${c.servers.join(', ')}`);
    const first = usable[0];
    if (first === undefined) {
      this.state = 'offline';
      return;
    }
    const opts: IClientOptions = {
      ...first,
      servers: usable,
      protocolVersion: this.v5 ? 5 : 4,
      clientId: this.clientId(),
      clean: c.cleanSession,
      // A stalled upstream is noticed 1.5 keep alives after its last answer.
      keepalive: c.keepalive,
      connectTimeout: c.connectTimeout * 1000,
      reconnectPeriod: this.backoff.next(),
      queueQoSZero: false,
      resubscribe: false,
    };
    // Without an expiry an MQTT 5 session ends with the connection, persistent or not (§3.1.2.11.2).
    if (!c.cleanSession && this.v5) opts.properties = { sessionExpiryInterval: c.sessionExpiry };
    if (!c.cleanSession && c.qos === 0) {
      this.log.warn(`bridge ${c.name}: clean_session false with qos 0: the upstream queues only QoS 1 messages for a session that is away; set qos: 1`);
    }
    if (c.user !== undefined) opts.username = c.user;
    if (c.password !== undefined) opts.password = c.password;
    if (c.tls?.ca !== undefined) opts.ca = c.tls.ca;
    if (c.tls?.cert !== undefined) opts.cert = c.tls.cert;
    if (c.tls?.key !== undefined) opts.key = c.tls.key;
    const client = mqtt.connect(opts);
    this.client = client;
    client.on('connect', (connack) => {
      this.maxPacket = Math.min(MQTT_MAX_PACKET, connack.properties?.maximumPacketSize ?? MQTT_MAX_PACKET);
      this.onConnect(client, connack.properties?.subscriptionIdentifiersAvailable !== false, connack.sessionPresent);
    });
    // The reason a connection ended comes as an 'error' (e.g. a CONNACK refusal) before 'close'.
    let lastError = 'connection closed';
    client.on('close', () => {
      this.disconnected(lastError);
      lastError = 'connection closed';
      client.options.reconnectPeriod = this.backoff.next();
    });
    client.on('error', (e) => {
      lastError = e.message;
      this.log.debug(`bridge ${c.name}: ${e.message}`);
    });
    // v5 0x8E: another connection took this client id's session, e.g. a second psrtd with the same
    // node_id bridging under the same name; the two would take it from each other for ever.
    client.on('disconnect', (packet) => {
      if (packet.reasonCode === SESSION_TAKEN_OVER) lastError = `session taken over by another client with the client id ${this.clientId()} (two bridges with the same node_id and name?)`;
    });
    client.on('message', (topic, payload, packet) => {
      this.onMessage(topic, payload, packet);
    });
  }

  /**
   * Ends the connection with a DISCONNECT once the QoS 1 exports in flight are acknowledged,
   * bounded by STOP_GRACE_MS; an upstream that is away or does not answer is cut off.
   */
  async stop(): Promise<void> {
    this.state = 'stopped';
    const client = this.client;
    this.client = null;
    if (client === null) return;
    if (!client.connected) {
      await client.endAsync(true).catch(() => undefined);
      // Sent on a connection that broke: the client would have sent them again after a reconnect.
      if (this.keptIn !== null && this.unacked.size > 0) this.log.info(`bridge ${this.config.name}: ${String(this.unacked.size)} QoS 1 exports not acknowledged by the upstream (away at the stop), ${this.keptIn}`);
      return;
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        client.stream.destroy(); // end() waits for acknowledgements that did not come
        // Neither the client (discarded) nor a successor (a new store) sends them again.
        const lost = Object.keys(client.outgoing).length;
        const fate = this.keptIn ?? 'dropped';
        if (lost > 0) this.log.warn(`bridge ${this.config.name}: ${String(lost)} QoS 1 exports not acknowledged by the upstream within ${String(STOP_GRACE_MS)} ms of the stop, ${fate}`);
        resolve();
      }, STOP_GRACE_MS);
      client.end(false, {}, () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** The QoS 1 exports not acknowledged (sent first at the next start), then the buffer. */
  override takeWaiting(): OutMessage[] {
    const unacked = [...this.unacked.values()];
    this.unacked.clear();
    return [...unacked, ...super.takeWaiting()];
  }

  private onConnect(client: MqttClient, withIds: boolean, sessionPresent: boolean): void {
    this.backoff.reset();
    this.drainArmed = false; // a new stream: any armed listener was on the old one
    // Small messages must not wait for Nagle's algorithm (40 ms with delayed ACKs).
    const socket = client.stream as Partial<Socket>;
    socket.setNoDelay?.(true);
    client.options.reconnectPeriod = this.backoff.next();
    this.subscribe(client, withIds);
    const host = client.options.host ?? '';
    this.connected(`${host.includes(':') ? `[${host}]` : host}:${String(client.options.port ?? '')}`, this.sessionNote(sessionPresent));
  }

  /**
   * A persistent session says whether the upstream still had it: a new one means nothing was
   * kept for the time away (a first connection, an expired session, or an upstream that lost
   * its sessions in a restart without persistence), which an operator wants to know.
   */
  private sessionNote(sessionPresent: boolean): string {
    if (this.config.cleanSession) return '';
    return sessionPresent ? ' (persistent session resumed)' : ' (new persistent session: the upstream kept nothing from before)';
  }

  /**
   * Subscribes the `in` masks. Mosquitto sends an MQTT 5 client one copy per matching
   * subscription; when the filters overlap each gets its own SUBSCRIBE with a subscription
   * identifier (firstId + its index), so that onMessage keeps only the first matching one's copy.
   */
  private subscribe(client: MqttClient, withIds: boolean): void {
    const { qos } = this.config;
    const filters = this.subs.patterns;
    const failed = (err: Error | null): void => {
      if (err) this.log.error(`bridge ${this.config.name}: subscribe failed: ${err.message}`);
    };
    if (this.v5 && withIds && this.subs.overlapping) {
      filters.forEach((f, i) => {
        client.subscribe(f, { qos, nl: true, properties: { subscriptionIdentifier: this.firstId + i } }, failed);
      });
    } else if (filters.length > 0) {
      client.subscribe(Object.fromEntries(filters.map((f) => [f, { qos, nl: true }])), failed);
    }
    if (this.stale.length > 0) this.unsubscribeStale(client);
  }

  /** The upstream stops sending what a predecessor subscribed; tried again on the next connect if refused. */
  private unsubscribeStale(client: MqttClient): void {
    const stale = this.stale;
    client.unsubscribe(stale, (err) => {
      if (err) this.log.debug(`bridge ${this.config.name}: unsubscribe ${stale.join(', ')} failed: ${err.message}`);
      else if (this.stale === stale) this.stale = [];
    });
  }

  /**
   * A copy sent for a later subscription when an earlier one matches the topic too. A persistent
   * session may deliver copies it queued under the identifiers of another configuration's
   * subscriptions: whether a current one also got a copy is unknown, so they are all kept.
   */
  private isDuplicate(topic: string, ids: number | number[] | undefined): boolean {
    if (ids === undefined || !this.subs.overlapping) return false;
    let index = this.subs.patterns.length;
    for (const id of Array.isArray(ids) ? ids : [ids]) {
      const i = id - this.firstId;
      if (i < 0 || i >= this.subs.patterns.length) return false;
      index = Math.min(index, i);
    }
    return this.subs.owner(topic) < index;
  }

  private onMessage(topic: string, payload: Buffer, packet: IPublishPacket): void {
    if (this.checkFilters && !this.subs.matchesAny(topic)) {
      this.unmappable(topic, 'remote topic outside the current in masks (a subscription the persistent session kept)');
      return;
    }
    const props = packet.properties;
    if (this.isDuplicate(topic, props?.subscriptionIdentifier)) return;
    const user = props?.userProperties as UserProperties | undefined;
    let remoteTopic = topic;
    if (!this.v5) {
      const { remotePrefix } = this.config;
      const rest = topic.slice(remotePrefix.length);
      const slash = rest.indexOf('/');
      if (!topic.startsWith(remotePrefix) || slash < 0) {
        this.unmappable(topic, 'remote topic');
        return;
      }
      if (rest.slice(0, slash) === this.nodeId) {
        this.counters.echoes++;
        return;
      }
      remoteTopic = remotePrefix + rest.slice(slash + 1);
    } else if (first(user?.[ORIGIN_PROPERTY]) === this.nodeId) {
      this.counters.echoes++;
      return;
    }
    const priority = priorityOf(first(user?.[PRIORITY_PROPERTY]));
    const qos = packet.qos === 2 ? 2 : packet.qos === 1 ? 1 : 0;
    const meta: MessageMeta = {
      qos,
      retain: packet.retain,
      rawTopic: remoteTopic,
      contentType: props?.contentType,
      payloadFormatIndicator: props?.payloadFormatIndicator === undefined ? undefined : Number(props.payloadFormatIndicator),
      messageExpiryInterval: props?.messageExpiryInterval,
      responseTopic: props?.responseTopic,
      correlationData: props?.correlationData,
      userProperties: foreignProperties(user),
    };
    this.importMessage(remoteTopic, payload, priority, qos, meta);
  }

  protected send(topic: string, m: OutMessage): SendOutcome {
    const client = this.client;
    if (client?.connected !== true) return 'later';
    // MQTT.js would queue without bound (and add a 'drain' listener per message): while the
    // socket is congested, exports wait in our bounded buffer instead, sent on 'drain'.
    if (client.stream.writableNeedDrain) {
      this.flushOnDrain(client);
      return 'later';
    }
    const opts: Parameters<MqttClient['publish']>[2] = { qos: this.config.qos };
    let props: ExportProperties | undefined;
    if (this.v5) {
      const userProperties: UserProperties = { [ORIGIN_PROPERTY]: this.nodeId, [PRIORITY_PROPERTY]: String(m.priority) };
      for (const [k, v] of m.userProperties ?? []) {
        const had = userProperties[k];
        userProperties[k] = had === undefined ? v : [...(Array.isArray(had) ? had : [had]), v];
      }
      props = m.contentType === undefined ? { userProperties } : { userProperties, contentType: m.contentType };
      opts.properties = props;
    }
    if (this.tooLarge(topic, m, props)) return 'refused';
    const id = this.sends++;
    if (opts.qos === 1) this.unacked.set(id, m);
    client.publish(topic, m.payload, opts, (err) => {
      this.unacked.delete(id); // acknowledged, or given up by the client
      if (err) this.log.debug(`bridge ${this.config.name}: publish to ${topic} failed: ${err.message}`);
    });
    return 'sent';
  }

  /** Whether the PUBLISH of `m` exceeds the upstream's Maximum Packet Size (then it is counted). */
  private tooLarge(topic: string, m: OutMessage, props: ExportProperties | undefined): boolean {
    const plain = m.userProperties === undefined && m.contentType === undefined;
    // Exact sizes only for messages that may come near the limit (or carry MQTT properties).
    const bound = m.payload.length + 3 * topic.length + PUBLISH_OVERHEAD + PLAIN_PROPERTIES + 3 * this.nodeId.length;
    if (plain && bound <= this.maxPacket) return false;
    const size = publishPacketBytes(topic, m.payload.length, this.config.qos, props === undefined ? null : propertiesBytes(props));
    if (size <= this.maxPacket) return false;
    this.unmappable(topic, `message (${String(size)} bytes, the upstream takes at most ${String(this.maxPacket)}) on topic`);
    return true;
  }

  private flushOnDrain(client: MqttClient): void {
    if (this.drainArmed) return;
    this.drainArmed = true;
    client.stream.once('drain', () => {
      this.drainArmed = false;
      if (this.client === client) this.flush();
    });
  }
}

/**
 * The import subscriptions of a bridge: its independent `in` masks under the remote prefix
 * (3.1.1: after the origin level).
 */
function importFilters(c: BridgeConfig): string[] {
  const originLevel = c.protocolVersion === 5 ? '' : '+/';
  return independentMasks(c.in).map((m) => `${c.remotePrefix}${originLevel}${m}`);
}

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function priorityOf(v: string | undefined): number {
  const n = Number(v);
  return v !== undefined && v !== '' && Number.isInteger(n) && n >= 0 && n <= 255 ? n : DEFAULT_PRIORITY;
}

/** User properties as pairs, without the bridge's own. */
function foreignProperties(user: UserProperties | undefined): [string, string][] | undefined {
  if (user === undefined) return undefined;
  const out: [string, string][] = [];
  for (const [k, v] of Object.entries(user)) {
    if (k === ORIGIN_PROPERTY || k === PRIORITY_PROPERTY) continue;
    for (const one of Array.isArray(v) ? v : [v]) out.push([k, one]);
  }
  return out.length === 0 ? undefined : out;
}
