/**
 * The packets of an established MQTT connection: PUBLISH with QoS 0/1/2 and topic aliases,
 * the QoS acks in both directions, SUBSCRIBE (with retained messages), UNSUBSCRIBE, PINGREQ,
 * DISCONNECT and AUTH. Authorisation is the PSRT ACL of the login, exactly as for PSRT
 * clients: publish masks are checked on the normalised topic, subscribe masks on the filter as
 * sent (its inner filter for a shared subscription).
 *
 * Subscriptions are bounded per session (server.max_subscriptions and max_subscription_bytes,
 * as for PSRT sessions: a filter past them gets Quota exceeded) and per packet
 * (server.max_topics_per_subscribe: the decoder only counts the filters of a larger packet and
 * every one is refused); the filters of a packet are worked off in slices (slices.ts).
 */
import type { Stamp } from '../broker/delivery.js';
import {
  MqttError,
  ReasonCode,
  encodeAck,
  encodeSuback,
  encodeUnsuback,
  subackCodeFor311,
  PINGRESP,
  SUBACK_FAILURE_311,
  type AckPacket,
  type DisconnectPacket,
  type MqttPacket,
  type MqttVersion,
  type PublishPacket,
  type SubscribePacket,
  type UnsubscribePacket,
} from '../protocol/mqtt/index.js';
import { escapeForLog } from '../protocol/log-escape.js';
import { isSystemTopic, isValidMqttTopicFilter, normalizeTopic } from '../topics/index.js';
import type { PublisherPort, RepeatedLine } from '../broker/index.js';
import type { MqttContext } from './context.js';
import { MqttMessage, carriedFrom } from './message.js';
import { DEFAULT_PRIORITY } from './router.js';
import type { MqttSession } from './session.js';
import { workInSlices, type SliceHost } from './slices.js';
import { deliverRetained, type RetainedDelivery } from './retained-pacer.js';
import { splitShared } from './subscription.js';

/** What the handler needs of its MqttConnection (connection.ts), declared here to avoid an import cycle. */
export interface PacketConnection extends PublisherPort {
  readonly version: MqttVersion;
  /** MQTT 3.1: version 4, but a SUBACK has no failure code. */
  readonly mqtt31: boolean;
  readonly label: string;
  /** Receive time of the current read (shared by its publishes). */
  readonly readStamp: Stamp;
  /** Made by the handler at the first PUBLISH. */
  inbound: InboundState | null;
  send(packet: Buffer): void;
  clientDisconnected(reason: number, expiry: number | undefined): void;
  disconnectWith(reason: number, withWill: boolean, text?: string): void;
  /** Reads no further packet until release() (a packet worked off over several turns). */
  hold(): void;
  release(): void;
  /** False once the connection is closing. */
  readonly open: boolean;
  /** v5: the CONNECT asked for Session Expiry 0 (its DISCONNECT may not set another). */
  readonly expiryZeroAtConnect: boolean;
  fail(e: unknown, reply: boolean): void;
}

/**
 * What a connection keeps of its inbound publishes, made at its first PUBLISH (a subscriber that
 * never publishes has none): the last topic's check and the v5 inbound topic aliases.
 */
export class InboundState {
  /** Inbound topic aliases (v5): alias → topic, set by the client. */
  aliases: Map<number, string> | null = null;
  /** The last publish topic, its PSRT (normalised) form and whether the ACL allows it. */
  lastTopic: string | null = null;
  lastPsrtTopic = '';
  lastAllowed = false;
}

/** Bits of MqttSession.limitsLogged: each limit is logged once per session. */
const LOGGED_SUBSCRIPTION_LIMIT = 1;
const LOGGED_TOO_MANY_FILTERS = 2;

/**
 * One per context, shared by its connections (no object per connection): the connection and
 * its session come with each packet.
 */
export class PacketHandler {
  /** For the retained pacer (one function per listener, not per SUBSCRIBE). */

  /** Lines a client repeats at will, rate-limited per server (broker/log-limiter.ts). */
  private readonly pubDenied: RepeatedLine;
  private readonly subDenied: RepeatedLine;
  private readonly overLimit: RepeatedLine;
  private readonly tooManyFilters: RepeatedLine;

