/**
 * MQTT encoder: `encodePacket` for any packet of either direction, plus the helpers the broker
 * calls per message. Every function sizes the packet first and fills exactly one allocation.
 * Properties are written only for v5, as given, in key order (the caller decides which ones
 * a packet may carry).
 */
import type {
  AckType,
  ConnectPacket,
  MqttPacket,
  MqttProperties,
  MqttVersion,
  QoS,
  SubscribePacket,
} from './packets.js';
import { PacketTypeCode } from './packets.js';
import { BufferSink, SizeSink, propertyListSize, varintSize, writeVarint, type Sink } from './sink.js';

/** Fixed-header first byte for each type (flags 0b0010 where the spec requires them). */
function firstByte(type: MqttPacket['type']): number {
  const code = PacketTypeCode[type] << 4;
  return type === 'pubrel' || type === 'subscribe' || type === 'unsubscribe' ? code | 0x02 : code;
}

/** Runs `body` twice — sizing, then writing — under a fixed header with first byte `first`. */
function build(first: number, body: (s: Sink) => void): Buffer {
  const size = new SizeSink();
  body(size);
  const remaining = size.size;
  const buf = Buffer.allocUnsafe(1 + varintSize(remaining) + remaining);
  buf[0] = first;
  const sink = new BufferSink(buf);
  sink.pos = writeVarint(buf, 1, remaining);
  body(sink);
  return buf;
}

function connectBody(s: Sink, p: ConnectPacket, version: MqttVersion): void {
  s.str(p.protocolName);
  s.u8(p.protocolLevel);
  const will = p.will;
  let flags = p.cleanStart ? 0x02 : 0;
  if (will !== undefined) flags |= 0x04 | (will.qos << 3) | (will.retain ? 0x20 : 0);
  if (p.password !== undefined) flags |= 0x40;
  if (p.username !== undefined) flags |= 0x80;
  s.u8(flags);
  s.u16(p.keepAlive);
  if (version === 5) s.props(p.properties);
  s.str(p.clientId);
  if (will !== undefined) {
    if (version === 5) s.props(will.properties);
    s.str(will.topic);
    s.bin(will.payload);
  }
  if (p.username !== undefined) s.str(p.username);
  if (p.password !== undefined) s.bin(p.password);
}

function subscribeBody(s: Sink, p: SubscribePacket, version: MqttVersion): void {
  s.u16(p.packetId);
  if (version === 5) s.props(p.properties);
  for (const sub of p.subscriptions) {
    s.str(sub.filter);
    let o = sub.qos;
    if (version === 5) {
      o |= (sub.noLocal ? 0x04 : 0) | (sub.retainAsPublished ? 0x08 : 0) | (sub.retainHandling << 4);
    }
    s.u8(o);
  }
}

/** v5 reason code + properties, omitted entirely when 0 and empty (§3.4.2.1, §3.14.2.1). */
function reasonTail(s: Sink, reasonCode: number, properties: MqttProperties | undefined): void {
  const listSize = propertyListSize(properties);
  if (reasonCode === 0 && listSize === 0) return;
  s.u8(reasonCode);
  if (listSize > 0) s.props(properties, listSize);
}

function codes(s: Sink, list: readonly number[]): void {
  for (const c of list) s.u8(c);
}

/**
 * Encodes any packet for `version`; v5-only fields are dropped for 3.1.1. A CONNECT carries its
 * own protocolLevel byte, but `version` decides its layout.
 */
