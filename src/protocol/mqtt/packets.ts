/**
 * Typed MQTT 3.1.1 (protocol level 4) and 5.0 (level 5) control packets.
 *
 * One shape serves both versions: fields that only exist on the v5 wire (reason codes on acks,
 * properties) take their spec defaults when a 3.1.1 packet is decoded and are ignored when a
 * 3.1.1 packet is encoded.
 *
 * MQTT 3.1 (protocol name "MQIsdp", level 3) is version 4 here: its packets have the 3.1.1
 * layout, and only its CONNECT (name and level) and CONNACK (no session-present flag) differ.
 */

export type MqttVersion = 4 | 5;

/** The protocol level of MQTT 3.1, whose protocol name is "MQIsdp". */
export const MQTT31_LEVEL = 3;
export type QoS = 0 | 1 | 2;

/**
 * Every MQTT 5 property (spec §2.2.2.2). Byte-valued flags are kept as numbers, as on the wire.
 * `userProperties` keeps wire order and duplicates; `subscriptionIdentifiers` is a list because
 * a PUBLISH may carry several (a SUBSCRIBE carries at most one).
 */
export interface MqttProperties {
  payloadFormatIndicator?: number;
  messageExpiryInterval?: number;
  contentType?: string;
  responseTopic?: string;
  correlationData?: Buffer;
  subscriptionIdentifiers?: number[];
  sessionExpiryInterval?: number;
  assignedClientIdentifier?: string;
  serverKeepAlive?: number;
  authenticationMethod?: string;
  authenticationData?: Buffer;
  requestProblemInformation?: number;
  willDelayInterval?: number;
  requestResponseInformation?: number;
  responseInformation?: string;
  serverReference?: string;
  reasonString?: string;
  receiveMaximum?: number;
  topicAliasMaximum?: number;
  topicAlias?: number;
  maximumQoS?: number;
  retainAvailable?: number;
  userProperties?: [string, string][];
  maximumPacketSize?: number;
  wildcardSubscriptionAvailable?: number;
  subscriptionIdentifiersAvailable?: number;
  sharedSubscriptionAvailable?: number;
}

export interface MqttWill {
  topic: string;
  payload: Buffer;
  qos: QoS;
  retain: boolean;
  properties?: MqttProperties;
}

export interface ConnectPacket {
  type: 'connect';
  protocolName: 'MQTT' | 'MQIsdp';
  /** The level byte as sent (3 with "MQIsdp", 4 or 5 with "MQTT" once decoded: others are rejected). */
  protocolLevel: number;
  cleanStart: boolean;
  keepAlive: number;
  clientId: string;
  username?: string;
  password?: Buffer;
  will?: MqttWill;
  properties?: MqttProperties;
}

export interface ConnackPacket {
  type: 'connack';
  sessionPresent: boolean;
  /** v5 reason code, or the 3.1.1 return code 0..5. */
  reasonCode: number;
  properties?: MqttProperties;
}

export interface PublishPacket {
  type: 'publish';
  /** May be '' in v5 when a topicAlias property names the topic. */
  topic: string;
  /** A view into the received bytes, not a copy: copy it to keep it past the read. */
  payload: Buffer;
  qos: QoS;
  retain: boolean;
  dup: boolean;
  /** Present iff qos > 0. */
  packetId?: number;
  properties?: MqttProperties;
}

export type AckType = 'puback' | 'pubrec' | 'pubrel' | 'pubcomp';

export interface AckPacket {
  type: AckType;
  packetId: number;
  /** 0 (Success) unless a v5 peer sent another code. */
  reasonCode: number;
  properties?: MqttProperties;
}

export type RetainHandling = 0 | 1 | 2;

export interface Subscription {
  filter: string;
  qos: QoS;
  noLocal: boolean;
  retainAsPublished: boolean;
  retainHandling: RetainHandling;
}

export interface SubscribePacket {
  type: 'subscribe';
  packetId: number;
  subscriptions: Subscription[];
  properties?: MqttProperties;
  /**
   * Set when the packet holds more filters than the decoder's limit: their number. Nothing
   * past the count was decoded and `subscriptions` is empty.
   */
  tooMany?: number;
}

export interface SubackPacket {
  type: 'suback';
  packetId: number;
  reasonCodes: number[];
  properties?: MqttProperties;
}

export interface UnsubscribePacket {
  type: 'unsubscribe';
  packetId: number;
  filters: string[];
  properties?: MqttProperties;
  /** As SubscribePacket.tooMany; `filters` is then empty. */
  tooMany?: number;
}

export interface UnsubackPacket {
  type: 'unsuback';
  packetId: number;
  /** One per filter in v5; always empty for 3.1.1 (its UNSUBACK has no payload). */
  reasonCodes: number[];
  properties?: MqttProperties;
}

export interface PingreqPacket {
  type: 'pingreq';
}

export interface PingrespPacket {
  type: 'pingresp';
}

export interface DisconnectPacket {
  type: 'disconnect';
  reasonCode: number;
  properties?: MqttProperties;
}

export interface AuthPacket {
  type: 'auth';
  reasonCode: number;
  properties?: MqttProperties;
}

export type MqttPacket =
  | ConnectPacket
  | ConnackPacket
  | PublishPacket
  | AckPacket
  | SubscribePacket
  | SubackPacket
  | UnsubscribePacket
  | UnsubackPacket
  | PingreqPacket
  | PingrespPacket
  | DisconnectPacket
  | AuthPacket;

export type MqttPacketType = MqttPacket['type'];

/** Control packet type numbers (high nibble of the first byte). */
export const PacketTypeCode = {
  connect: 1,
  connack: 2,
  publish: 3,
  puback: 4,
  pubrec: 5,
  pubrel: 6,
  pubcomp: 7,
  subscribe: 8,
  suback: 9,
  unsubscribe: 10,
  unsuback: 11,
  pingreq: 12,
  pingresp: 13,
  disconnect: 14,
  auth: 15,
} as const satisfies Record<MqttPacketType, number>;