  constructor(private readonly ctx: MqttContext) {
    const lines = ctx.broker.logLimiter;
    this.pubDenied = lines.line('mqtt: pub access denied');
    this.subDenied = lines.line('mqtt: sub access denied');
    this.overLimit = lines.line('mqtt: subscription limit');
    this.tooManyFilters = lines.line('mqtt: max_topics_per_subscribe refused');
  }

  handle(conn: PacketConnection, session: MqttSession, p: MqttPacket): void {
    switch (p.type) {
      case 'publish':
        this.publish(conn, session, p);
        return;
      case 'puback':
      case 'pubcomp':
        session.completed(p.packetId); // an unknown id is ignored (it may predate a reconnect)
        return;
      case 'pubrec':
        session.received(p.packetId, p.reasonCode >= 0x80);
        return;
      case 'pubrel':
        this.pubrel(conn, session, p);
        return;
      case 'subscribe':
        this.subscribe(conn, session, p);
        return;
      case 'unsubscribe':
        this.unsubscribe(conn, session, p);
        return;
      case 'pingreq':
        conn.send(PINGRESP);
        return;
      case 'disconnect':
        this.disconnect(conn, p);
        return;
      case 'auth':
        // No Authentication Method in CONNECT (one is refused there): AUTH is a Protocol Error
        // [MQTT-4.12.0-7]. Not 0x8C, which is a CONNACK code and no DISCONNECT one [MQTT-3.14.2-1].
        conn.disconnectWith(ReasonCode.ProtocolError, true, 'AUTH without an Authentication Method in CONNECT (enhanced authentication is not supported)');
        return;
      default:
        throw new MqttError(ReasonCode.ProtocolError, `unexpected ${p.type} packet from a client`);
    }
  }

  private publish(conn: PacketConnection, session: MqttSession, p: PublishPacket): void {
    const inbound = (conn.inbound ??= new InboundState());
    const topic = this.resolveTopic(inbound, p);
    const version = conn.version;
    const qos = p.qos;
    if (qos === 2 && session.hasInboundQos2(p.packetId ?? 0)) {
      conn.send(encodeAck('pubrec', p.packetId ?? 0, 0, version)); // a resend: no second delivery
      return;
    }
    if (topic !== inbound.lastTopic) checkTopic(inbound, session, topic);
    if (!inbound.lastAllowed) {
      this.ctx.router.counters.deniedPublishes++;
      if (this.pubDenied.admit()) this.ctx.log.error(`mqtt: pub access denied for ${escapeForLog(topic)} to ${conn.label}`);
      if (qos > 0) conn.send(encodeAck(qos === 1 ? 'puback' : 'pubrec', p.packetId ?? 0, ReasonCode.NotAuthorized, version));
      return;
    }
    // Checked before publishing: the publish that exceeds Receive Maximum must not be forwarded.
    // Only v5 is told the limit (CONNACK); 3.1.1 has none, so a burst of QoS 2 publishes from a
    // 3.1.1 client is taken (Mosquitto does too), bounded by the packet-id space (PacketIdSet).
    if (qos === 2 && version === 5 && session.inboundQos2Count >= this.ctx.limits.receiveMaximum) {
      throw new MqttError(ReasonCode.ReceiveMaximumExceeded, 'more QoS 2 publishes unreleased than Receive Maximum');
    }
    const msg = new MqttMessage(topic, p.payload, qos, p.retain, DEFAULT_PRIORITY, conn.readStamp, carriedFrom(p.properties), session);
    msg.psrtTopic = inbound.lastPsrtTopic;
    this.ctx.router.publish(msg, conn);
    if (qos === 1) {
      conn.send(encodeAck('puback', p.packetId ?? 0, 0, version));
    } else if (qos === 2) {
      session.addInboundQos2(p.packetId ?? 0);
      conn.send(encodeAck('pubrec', p.packetId ?? 0, 0, version));
    }
  }

  /** The topic of a PUBLISH after v5 topic aliases (set, or look up for an empty topic). */
  private resolveTopic(inbound: InboundState, p: PublishPacket): string {
    const alias = p.properties?.topicAlias;
    if (alias === undefined) return p.topic;
    if (alias === 0 || alias > this.ctx.limits.topicAliasMaximum) {
      throw new MqttError(ReasonCode.TopicAliasInvalid, `topic alias ${alias} out of range`);
    }
    if (p.topic !== '') {
      (inbound.aliases ??= new Map()).set(alias, p.topic);
      return p.topic;
    }
    const known = inbound.aliases?.get(alias);
    if (known === undefined) throw new MqttError(ReasonCode.ProtocolError, `unknown topic alias ${alias}`);
    return known;
  }

