/**
 * Body decoders, one per control packet type. Each gets a Reader bounded to its packet's body
 * and the fixed header's flag nibble, and must consume the body exactly: trailing bytes are a
 * Malformed Packet.
 */
import { MqttError, malformed, protocolError } from './errors.js';
import { MQTT31_LEVEL } from './packets.js';
import type {
  AckPacket,
  AckType,
  AuthPacket,
  ConnackPacket,
  ConnectPacket,
  DisconnectPacket,
  MqttProperties,
  MqttVersion,
  MqttWill,
  PublishPacket,
  QoS,
  SubackPacket,
  SubscribePacket,
  Subscription,
  UnsubackPacket,
  UnsubscribePacket,
} from './packets.js';
import { PropContext, readProperties } from './properties.js';
import type { Reader } from './reader.js';
import { ReasonCode } from './reason-codes.js';

function done(r: Reader, what: string): void {
  if (r.remaining !== 0) throw malformed(`${r.remaining} trailing bytes in ${what}`);
}

/** Non-zero packet identifier (§2.2.1: a packet that needs one must not use 0). */
function packetId(r: Reader): number {
  const id = r.u16('packet identifier');
  if (id === 0) throw protocolError('packet identifier 0');
  return id;
}

/** Wildcards are for filters only (§4.7.1): a topic name holding one is invalid. */
export function checkTopicName(topic: string): void {
  if (topic.includes('+') || topic.includes('#')) {
    throw new MqttError(ReasonCode.TopicNameInvalid, `wildcard in topic name '${topic}'`);
  }
}

/**
 * Protocol name and level; the level decides the version the rest of the stream speaks. MQTT 3.1
 * ("MQIsdp", level 3) is 3.1.1 on the wire but for CONNECT/CONNACK, so its version is 4; only
 * the exact pairings are known, anything else is an unacceptable version (CONNACK 0x01).
 */
function readProtocol(r: Reader): { name: 'MQTT' | 'MQIsdp'; level: number; version: MqttVersion } {
  const name = r.str('protocol name');
  if (name !== 'MQTT' && name !== 'MQIsdp') throw malformed(`unknown protocol name '${name}'`);
  const level = r.u8('protocol level');
  if (name === 'MQTT' && (level === 4 || level === 5)) return { name, level, version: level };
  if (name === 'MQIsdp' && level === MQTT31_LEVEL) return { name, level, version: 4 };
  throw new MqttError(ReasonCode.UnsupportedProtocolVersion, `unsupported protocol ${name} level ${level}`);
}

interface ConnectFlags {
  cleanStart: boolean;
  will: boolean;
  willQos: QoS;
  willRetain: boolean;
  password: boolean;
  username: boolean;
}

/**
 * 3.1 (`v31`) leaves the reserved bit and the will QoS/retain of a CONNECT without a will
 * unchecked: its specification does not require them to be 0, and Mosquitto accepts them.
 */
function readConnectFlags(r: Reader, version: MqttVersion, v31: boolean): ConnectFlags {
  const f = r.u8('connect flags');
  const will = (f & 0x04) !== 0;
  let willQos = (f >> 3) & 0x03;
  let willRetain = (f & 0x20) !== 0;
  if (v31 && !will) {
    willQos = 0;
    willRetain = false;
  }
  if (!v31 && (f & 0x01) !== 0) throw malformed('connect flags reserved bit set');
  if (willQos === 3) throw malformed('will QoS 3');
  if (!will && (willQos !== 0 || willRetain)) throw malformed('will QoS/retain without will flag');
  const password = (f & 0x40) !== 0;
  const username = (f & 0x80) !== 0;
  if (version === 4 && password && !username) throw malformed('password flag without user name flag');
  return { cleanStart: (f & 0x02) !== 0, will, willQos: willQos as QoS, willRetain, password, username };
}

