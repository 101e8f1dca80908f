/**
 * CONNECT acceptance: which client id, session expiry, keep alive and will a connection gets,
 * or which CONNACK refusal it gets, before and after authentication. No sockets here.
 */
import { randomBytes } from 'node:crypto';
import type { AuthResult } from '../auth/auth-store.js';
import {
  MQTT31_LEVEL,
  ReasonCode,
  connackCodeFor311,
  encodeConnack,
  encodeConnack31,
  type ConnectPacket,
  type MqttProperties,
  type MqttVersion,
} from '../protocol/mqtt/index.js';
import { isValidMqttTopicName } from '../topics/index.js';
import { Stamp } from '../broker/delivery.js';
import { MqttMessage, carriedFrom } from './message.js';

/** A will's receive time is set when it is published (MqttRouter.publishWill). */
const NO_STAMP = new Stamp(0);
import { DEFAULT_PRIORITY } from './router.js';
import type { Will } from './session.js';

export interface ConnectLimits {
  readonly maxKeepAlive: number;
  readonly maxSessionExpiry: number;
  readonly receiveMaximum: number;
  readonly maxPacketSize: number;
  readonly topicAliasMaximum: number;
}

export interface AcceptedConnect {
  readonly clientId: string;
  /** Set when the server chose the id (v5 Assigned Client Identifier). */
  readonly assigned: boolean;
  readonly expiryInterval: number;
  /** Seconds; 0 = no keep-alive check. */
  readonly keepAlive: number;
  readonly will: Will | null;
}

export type ConnectDecision = { readonly ok: true; readonly accepted: AcceptedConnect } | { readonly ok: false; readonly reason: number; readonly text: string };

/** Checks that need no credentials (client id, enhanced auth, will topic). */
export function decideConnect(p: ConnectPacket, version: MqttVersion, limits: ConnectLimits): ConnectDecision {
  if (p.properties?.authenticationMethod !== undefined) {
    return { ok: false, reason: ReasonCode.BadAuthenticationMethod, text: 'enhanced authentication (AUTH) is not supported' };
  }
  let clientId = p.clientId;
  let assigned = false;
  if (clientId === '') {
    // 3.1 requires an identifier (1 to 23 characters): Mosquitto refuses an empty one whatever
    // the clean session flag, and accepts longer ones (as 3.1.1 allows), as psrtd does.
    if (p.protocolLevel === MQTT31_LEVEL) {
      return { ok: false, reason: ReasonCode.ClientIdentifierNotValid, text: 'MQTT 3.1 needs a client id' };
    }
    if (version === 4 && !p.cleanStart) {
      return { ok: false, reason: ReasonCode.ClientIdentifierNotValid, text: 'an empty client id needs clean session' };
    }
    clientId = `auto-${randomBytes(12).toString('hex')}`;
    assigned = true;
  }
  let expiry: number;
  if (version === 5) expiry = p.properties?.sessionExpiryInterval ?? 0;
  else expiry = p.cleanStart ? 0 : limits.maxSessionExpiry;
  expiry = Math.min(expiry, limits.maxSessionExpiry);
  // Only v5 can be told a lower value (Server Keep Alive); a 3.1.1 client keeps pinging at its
  // own interval, so enforcing a lower one would cut it for doing what it announced.
  const keepAlive = version === 5 && p.keepAlive > limits.maxKeepAlive ? limits.maxKeepAlive : p.keepAlive;
  let will: Will | null = null;
  if (p.will !== undefined) {
    if (!isValidMqttTopicName(p.will.topic)) return { ok: false, reason: ReasonCode.TopicNameInvalid, text: 'invalid will topic' };
    const props = p.will.properties;
    const msg = new MqttMessage(p.will.topic, Buffer.from(p.will.payload), p.will.qos, p.will.retain, DEFAULT_PRIORITY, NO_STAMP, carriedFrom(props), null);
    will = { message: msg, delay: props?.willDelayInterval ?? 0 };
  }
  return { ok: true, accepted: { clientId, assigned, expiryInterval: expiry, keepAlive, will } };
}

/** CONNACK reason for a failed login (Mosquitto's choices for 3.1.1 return codes). */
export function loginRefusal(result: Extract<AuthResult, { ok: false }>): number {
  return result.code === 'LoginFailed' ? ReasonCode.BadUserNameOrPassword : ReasonCode.NotAuthorized;
}

/**
 * A refusing CONNACK in the client's version (3.1.1 return codes have fewer values); v5 leaves
 * the reason string out when it would pass the client's Maximum Packet Size [MQTT-3.2.2-19].
 */
export function refusal(reason: number, text: string, version: MqttVersion, maxPacket = 0x0fffffff): Buffer {
  if (version === 4) return encodeConnack(false, connackCodeFor311(reason), undefined, 4);
  const full = encodeConnack(false, reason, { reasonString: text }, 5);
  return full.length <= maxPacket ? full : encodeConnack(false, reason, undefined, 5);
}

/**
 * The accepting CONNACK: v5 tells the client the server's limits and what it changed; 3.1 has
 * no session-present flag (a refusal has it clear in every version).
 */
export function acceptance(p: ConnectPacket, a: AcceptedConnect, present: boolean, version: MqttVersion, limits: ConnectLimits): Buffer {
  if (p.protocolLevel === MQTT31_LEVEL) return encodeConnack31(0);
  if (version === 4) return encodeConnack(present, 0, undefined, 4);
  const props: MqttProperties = {
    receiveMaximum: limits.receiveMaximum,
    maximumPacketSize: limits.maxPacketSize,
    topicAliasMaximum: limits.topicAliasMaximum,
    wildcardSubscriptionAvailable: 1,
    subscriptionIdentifiersAvailable: 1,
    sharedSubscriptionAvailable: 1,
  };
  if (a.assigned) props.assignedClientIdentifier = a.clientId;
  if (a.keepAlive !== p.keepAlive) props.serverKeepAlive = a.keepAlive;
  const requested = p.properties?.sessionExpiryInterval ?? 0;
  if (a.expiryInterval !== requested) props.sessionExpiryInterval = a.expiryInterval;
  return encodeConnack(present, 0, props, 5);
}