  private pubrel(conn: PacketConnection, session: MqttSession, p: AckPacket): void {
    const known = session.releaseInboundQos2(p.packetId);
    const reason = known || conn.version === 4 ? 0 : ReasonCode.PacketIdentifierNotFound;
    conn.send(encodeAck('pubcomp', p.packetId, reason, conn.version));
  }

  private subscribe(conn: PacketConnection, session: MqttSession, p: SubscribePacket): void {
    const version = conn.version;
    if (p.tooMany !== undefined) {
      // Every filter gets a failure code (the SUBACK must answer each), none is decoded.
      this.tooMany(conn, session, 'SUBSCRIBE');
      // 3.1 has no failure code and the requested QoS were not decoded: QoS 0, nothing subscribed.
      const code = version === 5 ? ReasonCode.QuotaExceeded : conn.mqtt31 ? 0 : SUBACK_FAILURE_311;
      conn.send(encodeSuback(p.packetId, new Array<number>(p.tooMany).fill(code), undefined, version));
      return;
    }
    const id = p.properties?.subscriptionIdentifiers?.[0] ?? 0;
    const subs = p.subscriptions;
    const codes = new Array<number>(subs.length);
    const retained: RetainedDelivery[] = [];
    const v31 = conn.mqtt31;
    const each = (i: number): void => {
      const sub = subs[i] as SubscribePacket['subscriptions'][number];
      const code = this.subscribeOne(conn, session, sub, id, retained);
      // 3.1.1 knows only 0x80 for a failure; 3.1 has none, and a refused filter gets the QoS it
      // asked for with nothing subscribed (what Mosquitto answers a 3.1 client its ACL denies).
      codes[i] = version === 5 ? code : v31 && code > 2 ? sub.qos : subackCodeFor311(code);
    };
    workInSlices(subs.length, each, () => {
      conn.send(encodeSuback(p.packetId, codes, undefined, version));
      deliverRetained(session, retained, this.ctx.router);
    }, sliceHost(conn, session));
  }

  /** Logs a packet past server.max_topics_per_subscribe (once per session); yields the turn. */
  private tooMany(conn: PacketConnection, session: MqttSession, kind: 'SUBSCRIBE' | 'UNSUBSCRIBE'): void {
    if ((session.limitsLogged & LOGGED_TOO_MANY_FILTERS) === 0) {
      session.limitsLogged |= LOGGED_TOO_MANY_FILTERS;
      if (this.tooManyFilters.admit()) this.ctx.log.error(`mqtt: ${conn.label}: ${kind} with more than server.max_topics_per_subscribe (${this.ctx.limits.maxFiltersPerPacket}) filters refused`);
    }
    // Counting a huge packet's filters took a while: let others run before its next packet.
    conn.hold();
    setImmediate(() => { conn.release(); });
  }

  /** True when the session may hold one more subscription `key`; logs the first refusal. */
  private roomFor(conn: PacketConnection, s: MqttSession, key: string): boolean {
    const { maxSubscriptions, maxSubscriptionBytes } = this.ctx.limits;
    const limit = s.subscriptionLimit(key, maxSubscriptions, maxSubscriptionBytes);
    if (limit === null) return true;
    if ((s.limitsLogged & LOGGED_SUBSCRIPTION_LIMIT) === 0) {
      s.limitsLogged |= LOGGED_SUBSCRIPTION_LIMIT;
      if (this.overLimit.admit()) this.ctx.log.error(`mqtt: ${conn.label}: subscription limit (${limit}) reached`);
    }
    return false;
  }

