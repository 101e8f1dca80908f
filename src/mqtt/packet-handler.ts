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
import { isValidMqttTopicFilter, normalizeTopic } from '../topics/index.js';
import type { PublisherPort } from '../broker/index.js';
import type { MqttContext } from './context.js';
import { MqttMessage, carriedFrom, type QoS } from './message.js';
import { DEFAULT_PRIORITY } from './router.js';
import type { MqttSession } from './session.js';
import { workInSlices, type SliceHost } from './slices.js';
import { splitShared } from './subscription.js';

/** What the handler needs of its MqttConnection (connection.ts), declared here to avoid an import cycle. */
export interface PacketConnection extends PublisherPort {
  readonly version: MqttVersion;
  readonly label: string;
  /** Receive time of the current read (shared by its publishes). */
  readonly readStamp: Stamp;
  send(packet: Buffer): void;
  clientDisconnected(reason: number, expiry: number | undefined): void;
  disconnectWith(reason: number, withWill: boolean, text?: string): void;
  /** Reads no further packet until release() (a packet worked off over several turns). */
  hold(): void;
  release(): void;
  /** False once the connection is closing. */
  readonly open: boolean;
  fail(e: unknown, reply: boolean): void;
}

export class PacketHandler {
  /** Inbound topic aliases (v5): alias → topic, set by the client. */
  private aliases: Map<number, string> | null = null;
  /** The last publish topic, its PSRT (normalised) form and whether the ACL allows it. */
  private lastTopic: string | null = null;
  private lastPsrtTopic = '';
  private lastAllowed = false;
  /** A packet past server.max_topics_per_subscribe was logged (once per connection). */
  private loggedTooMany = false;
  private readonly slices: SliceHost;

  constructor(
    private readonly ctx: MqttContext,
    private readonly conn: PacketConnection,
    private readonly session: MqttSession,
  ) {
    this.slices = {
      hold: () => { conn.hold(); },
      release: () => { conn.release(); },
      live: () => conn.open && !session.ended,
      fail: (e) => { conn.fail(e, true); },
    };
  }

  handle(p: MqttPacket): void {
    switch (p.type) {
      case 'publish':
        this.publish(p);
        return;
      case 'puback':
      case 'pubcomp':
        this.session.completed(p.packetId); // an unknown id is ignored (it may predate a reconnect)
        return;
      case 'pubrec':
        this.pubrec(p);
        return;
      case 'pubrel':
        this.pubrel(p);
        return;
      case 'subscribe':
        this.subscribe(p);
        return;
      case 'unsubscribe':
        this.unsubscribe(p);
        return;
      case 'pingreq':
        this.conn.send(PINGRESP);
        return;
      case 'disconnect':
        this.disconnect(p);
        return;
      case 'auth':
        this.conn.disconnectWith(ReasonCode.BadAuthenticationMethod, true, 'enhanced authentication (AUTH) is not supported');
        return;
      default:
        throw new MqttError(ReasonCode.ProtocolError, `unexpected ${p.type} packet from a client`);
    }
  }

  private publish(p: PublishPacket): void {
    const topic = this.resolveTopic(p);
    const version = this.conn.version;
    const qos = p.qos;
    if (qos === 2 && this.session.hasInboundQos2(p.packetId ?? 0)) {
      this.conn.send(encodeAck('pubrec', p.packetId ?? 0, 0, version)); // a resend: no second delivery
      return;
    }
    if (topic !== this.lastTopic) this.checkTopic(topic);
    if (!this.lastAllowed) {
      this.ctx.router.counters.deniedPublishes++;
      this.ctx.log.error(`mqtt: pub access denied for ${escapeForLog(topic)} to ${this.conn.label}`);
      if (qos > 0) this.conn.send(encodeAck(qos === 1 ? 'puback' : 'pubrec', p.packetId ?? 0, ReasonCode.NotAuthorized, version));
      return;
    }
    // Checked before publishing: the publish that exceeds Receive Maximum must not be forwarded.
    if (qos === 2 && this.session.inboundQos2Count >= this.ctx.limits.receiveMaximum) {
      throw new MqttError(ReasonCode.ReceiveMaximumExceeded, 'more QoS 2 publishes unreleased than Receive Maximum');
    }
    const msg = new MqttMessage(topic, p.payload, qos, p.retain, DEFAULT_PRIORITY, this.conn.readStamp, carriedFrom(p.properties), this.session);
    msg.psrtTopic = this.lastPsrtTopic;
    this.ctx.router.publish(msg, this.conn);
    if (qos === 1) {
      this.conn.send(encodeAck('puback', p.packetId ?? 0, 0, version));
    } else if (qos === 2) {
      this.session.addInboundQos2(p.packetId ?? 0);
      this.conn.send(encodeAck('pubrec', p.packetId ?? 0, 0, version));
    }
  }