export function encodePacket(packet: MqttPacket, version: MqttVersion): Buffer {
  const v5 = version === 5;
  const p = packet;
  switch (p.type) {
    case 'connect':
      return build(firstByte(p.type), (s) => {
        connectBody(s, p, version);
      });
    case 'connack':
      return encodeConnack(p.sessionPresent, p.reasonCode, p.properties, version);
    case 'publish':
      return encodePublish(p.topic, p.payload, p.qos, p.retain, p.dup, p.packetId ?? 0, p.properties, version);
    case 'puback':
    case 'pubrec':
    case 'pubrel':
    case 'pubcomp':
      return encodeAck(p.type, p.packetId, p.reasonCode, version, p.properties);
    case 'subscribe':
      return build(firstByte(p.type), (s) => {
        subscribeBody(s, p, version);
      });
    case 'suback':
      return encodeSuback(p.packetId, p.reasonCodes, p.properties, version);
    case 'unsubscribe':
      return build(firstByte(p.type), (s) => {
        s.u16(p.packetId);
        if (v5) s.props(p.properties);
        for (const f of p.filters) s.str(f);
      });
    case 'unsuback':
      return encodeUnsuback(p.packetId, p.reasonCodes, p.properties, version);
    case 'pingreq':
      return Buffer.from(PINGREQ);
    case 'pingresp':
      return Buffer.from(PINGRESP);
    case 'disconnect':
      return v5 ? encodeDisconnect(p.reasonCode, p.properties) : Buffer.from(DISCONNECT_311);
    case 'auth':
      return build(firstByte(p.type), (s) => {
        reasonTail(s, p.reasonCode, p.properties);
      });
  }
}

export const PINGREQ: Buffer = Buffer.from([0xc0, 0x00]);
export const PINGRESP: Buffer = Buffer.from([0xd0, 0x00]);
/** The only DISCONNECT 3.1.1 has (and v5's normal disconnection in its shortest form). */
export const DISCONNECT_311: Buffer = Buffer.from([0xe0, 0x00]);

/** Size of the PUBLISH `encodePublish` would produce, fixed header included. */
export function publishPacketSize(
  topic: string,
  payloadLength: number,
  qos: QoS,
  properties: MqttProperties | undefined,
  version: MqttVersion,
): number {
  const remaining = publishRemaining(Buffer.byteLength(topic), payloadLength, qos, propsField(properties, version));
  return 1 + varintSize(remaining) + remaining;
}

/** Property list size, or -1 when the version has no property block. */
function propsField(properties: MqttProperties | undefined, version: MqttVersion): number {
  return version === 5 ? propertyListSize(properties) : -1;
}

function publishRemaining(topicLen: number, payloadLen: number, qos: QoS, propsLen: number): number {
  const props = propsLen < 0 ? 0 : varintSize(propsLen) + propsLen;
  return 2 + topicLen + (qos > 0 ? 2 : 0) + props + payloadLen;
}

/** PUBLISH in one allocation; `packetId` is written only when qos > 0. */
export function encodePublish(
  topic: string,
  payload: Buffer,
  qos: QoS,
  retain: boolean,
  dup: boolean,
  packetId: number,
  properties: MqttProperties | undefined,
  version: MqttVersion,
): Buffer {
  const topicLen = Buffer.byteLength(topic);
  const propsLen = propsField(properties, version);
  const remaining = publishRemaining(topicLen, payload.length, qos, propsLen);
  const buf = Buffer.allocUnsafe(1 + varintSize(remaining) + remaining);
  buf[0] = 0x30 | (dup ? 0x08 : 0) | (qos << 1) | (retain ? 0x01 : 0);
  let pos = writeVarint(buf, 1, remaining);
  pos = buf.writeUInt16BE(topicLen, pos);
  pos += buf.write(topic, pos, 'utf8');
  if (qos > 0) pos = buf.writeUInt16BE(packetId, pos);
  if (propsLen >= 0) {
    const sink = new BufferSink(buf);
    sink.pos = pos;
    sink.props(properties, propsLen);
    pos = sink.pos;
  }
  payload.copy(buf, pos);
  return buf;
}

/**
 * PUBACK/PUBREC/PUBREL/PUBCOMP. 3.1.1 and a v5 success without properties use the 4-byte
 * form; otherwise the reason code (and properties when present) follow the packet id.
 */
