/**
 * MQTT 5 properties (spec §2.2.2): the table of identifiers, which packets may carry each one,
 * and their decoding (with the spec's validity rules) and encoding.
 */
import { MqttError, malformed, protocolError } from './errors.js';
import type { MqttProperties } from './packets.js';
import type { Reader } from './reader.js';
import { ReasonCode } from './reason-codes.js';

/** Where a property block sits: a packet type, or the will properties inside CONNECT. */
export const PropContext = {
  connect: 1 << 0,
  connack: 1 << 1,
  publish: 1 << 2,
  will: 1 << 3,
  ack: 1 << 4, // PUBACK, PUBREC, PUBREL, PUBCOMP
  subscribe: 1 << 5,
  suback: 1 << 6,
  unsubscribe: 1 << 7,
  unsuback: 1 << 8,
  disconnect: 1 << 9,
  auth: 1 << 10,
} as const;
export type PropContext = (typeof PropContext)[keyof typeof PropContext];

type Kind = 'flag' | 'byte' | 'u16' | 'u32' | 'varint' | 'string' | 'binary' | 'pair';

interface PropDef {
  readonly id: number;
  readonly key: keyof MqttProperties;
  readonly kind: Kind;
  readonly contexts: number;
}

const C = PropContext;
const ALL = 0x7ff;
const ACKS = C.connack | C.ack | C.suback | C.unsuback | C.disconnect | C.auth;
const MESSAGE = C.publish | C.will;

/** In identifier order, which is also the order the encoder writes them in. */
const DEFS: readonly PropDef[] = [
  { id: 0x01, key: 'payloadFormatIndicator', kind: 'flag', contexts: MESSAGE },
  { id: 0x02, key: 'messageExpiryInterval', kind: 'u32', contexts: MESSAGE },
  { id: 0x03, key: 'contentType', kind: 'string', contexts: MESSAGE },
  { id: 0x08, key: 'responseTopic', kind: 'string', contexts: MESSAGE },
  { id: 0x09, key: 'correlationData', kind: 'binary', contexts: MESSAGE },
  { id: 0x0b, key: 'subscriptionIdentifiers', kind: 'varint', contexts: C.publish | C.subscribe },
  { id: 0x11, key: 'sessionExpiryInterval', kind: 'u32', contexts: C.connect | C.connack | C.disconnect },
  { id: 0x12, key: 'assignedClientIdentifier', kind: 'string', contexts: C.connack },
  { id: 0x13, key: 'serverKeepAlive', kind: 'u16', contexts: C.connack },
  { id: 0x15, key: 'authenticationMethod', kind: 'string', contexts: C.connect | C.connack | C.auth },
  { id: 0x16, key: 'authenticationData', kind: 'binary', contexts: C.connect | C.connack | C.auth },
  { id: 0x17, key: 'requestProblemInformation', kind: 'flag', contexts: C.connect },
  { id: 0x18, key: 'willDelayInterval', kind: 'u32', contexts: C.will },
  { id: 0x19, key: 'requestResponseInformation', kind: 'flag', contexts: C.connect },
  { id: 0x1a, key: 'responseInformation', kind: 'string', contexts: C.connack },
  { id: 0x1c, key: 'serverReference', kind: 'string', contexts: C.connack | C.disconnect },
  { id: 0x1f, key: 'reasonString', kind: 'string', contexts: ACKS },
  { id: 0x21, key: 'receiveMaximum', kind: 'u16', contexts: C.connect | C.connack },
  { id: 0x22, key: 'topicAliasMaximum', kind: 'u16', contexts: C.connect | C.connack },
  { id: 0x23, key: 'topicAlias', kind: 'u16', contexts: C.publish },
  { id: 0x24, key: 'maximumQoS', kind: 'flag', contexts: C.connack },
  { id: 0x25, key: 'retainAvailable', kind: 'flag', contexts: C.connack },
  { id: 0x26, key: 'userProperties', kind: 'pair', contexts: ALL },
  { id: 0x27, key: 'maximumPacketSize', kind: 'u32', contexts: C.connect | C.connack },
  { id: 0x28, key: 'wildcardSubscriptionAvailable', kind: 'flag', contexts: C.connack },
  { id: 0x29, key: 'subscriptionIdentifiersAvailable', kind: 'flag', contexts: C.connack },
  { id: 0x2a, key: 'sharedSubscriptionAvailable', kind: 'flag', contexts: C.connack },
];

