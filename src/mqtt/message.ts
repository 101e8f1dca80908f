/**
 * One message as the MQTT side sees it, whichever protocol it entered by. It carries the MQTT
 * properties that travel with a message (content type, user properties, …) and doubles as the
 * broker's MessageMeta, so hooks (bridges) see them without another object.
 *
 * The payload starts as a view into the publisher's read and is copied at most once, the first
 * time something must keep it (a QoS 1/2 queue, an offline session, the retained store).
 */
import { delivery, type Delivery, type FrameSlab, type Stamp } from '../broker/delivery.js';
import type { MessageMeta } from '../broker/ports.js';
import { encodePublish, plainPublishSize, writePlainPublish, type MqttProperties, type MqttVersion } from '../protocol/mqtt/index.js';

export type QoS = 0 | 1 | 2;

/** The v5 properties a message carries from its publisher to its subscribers. */
export interface CarriedProperties {
  readonly payloadFormatIndicator?: number | undefined;
  readonly messageExpiryInterval?: number | undefined;
  readonly contentType?: string | undefined;
  readonly responseTopic?: string | undefined;
  readonly correlationData?: Buffer | undefined;
  readonly userProperties?: readonly (readonly [string, string])[] | undefined;
}

export function carriedFrom(p: MqttProperties | undefined): CarriedProperties | null {
  if (p === undefined) return null;
  const c: CarriedProperties = {
    payloadFormatIndicator: p.payloadFormatIndicator,
    messageExpiryInterval: p.messageExpiryInterval,
    contentType: p.contentType,
    responseTopic: p.responseTopic,
    correlationData: p.correlationData,
    userProperties: p.userProperties,
  };
  for (const v of Object.values(c)) if (v !== undefined) return c;
  return null;
}

export function carriedFromMeta(meta: MessageMeta | null): CarriedProperties | null {
  if (meta === null) return null;
  if (
    meta.payloadFormatIndicator === undefined &&
    meta.messageExpiryInterval === undefined &&
    meta.contentType === undefined &&
    meta.responseTopic === undefined &&
    meta.correlationData === undefined &&
    meta.userProperties === undefined
  ) {
    return null;
  }
  return meta;
}

export class MqttMessage implements MessageMeta {
  /** Copied out of the publisher's read buffer (see own()). */
  private owned = false;
  /** Shared QoS 0 deliveries without per-subscriber parts: [v4, v4 retain, v5, v5 retain]. */
  private sharing = false;
  /** The one shared encoding kept during a fan-out (most fan-outs need one variant). */
  private plainSlot = -1;
  private plainDelivery: Delivery | null = null;
  /** See footprint(); -1 until first asked. */
  private footprintBytes = -1;
  /** The topic as PSRT sees it (normalised), when already known. */
  psrtTopic: string | null = null;
  /** Wall-clock ms when a message with an expiry interval stops being deliverable; 0 never. */
  readonly expiresAtMs: number;

  constructor(
    /** The topic as published: byte-exact for MQTT publishers, normalised for PSRT ones. */
    readonly rawTopic: string,
    public payload: Buffer,
    readonly qos: QoS,
    readonly retain: boolean,
    /** PSRT priority; MQTT publishes get the PSRT default. */
    readonly priority: number,
    /** When it was received (shared by the messages of one read; latency stats). */
    readonly received: Stamp,
    readonly props: CarriedProperties | null,
    /** The MQTT session that published it (no-local); null for other protocols. */
    readonly origin: object | null,
    /** Set by restamped(): the expiry of the original, not one counted from `received`. */
    expiresAtMs?: number,
  ) {
    const expiry = props?.messageExpiryInterval;
    this.expiresAtMs = expiresAtMs ?? (expiry === undefined ? 0 : received.us / 1000 + expiry * 1000);
  }

  /**
   * The same message handed on at `stamp` (a retained message sent on SUBSCRIBE): delivery
   * latency counts from then, not from the original publish, which may be hours old (every
   * SUBSCRIBE logged "high latency" and raised the average in /status); expiry is unchanged.
   */
  restamped(stamp: Stamp): MqttMessage {
    const m = new MqttMessage(this.rawTopic, this.payload, this.qos, this.retain, this.priority, stamp, this.props, this.origin, this.expiresAtMs);
    m.owned = this.owned;
    m.psrtTopic = this.psrtTopic;
    return m;
  }

  get receivedUs(): number {
    return this.received.us;
  }

  get contentType(): string | undefined {
    return this.props?.contentType;
  }
  get payloadFormatIndicator(): number | undefined {
    return this.props?.payloadFormatIndicator;
  }
  get messageExpiryInterval(): number | undefined {
    return this.props?.messageExpiryInterval;
  }
  get responseTopic(): string | undefined {
    return this.props?.responseTopic;
  }
  get correlationData(): Buffer | undefined {
    return this.props?.correlationData;
  }
  get userProperties(): readonly (readonly [string, string])[] | undefined {
    return this.props?.userProperties;
  }