export function encodeAck(
  type: AckType,
  packetId: number,
  reasonCode: number,
  version: MqttVersion,
  properties?: MqttProperties,
): Buffer {
  const first = firstByte(type);
  const propsLen = version === 5 ? propertyListSize(properties) : 0;
  if (version === 4 || (reasonCode === 0 && propsLen === 0)) {
    const buf = Buffer.allocUnsafe(4);
    buf[0] = first;
    buf[1] = 2;
    buf.writeUInt16BE(packetId, 2);
    return buf;
  }
  return build(first, (s) => {
    s.u16(packetId);
    reasonTail(s, reasonCode, properties);
  });
}

export function encodeConnack(
  sessionPresent: boolean,
  reasonCode: number,
  properties: MqttProperties | undefined,
  version: MqttVersion,
): Buffer {
  return build(0x20, (s) => {
    s.u8(sessionPresent ? 1 : 0);
    s.u8(reasonCode);
    if (version === 5) s.props(properties);
  });
}

/**
 * The MQTT 3.1 CONNACK: its first byte is reserved (3.1 has no session-present flag) and the
 * return codes are those of 3.1.1.
 */
export function encodeConnack31(returnCode: number): Buffer {
  return encodeConnack(false, returnCode, undefined, 4);
}

export function encodeSuback(
  packetId: number,
  reasonCodes: readonly number[],
  properties: MqttProperties | undefined,
  version: MqttVersion,
): Buffer {
  return build(0x90, (s) => {
    s.u16(packetId);
    if (version === 5) s.props(properties);
    codes(s, reasonCodes);
  });
}

/** UNSUBACK: 3.1.1 carries only the packet id; v5 adds properties and one code per filter. */
export function encodeUnsuback(
  packetId: number,
  reasonCodes: readonly number[],
  properties: MqttProperties | undefined,
  version: MqttVersion,
): Buffer {
  return build(0xb0, (s) => {
    s.u16(packetId);
    if (version === 5) {
      s.props(properties);
      codes(s, reasonCodes);
    }
  });
}

/** v5 DISCONNECT (3.1.1's is the constant DISCONNECT_311). */
export function encodeDisconnect(reasonCode: number, properties?: MqttProperties): Buffer {
  return build(0xe0, (s) => {
    reasonTail(s, reasonCode, properties);
  });
}

/** Size of a QoS 0 PUBLISH without properties (v5: an empty property block). */
export function plainPublishSize(topicLen: number, payloadLen: number, version: MqttVersion): number {
  const remaining = 2 + topicLen + (version === 5 ? 1 : 0) + payloadLen;
  return 1 + varintSize(remaining) + remaining;
}

/** Copies small ranges in JS: cheaper than a native call for the few bytes of a topic. */
function copyInto(dst: Buffer, at: number, src: Uint8Array): number {
  const n = src.length;
  if (n > 64) {
    dst.set(src, at);
    return at + n;
  }
  for (let i = 0; i < n; i++) dst[at + i] = src[i] as number;
  return at + n;
}

/**
 * Writes a QoS 0 PUBLISH without properties into `buf` at `at` (the broker's shared slabs):
 * `plainPublishSize` bytes, nothing allocated. `topic` is the topic's UTF-8 bytes. Returns the
 * end offset.
 */
export function writePlainPublish(buf: Buffer, at: number, topic: Uint8Array, payload: Uint8Array, retain: boolean, version: MqttVersion): number {
  const topicLen = topic.length;
  const remaining = 2 + topicLen + (version === 5 ? 1 : 0) + payload.length;
  buf[at] = retain ? 0x31 : 0x30;
  let pos = writeVarint(buf, at + 1, remaining);
  buf[pos++] = topicLen >> 8;
  buf[pos++] = topicLen & 0xff;
  pos = copyInto(buf, pos, topic);
  if (version === 5) buf[pos++] = 0;
  return copyInto(buf, pos, payload);
}