  /**
   * Normalises and authorises a publish topic once for a run of publishes to it (publishers
   * mostly repeat their topics): the ACL decision is the session's login-time one anyway.
   */
  private checkTopic(topic: string): void {
    this.lastTopic = topic;
    this.lastPsrtTopic = normalizeTopic(topic);
    this.lastAllowed = this.session.acl.canPublish(this.lastPsrtTopic);
  }

  /** The topic of a PUBLISH after v5 topic aliases (set, or look up for an empty topic). */
  private resolveTopic(p: PublishPacket): string {
    const alias = p.properties?.topicAlias;
    if (alias === undefined) return p.topic;
    if (alias === 0 || alias > this.ctx.limits.topicAliasMaximum) {
      throw new MqttError(ReasonCode.TopicAliasInvalid, `topic alias ${alias} out of range`);
    }
    if (p.topic !== '') {
      (this.aliases ??= new Map()).set(alias, p.topic);
      return p.topic;
    }
    const known = this.aliases?.get(alias);
    if (known === undefined) throw new MqttError(ReasonCode.ProtocolError, `unknown topic alias ${alias}`);
    return known;
  }

  private pubrec(p: AckPacket): void {
    this.session.received(p.packetId, p.reasonCode >= 0x80);
  }

  private pubrel(p: AckPacket): void {
    const known = this.session.releaseInboundQos2(p.packetId);
    const reason = known || this.conn.version === 4 ? 0 : ReasonCode.PacketIdentifierNotFound;
    this.conn.send(encodeAck('pubcomp', p.packetId, reason, this.conn.version));
  }

  private subscribe(p: SubscribePacket): void {
    const version = this.conn.version;
    if (p.tooMany !== undefined) {
      // Every filter gets a failure code (the SUBACK must answer each), none is decoded.
      this.tooMany('SUBSCRIBE');
      const code = version === 5 ? ReasonCode.QuotaExceeded : SUBACK_FAILURE_311;
      this.conn.send(encodeSuback(p.packetId, new Array<number>(p.tooMany).fill(code), undefined, version));
      return;
    }
    const id = p.properties?.subscriptionIdentifiers?.[0] ?? 0;
    const subs = p.subscriptions;
    const codes = new Array<number>(subs.length);
    const retained: { msg: MqttMessage; qos: QoS }[] = [];
    const each = (i: number): void => {
      const code = this.subscribeOne(subs[i] as SubscribePacket['subscriptions'][number], id, retained);
      codes[i] = version === 5 ? code : subackCodeFor311(code); // 3.1.1 knows only 0x80 for a failure
    };
    workInSlices(subs.length, each, () => {
      this.conn.send(encodeSuback(p.packetId, codes, undefined, version));
      for (const r of retained) this.session.deliver(r.msg, r.qos, true, id === 0 ? null : [id], null);
    }, this.slices);
  }

  /** Logs a packet past server.max_topics_per_subscribe (once per connection); yields the turn. */
  private tooMany(kind: 'SUBSCRIBE' | 'UNSUBSCRIBE'): void {
    if (!this.loggedTooMany) {
      this.loggedTooMany = true;
      this.ctx.log.error(`mqtt: ${this.conn.label}: ${kind} with more than server.max_topics_per_subscribe (${this.ctx.limits.maxFiltersPerPacket}) filters refused`);
    }
    // Counting a huge packet's filters took a while: let others run before its next packet.
    this.conn.hold();
    setImmediate(() => { this.conn.release(); });
  }