const BY_ID = new Map<number, PropDef>(DEFS.map((d) => [d.id, d]));

/** Values the spec forbids outright ("It is a Protocol Error to ..."), checked on decode. */
function checkValue(def: PropDef, value: number): void {
  if (def.kind === 'flag' && value > 1) throw protocolError(`${def.key} must be 0 or 1`);
  if (value !== 0) return;
  switch (def.key) {
    case 'receiveMaximum':
    case 'maximumPacketSize':
    case 'subscriptionIdentifiers':
      throw protocolError(`${def.key} of 0`);
    case 'topicAlias':
      throw new MqttError(ReasonCode.TopicAliasInvalid, 'topic alias 0');
    default:
  }
}

function readValue(r: Reader, def: PropDef): unknown {
  switch (def.kind) {
    case 'flag':
    case 'byte':
      return r.u8(def.key);
    case 'u16':
      return r.u16(def.key);
    case 'u32':
      return r.u32(def.key);
    case 'varint':
      return r.varint(def.key);
    case 'string':
      return r.str(def.key);
    case 'binary':
      return r.bin(def.key);
    case 'pair':
      return [r.str('user property name'), r.str('user property value')];
  }
}

/**
 * Reads a property block (length + properties) for `context`; undefined when it is empty.
 * Unknown or misplaced identifiers are malformed (§2.2.2.2); a repeated non-repeatable property
 * is a protocol error.
 */
export function readProperties(r: Reader, context: PropContext): MqttProperties | undefined {
  const len = r.varint('property length');
  if (len > r.remaining) throw malformed('property length runs past the end of the packet');
  if (len === 0) return undefined;
  const end = r.pos + len;
  const outerEnd = r.end;
  r.end = end; // a property value must not spill out of its block
  const out: Record<string, unknown> = {};
  while (r.pos < end) {
    const id = r.varint('property identifier');
    const def = BY_ID.get(id);
    if (def === undefined || (def.contexts & context) === 0) {
      throw malformed(`property 0x${id.toString(16)} not allowed here`);
    }
    const value = readValue(r, def);
    if (typeof value === 'number') checkValue(def, value);
    storeValue(out, def, value, context);
  }
  r.end = outerEnd;
  return out;
}

function storeValue(out: Record<string, unknown>, def: PropDef, value: unknown, context: PropContext): void {
  const prev = out[def.key];
  const repeatable = def.kind === 'pair' || (def.id === 0x0b && context === PropContext.publish);
  if (prev !== undefined && !repeatable) throw protocolError(`property ${def.key} repeated`);
  if (def.kind === 'pair' || def.id === 0x0b) {
    if (Array.isArray(prev)) prev.push(value);
    else out[def.key] = [value];
  } else {
    out[def.key] = value;
  }
}

/** What writing properties needs of a Sink (sink.ts), declared here so the two files do not import each other. */
export interface PropertySink {
  u8(v: number): void;
  u16(v: number): void;
  u32(v: number): void;
  varint(v: number): void;
  str(s: string): void;
  bin(b: Buffer): void;
}

function writeValue(sink: PropertySink, def: PropDef, value: unknown): void {
  sink.u8(def.id);
  switch (def.kind) {
    case 'flag':
    case 'byte':
      sink.u8(value as number);
      return;
    case 'u16':
      sink.u16(value as number);
      return;
    case 'u32':
      sink.u32(value as number);
      return;
    case 'varint':
      sink.varint(value as number);
      return;
    case 'string':
      sink.str(value as string);
      return;
    case 'binary':
      sink.bin(value as Buffer);
      return;
    case 'pair': {
      const [k, v] = value as [string, string];
      sink.str(k);
      sink.str(v);
    }
  }
}

/** Writes the properties themselves, without the length prefix. */
export function writePropertyList(sink: PropertySink, props: MqttProperties): void {
  for (const def of DEFS) {
    const value: unknown = props[def.key];
    if (value === undefined) continue;
    if (def.kind === 'pair' || def.id === 0x0b) {
      for (const item of value as unknown[]) writeValue(sink, def, item);
    } else {
      writeValue(sink, def, value);
    }
  }
}