export function decodeConnect(r: Reader): ConnectPacket {
  const { name, level, version } = readProtocol(r);
  const v31 = level === MQTT31_LEVEL;
  const flags = readConnectFlags(r, version, v31);
  const keepAlive = r.u16('keep alive');
  const properties = version === 5 ? readProperties(r, PropContext.connect) : undefined;
  const packet: ConnectPacket = {
    type: 'connect',
    protocolName: name,
    protocolLevel: level,
    cleanStart: flags.cleanStart,
    keepAlive,
    clientId: r.str('client identifier'),
  };
  if (properties !== undefined) packet.properties = properties;
  if (flags.will) packet.will = readWill(r, version, flags);
  // 3.1 lets the packet end where a flagged user name or password would be: the length
  // decides, and the field is absent (3.1 §3.1 "User name flag"; Mosquitto does the same).
  if (flags.username && !(v31 && r.remaining === 0)) packet.username = r.str('user name');
  if (flags.password && !(v31 && r.remaining === 0)) packet.password = r.bin('password');
  done(r, 'CONNECT');
  return packet;
}

function readWill(r: Reader, version: MqttVersion, flags: ConnectFlags): MqttWill {
  const properties = version === 5 ? readProperties(r, PropContext.will) : undefined;
  const topic = r.str('will topic');
  // A topic name has at least one character (§4.7.3); the CONNECT is a protocol violation.
  if (topic === '') throw new MqttError(ReasonCode.TopicNameInvalid, 'empty will topic');
  checkTopicName(topic);
  const will: MqttWill = { topic, payload: r.bin('will payload'), qos: flags.willQos, retain: flags.willRetain };
  if (properties !== undefined) will.properties = properties;
  return will;
}

export function decodeConnack(r: Reader, version: MqttVersion): ConnackPacket {
  const flags = r.u8('connack flags');
  if ((flags & 0xfe) !== 0) throw malformed('connack flags reserved bits set');
  const packet: ConnackPacket = { type: 'connack', sessionPresent: flags === 1, reasonCode: r.u8('reason code') };
  // Lenient: a v5 CONNACK without the property length is read as having no properties.
  if (version === 5 && r.remaining > 0) {
    const properties = readProperties(r, PropContext.connack);
    if (properties !== undefined) packet.properties = properties;
  }
  done(r, 'CONNACK');
  return packet;
}

export function decodePublish(r: Reader, flags: number, version: MqttVersion): PublishPacket {
  const qos = ((flags >> 1) & 0x03) as QoS;
  const topic = r.str('topic name');
  checkTopicName(topic);
  const id = qos > 0 ? packetId(r) : 0;
  const properties = version === 5 ? readProperties(r, PropContext.publish) : undefined;
  if (topic === '' && properties?.topicAlias === undefined) {
    throw protocolError('empty topic name without a topic alias');
  }
  const packet: PublishPacket = {
    type: 'publish',
    topic,
    payload: r.buf.subarray(r.pos, r.end),
    qos,
    retain: (flags & 0x01) !== 0,
    dup: (flags & 0x08) !== 0,
  };
  if (qos > 0) packet.packetId = id;
  if (properties !== undefined) packet.properties = properties;
  return packet;
}

/** Reason code and properties that v5 lets a sender omit when they are 0 and empty. */
function readReasonTail(
  r: Reader,
  version: MqttVersion,
  context: PropContext,
  packet: { reasonCode: number; properties?: MqttProperties },
): void {
  if (version === 5 && r.remaining > 0) {
    packet.reasonCode = r.u8('reason code');
    if (r.remaining > 0) {
      const properties = readProperties(r, context);
      if (properties !== undefined) packet.properties = properties;
    }
  }
}

export function decodeAck(r: Reader, type: AckType, version: MqttVersion): AckPacket {
  const packet: AckPacket = { type, packetId: packetId(r), reasonCode: 0 };
  readReasonTail(r, version, PropContext.ack, packet);
  done(r, type.toUpperCase());
  return packet;
}

function readSubscription(r: Reader, version: MqttVersion): Subscription {
  const filter = r.str('topic filter');
  const o = r.u8('subscription options');
  if ((o & (version === 5 ? 0xc0 : 0xfc)) !== 0) throw malformed('subscription options reserved bits set');
  const qos = o & 0x03;
  if (qos === 3) throw malformed('requested QoS 3');
  const retainHandling = (o >> 4) & 0x03;
  if (retainHandling === 3) throw protocolError('retain handling 3');
  return {
    filter,
    qos: qos as QoS,
    noLocal: (o & 0x04) !== 0,
    retainAsPublished: (o & 0x08) !== 0,
    retainHandling: retainHandling as Subscription['retainHandling'],
  };
}