  /** Makes the payload the message's own (before it outlives the publisher's read). */
  own(): this {
    if (!this.owned) {
      this.payload = Buffer.from(this.payload);
      this.owned = true;
    }
    return this;
  }

  /**
   * Memory the message holds while queued, for `mqtt.max_queued_bytes`: payload, topic and
   * properties, each user property with the ~64 bytes of objects it costs decoded (100,000
   * empty ones take ~10 MB, ten times their size on the wire).
   */
  footprint(): number {
    if (this.footprintBytes < 0) {
      let n = this.payload.length + this.rawTopic.length;
      const p = this.props;
      if (p !== null) {
        n += (p.contentType?.length ?? 0) + (p.responseTopic?.length ?? 0) + (p.correlationData?.length ?? 0);
        for (const [k, v] of p.userProperties ?? []) n += k.length + v.length + 64;
      }
      this.footprintBytes = n;
    }
    return this.footprintBytes;
  }

  expired(nowMs: number): boolean {
    return this.expiresAtMs !== 0 && nowMs >= this.expiresAtMs;
  }

  /**
   * The v5 properties of a PUBLISH to one subscriber: the carried ones with the remaining expiry
   * interval, plus that subscriber's subscription identifiers and topic alias.
   */
  propertiesFor(nowMs: number, subscriptionIds: readonly number[] | null, topicAlias: number): MqttProperties | undefined {
    const c = this.props;
    if (c === null && subscriptionIds === null && topicAlias === 0) return undefined;
    const p: MqttProperties = {};
    if (c !== null) {
      if (c.payloadFormatIndicator !== undefined) p.payloadFormatIndicator = c.payloadFormatIndicator;
      if (this.expiresAtMs !== 0) p.messageExpiryInterval = Math.max(0, Math.ceil((this.expiresAtMs - nowMs) / 1000));
      if (c.contentType !== undefined) p.contentType = c.contentType;
      if (c.responseTopic !== undefined) p.responseTopic = c.responseTopic;
      if (c.correlationData !== undefined) p.correlationData = c.correlationData;
      if (c.userProperties !== undefined) p.userProperties = c.userProperties.map(([k, v]) => [k, v]);
    }
    if (subscriptionIds !== null) p.subscriptionIdentifiers = [...subscriptionIds];
    if (topicAlias !== 0) p.topicAlias = topicAlias;
    return p;
  }

  /**
   * A QoS 0 PUBLISH with no per-subscriber parts, encoded once per protocol version and retain
   * flag and shared by every such subscriber's queue (fan-out encodes once, not once per
   * subscriber). Small ones are written into the broker's shared slabs (no buffer per message;
   * a subscriber's consecutive packets leave in one contiguous write).
   */
  plainQos0(version: MqttVersion, retain: boolean, slabs: FrameSlab): Delivery {
    const slot = (version === 5 ? 2 : 0) + (retain ? 1 : 0);
    if (slot === this.plainSlot && this.plainDelivery !== null) return this.plainDelivery;
    const d = this.encodePlain(version, retain, slabs);
    if (this.sharing) {
      this.plainSlot = slot;
      this.plainDelivery = d;
    }
    return d;
  }

  /**
   * Shares encodings between the subscribers of one fan-out. Only within it: a slab's bytes are
   * reused once written, so an encoding kept past the fan-out could point at other data.
   */
  shareEncodings(on: boolean): void {
    this.sharing = on;
    this.plainSlot = -1;
    this.plainDelivery = null;
  }

  private encodePlain(version: MqttVersion, retain: boolean, slabs: FrameSlab): Delivery {
    if (version === 5 && this.props !== null) {
      const props = this.propertiesFor(Date.now(), null, 0);
      return delivery(encodePublish(this.rawTopic, this.payload, 0, retain, false, 0, props, 5), this.received, this.rawTopic);
    }
    const topic = topicBytes(this.rawTopic);
    const topicLen = topic.length;
    const bytes = plainPublishSize(topicLen, this.payload.length, version);
    const offset = slabs.reserve(bytes);
    if (offset < 0) {
      return delivery(encodePublish(this.rawTopic, this.payload, 0, retain, false, 0, undefined, version), this.received, this.rawTopic);
    }
    const slab = slabs.currentSlab;
    writePlainPublish(slab.buffer, offset, topic, this.payload, retain, version);
    return { buffer: slab.buffer, slab, offset, bytes, messages: 1, pieces: null, received: this.received, topic: this.rawTopic };
  }
}

/**
 * The UTF-8 bytes of the last topic encoded: consecutive messages mostly share a topic, and a
 * string compare is far cheaper than measuring and writing the string again.
 */
let lastTopic = '';
let lastTopicBytes = Buffer.alloc(0);

function topicBytes(topic: string): Buffer {
  if (topic !== lastTopic) {
    lastTopicBytes = Buffer.from(topic, 'utf8');
    lastTopic = topic;
  }
  return lastTopicBytes;
}