  private subscribeOne(conn: PacketConnection, session: MqttSession, s: SubscribePacket['subscriptions'][number], id: number, retained: RetainedDelivery[]): number {
    const shared = splitShared(s.filter);
    const filter = shared === null ? s.filter : shared.filter;
    if (shared !== null && (shared.group === '' || /[+#]/.test(shared.group) || !isValidMqttTopicFilter(filter))) {
      return ReasonCode.TopicFilterInvalid;
    }
    if (shared !== null && s.noLocal) throw new MqttError(ReasonCode.ProtocolError, 'no local on a shared subscription');
    if (!isValidMqttTopicFilter(filter)) return ReasonCode.TopicFilterInvalid;
    if (!session.acl.canSubscribe(filter)) {
      if (this.subDenied.admit()) this.ctx.log.error(`mqtt: sub access denied for ${escapeForLog(s.filter)} to ${conn.label}`);
      return conn.version === 5 ? ReasonCode.NotAuthorized : 0x80;
    }
    // Replacing a subscription the session holds is always allowed.
    if (session.subscriptions.get(s.filter) === undefined && !this.roomFor(conn, session, s.filter)) return ReasonCode.QuotaExceeded;
    const options = { qos: s.qos, noLocal: s.noLocal, retainAsPublished: s.retainAsPublished, retainHandling: s.retainHandling, identifier: id };
    const existed = this.ctx.router.subscribe(session, s.filter, options);
    this.ctx.broker.counters.subOps++;
    const wantRetained = shared === null && (s.retainHandling === 0 || (s.retainHandling === 1 && !existed));
    const entry = wantRetained ? session.subscriptions.get(s.filter) : undefined;
    if (entry !== undefined) {
      for (const msg of this.ctx.router.retainedFor(filter)) retained.push({ msg, entry });
    }
    return s.qos;
  }

  private unsubscribe(conn: PacketConnection, session: MqttSession, p: UnsubscribePacket): void {
    const version = conn.version;
    if (p.tooMany !== undefined) {
      // v5: 0x83, "valid, but the Server does not accept it", per filter. A 3.1.1 UNSUBACK has
      // no codes: plain, nothing removed (as Mosquitto answers an UNSUBSCRIBE its ACL denies).
      this.tooMany(conn, session, 'UNSUBSCRIBE');
      const codes = version === 5 ? new Array<number>(p.tooMany).fill(ReasonCode.ImplementationSpecificError) : [];
      conn.send(encodeUnsuback(p.packetId, codes, undefined, version));
      return;
    }
    const filters = p.filters;
    const codes = new Array<number>(filters.length);
    const each = (i: number): void => {
      codes[i] = this.ctx.router.unsubscribe(session, filters[i] ?? '') ? 0 : ReasonCode.NoSubscriptionExisted;
      this.ctx.broker.counters.subOps++;
    };
    workInSlices(filters.length, each, () => {
      conn.send(encodeUnsuback(p.packetId, codes, undefined, version));
    }, sliceHost(conn, session));
  }

  private disconnect(conn: PacketConnection, p: DisconnectPacket): void {
    const expiry = p.properties?.sessionExpiryInterval;
    // What the CONNECT asked decides, not the interval max_session_expiry left (0 when it is 0).
    if (expiry !== undefined && conn.expiryZeroAtConnect && expiry !== 0) {
      throw new MqttError(ReasonCode.ProtocolError, 'session expiry set on DISCONNECT after 0 on CONNECT');
    }
    const capped = expiry === undefined ? undefined : Math.min(expiry, this.ctx.limits.maxSessionExpiry);
    conn.clientDisconnected(p.reasonCode, capped);
  }
}

/**
 * Normalises and authorises a publish topic once for a run of publishes to it (publishers
 * mostly repeat their topics): the ACL decision is the session's login-time one anyway.
 */
function checkTopic(inbound: InboundState, session: MqttSession, topic: string): void {
  inbound.lastTopic = topic;
  inbound.lastPsrtTopic = normalizeTopic(topic);
  // Nobody may forge the broker's statistics: a publish to `$SYS` is refused like an ACL
  // denial, whatever acl.yml grants (Mosquitto does the same).
  inbound.lastAllowed = !isSystemTopic(topic) && session.acl.canPublish(inbound.lastPsrtTopic);
}

/** The connection's side of a SUBSCRIBE/UNSUBSCRIBE worked off in slices (slices.ts). */
function sliceHost(conn: PacketConnection, session: MqttSession): SliceHost {
  return {
    hold: () => { conn.hold(); },
    release: () => { conn.release(); },
    live: () => conn.open && !session.ended,
    fail: (e) => { conn.fail(e, true); },
  };
}