/**
 * Entries of a SUBSCRIBE/UNSUBSCRIBE payload (a length-prefixed filter, plus `trailer` option
 * bytes each), counted by their length fields alone; an entry running past the packet is
 * malformed. The reader does not move. For a packet past the limit this is all the work done:
 * a 1 MB packet of tiny filters costs a walk over its length fields (~1 ms), not ~100,000
 * strings and objects.
 */
export function countFilters(r: Reader, trailer: number): number {
  const buf = r.buf;
  let pos = r.pos;
  let count = 0;
  while (pos < r.end) {
    if (pos + 2 > r.end) throw malformed('topic filter runs past the end of the packet');
    pos += 2 + buf.readUInt16BE(pos) + trailer;
    if (pos > r.end) throw malformed('topic filter runs past the end of the packet');
    count++;
  }
  return count;
}

export function decodeSubscribe(r: Reader, version: MqttVersion, maxFilters = Infinity): SubscribePacket {
  const packet: SubscribePacket = { type: 'subscribe', packetId: packetId(r), subscriptions: [] };
  if (version === 5) {
    const properties = readProperties(r, PropContext.subscribe);
    if (properties !== undefined) packet.properties = properties;
  }
  if (maxFilters !== Infinity) {
    const count = countFilters(r, 1);
    if (count > maxFilters) {
      packet.tooMany = count;
      return packet;
    }
  }
  while (r.remaining > 0) packet.subscriptions.push(readSubscription(r, version));
  if (packet.subscriptions.length === 0) throw protocolError('SUBSCRIBE without subscriptions');
  return packet;
}

export function decodeSuback(r: Reader, version: MqttVersion): SubackPacket {
  const packet: SubackPacket = { type: 'suback', packetId: packetId(r), reasonCodes: [] };
  if (version === 5) {
    const properties = readProperties(r, PropContext.suback);
    if (properties !== undefined) packet.properties = properties;
  }
  while (r.remaining > 0) packet.reasonCodes.push(r.u8());
  return packet;
}

export function decodeUnsubscribe(r: Reader, version: MqttVersion, maxFilters = Infinity): UnsubscribePacket {
  const packet: UnsubscribePacket = { type: 'unsubscribe', packetId: packetId(r), filters: [] };
  if (version === 5) {
    const properties = readProperties(r, PropContext.unsubscribe);
    if (properties !== undefined) packet.properties = properties;
  }
  if (maxFilters !== Infinity) {
    const count = countFilters(r, 0);
    if (count > maxFilters) {
      packet.tooMany = count;
      return packet;
    }
  }
  while (r.remaining > 0) packet.filters.push(r.str('topic filter'));
  if (packet.filters.length === 0) throw protocolError('UNSUBSCRIBE without topic filters');
  return packet;
}

export function decodeUnsuback(r: Reader, version: MqttVersion): UnsubackPacket {
  const packet: UnsubackPacket = { type: 'unsuback', packetId: packetId(r), reasonCodes: [] };
  if (version === 5) {
    const properties = readProperties(r, PropContext.unsuback);
    if (properties !== undefined) packet.properties = properties;
    while (r.remaining > 0) packet.reasonCodes.push(r.u8());
  }
  done(r, 'UNSUBACK');
  return packet;
}

export function decodeDisconnect(r: Reader, version: MqttVersion): DisconnectPacket {
  const packet: DisconnectPacket = { type: 'disconnect', reasonCode: 0 };
  readReasonTail(r, version, PropContext.disconnect, packet);
  done(r, 'DISCONNECT');
  return packet;
}

export function decodeAuth(r: Reader): AuthPacket {
  const packet: AuthPacket = { type: 'auth', reasonCode: 0 };
  readReasonTail(r, 5, PropContext.auth, packet);
  done(r, 'AUTH');
  return packet;
}