  /** True when the session may hold one more subscription `key`; logs the first refusal. */
  private roomFor(key: string): boolean {
    const s = this.session;
    const { maxSubscriptions, maxSubscriptionBytes } = this.ctx.limits;
    let limit: string;
    if (s.subscriptions.size >= maxSubscriptions) limit = `server.max_subscriptions ${maxSubscriptions}`;
    else if (s.subscriptionChars + key.length > maxSubscriptionBytes) limit = `server.max_subscription_bytes ${maxSubscriptionBytes}`;
    else return true;
    if (!s.limitLogged) {
      s.limitLogged = true;
      this.ctx.log.error(`mqtt: ${this.conn.label}: subscription limit (${limit}) reached`);
    }
    return false;
  }

  private subscribeOne(s: SubscribePacket['subscriptions'][number], id: number, retained: { msg: MqttMessage; qos: QoS }[]): number {
    const shared = splitShared(s.filter);
    const filter = shared === null ? s.filter : shared.filter;
    if (shared !== null && (shared.group === '' || /[+#]/.test(shared.group) || !isValidMqttTopicFilter(filter))) {
      return ReasonCode.TopicFilterInvalid;
    }
    if (shared !== null && s.noLocal) throw new MqttError(ReasonCode.ProtocolError, 'no local on a shared subscription');
    if (!isValidMqttTopicFilter(filter)) return ReasonCode.TopicFilterInvalid;
    if (!this.session.acl.canSubscribe(filter)) {
      this.ctx.log.error(`mqtt: sub access denied for ${escapeForLog(s.filter)} to ${this.conn.label}`);
      return this.conn.version === 5 ? ReasonCode.NotAuthorized : 0x80;
    }
    // Replacing a subscription the session holds is always allowed.
    if (this.session.subscriptions.get(s.filter) === undefined && !this.roomFor(s.filter)) return ReasonCode.QuotaExceeded;
    const options = { qos: s.qos, noLocal: s.noLocal, retainAsPublished: s.retainAsPublished, retainHandling: s.retainHandling, identifier: id };
    const existed = this.ctx.router.subscribe(this.session, s.filter, options);
    this.ctx.broker.counters.subOps++;
    const wantRetained = shared === null && (s.retainHandling === 0 || (s.retainHandling === 1 && !existed));
    if (wantRetained) {
      for (const msg of this.ctx.router.retainedFor(filter)) retained.push({ msg, qos: Math.min(msg.qos, s.qos) as QoS });
    }
    return s.qos;
  }

  private unsubscribe(p: UnsubscribePacket): void {
    const version = this.conn.version;
    if (p.tooMany !== undefined) {
      // v5: 0x83, "valid, but the Server does not accept it", per filter. A 3.1.1 UNSUBACK has
      // no codes: plain, nothing removed (as Mosquitto answers an UNSUBSCRIBE its ACL denies).
      this.tooMany('UNSUBSCRIBE');
      const codes = version === 5 ? new Array<number>(p.tooMany).fill(ReasonCode.ImplementationSpecificError) : [];
      this.conn.send(encodeUnsuback(p.packetId, codes, undefined, version));
      return;
    }
    const filters = p.filters;
    const codes = new Array<number>(filters.length);
    const each = (i: number): void => {
      codes[i] = this.ctx.router.unsubscribe(this.session, filters[i] ?? '') ? 0 : ReasonCode.NoSubscriptionExisted;
      this.ctx.broker.counters.subOps++;
    };
    workInSlices(filters.length, each, () => {
      this.conn.send(encodeUnsuback(p.packetId, codes, undefined, version));
    }, this.slices);
  }

  private disconnect(p: DisconnectPacket): void {
    const expiry = p.properties?.sessionExpiryInterval;
    if (expiry !== undefined && this.session.expiryInterval === 0 && expiry !== 0) {
      throw new MqttError(ReasonCode.ProtocolError, 'session expiry set on DISCONNECT after 0 on CONNECT');
    }
    const capped = expiry === undefined ? undefined : Math.min(expiry, this.ctx.limits.maxSessionExpiry);
    this.conn.clientDisconnected(p.reasonCode, capped);
  }
}
