/**
 * Converts between our packet shapes and mqtt-packet's, for the differential tests. mqtt-packet
 * keeps byte flags as booleans, user properties as an object (values grouped by name) and a
 * lone subscription identifier as a number; `normalize` puts our packets in the same form.
 */
import assert from 'node:assert/strict';
import mqttPacket from 'mqtt-packet';
import type { Packet as MpPacket } from 'mqtt-packet';
import type { MqttPacket, MqttProperties, MqttVersion } from '../../../src/protocol/mqtt/index.js';

/** Byte properties mqtt-packet turns into booleans (maximumQoS stays a number there). */
const BOOLEAN_PROPS = new Set([
  'payloadFormatIndicator',
  'requestProblemInformation',
  'requestResponseInformation',
  'retainAvailable',
  'wildcardSubscriptionAvailable',
  'subscriptionIdentifiersAvailable',
  'sharedSubscriptionAvailable',
]);

type MpUserProps = Record<string, string | string[]>;

export function toMpProps(p: MqttProperties | undefined): Record<string, unknown> | undefined {
  if (p === undefined) return undefined;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(p)) {
    if (key === 'userProperties') {
      const obj: MpUserProps = {};
      for (const [k, v] of value as [string, string][]) {
        const prev = obj[k];
        obj[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
      }
      out[key] = obj;
    } else if (key === 'subscriptionIdentifiers') {
      const ids = value as number[];
      out.subscriptionIdentifier = ids.length === 1 ? ids[0] : ids;
    } else if (BOOLEAN_PROPS.has(key)) {
      out[key] = value === 1;
    } else {
      out[key] = value;
    }
  }
  return out;
}

export function fromMpProps(p: object | undefined): MqttProperties | undefined {
  if (p === undefined) return undefined;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(p)) {
    if (key === 'userProperties') {
      const pairs: [string, string][] = [];
      for (const [k, v] of Object.entries(value as MpUserProps)) {
        for (const one of Array.isArray(v) ? v : [v]) pairs.push([k, one]);
      }
      out[key] = pairs;
    } else if (key === 'subscriptionIdentifier') {
      out.subscriptionIdentifiers = Array.isArray(value) ? value : [value];
    } else if (typeof value === 'boolean') {
      out[key] = value ? 1 : 0;
    } else {
      out[key] = value;
    }
  }
  return Object.keys(out).length === 0 ? undefined : out;
}

/** Our packet as mqtt-packet's object (what `generate` takes). */
export function toMp(p: MqttPacket, version: MqttVersion): MpPacket {
  const props = version === 5 ? toMpProps('properties' in p ? p.properties : undefined) : undefined;
  const withProps = props === undefined ? {} : { properties: props };
  switch (p.type) {
    case 'connect': {
      const will = p.will && {
        topic: p.will.topic,
        payload: p.will.payload,
        qos: p.will.qos,
        retain: p.will.retain,
        ...(version === 5 && p.will.properties ? { properties: toMpProps(p.will.properties) } : {}),
      };
      return {
        cmd: 'connect',
        protocolId: p.protocolName,
        protocolVersion: version,
        clean: p.cleanStart,
        keepalive: p.keepAlive,
        clientId: p.clientId,
        ...(p.username === undefined ? {} : { username: p.username }),
        ...(p.password === undefined ? {} : { password: p.password }),
        ...(will ? { will } : {}),
        ...withProps,
      } as MpPacket;
    }
    case 'connack':
      return {
        cmd: 'connack',
        sessionPresent: p.sessionPresent,
        ...(version === 5 ? { reasonCode: p.reasonCode } : { returnCode: p.reasonCode }),
        ...withProps,
      };
    case 'publish':
      return {
        cmd: 'publish',
        topic: p.topic,
        payload: p.payload,
        qos: p.qos,
        retain: p.retain,
        dup: p.dup,
        ...(p.packetId === undefined ? {} : { messageId: p.packetId }),
        ...withProps,
      };
    case 'puback':
    case 'pubrec':
    case 'pubrel':
    case 'pubcomp':
      return { cmd: p.type, messageId: p.packetId, reasonCode: p.reasonCode, ...withProps };
    case 'subscribe':
      return {
        cmd: 'subscribe',
        messageId: p.packetId,
        subscriptions: p.subscriptions.map((s) => ({
          topic: s.filter,
          qos: s.qos,
          nl: s.noLocal,
          rap: s.retainAsPublished,
          rh: s.retainHandling,
        })),
        ...withProps,
      };
    case 'suback':
      return { cmd: 'suback', messageId: p.packetId, granted: p.reasonCodes, ...withProps };
    case 'unsubscribe':
      return { cmd: 'unsubscribe', messageId: p.packetId, unsubscriptions: p.filters, ...withProps };
    case 'unsuback':
      return { cmd: 'unsuback', messageId: p.packetId, granted: p.reasonCodes, ...withProps };
    case 'pingreq':
    case 'pingresp':
      return { cmd: p.type };
    case 'disconnect':
    case 'auth':
      return { cmd: p.type, reasonCode: p.reasonCode, ...withProps };
  }
}

/** The loosely typed view of a parsed mqtt-packet object that `fromMp` reads. */
interface MpParsed {
  cmd: string;
  [field: string]: unknown;
}

function opt<K extends string, V>(key: K, value: V | undefined): Partial<Record<K, V>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, V>);
}

/** mqtt-packet's parsed object as our packet shape. */
export function fromMp(mp: MpPacket): MqttPacket {
  const m = mp as unknown as MpParsed;
  const props = opt('properties', fromMpProps(m.properties as object | undefined));
  const id = m.messageId as number;
  switch (mp.cmd) {
    case 'connect': {
      const w = mp.will;
      const will = w && {
        topic: w.topic,
        payload: w.payload as Buffer,
        qos: w.qos ?? 0,
        retain: w.retain ?? false,
        ...opt('properties', fromMpProps(w.properties)),
      };
      return {
        type: 'connect',
        protocolName: mp.protocolId ?? 'MQTT',
        protocolLevel: mp.protocolVersion ?? 4,
        cleanStart: mp.clean ?? false,
        keepAlive: mp.keepalive ?? 0,
        clientId: mp.clientId,
        ...opt('username', mp.username),
        ...opt('password', mp.password),
        ...opt('will', will),
        ...props,
      };
    }
    case 'connack':
      return { type: 'connack', sessionPresent: mp.sessionPresent, reasonCode: mp.reasonCode ?? mp.returnCode ?? -1, ...props };
    case 'publish':
      return {
        type: 'publish',
        topic: mp.topic,
        payload: mp.payload as Buffer,
        qos: mp.qos,
        retain: mp.retain,
        dup: mp.dup,
        ...opt('packetId', mp.qos > 0 ? id : undefined),
        ...props,
      };
    case 'puback':
    case 'pubrec':
    case 'pubrel':
    case 'pubcomp':
      return { type: mp.cmd, packetId: id, reasonCode: mp.reasonCode ?? 0, ...props };
    case 'subscribe':
      return {
        type: 'subscribe',
        packetId: id,
        subscriptions: mp.subscriptions.map((s) => ({
          filter: s.topic,
          qos: s.qos,
          noLocal: s.nl ?? false,
          retainAsPublished: s.rap ?? false,
          retainHandling: (s.rh ?? 0) as 0 | 1 | 2,
        })),
        ...props,
      };
    case 'suback':
      return { type: 'suback', packetId: id, reasonCodes: mp.granted as number[], ...props };
    case 'unsubscribe':
      return { type: 'unsubscribe', packetId: id, filters: mp.unsubscriptions, ...props };
    case 'unsuback':
      return { type: 'unsuback', packetId: id, reasonCodes: (m.granted as number[] | undefined) ?? [], ...props };
    case 'pingreq':
    case 'pingresp':
      return { type: mp.cmd };
    case 'disconnect':
    case 'auth':
      return { type: mp.cmd, reasonCode: mp.reasonCode ?? 0, ...props };
  }
}

/** Parses `bytes` with mqtt-packet; fails the test on a parser error or a leftover. */
export function mpParse(bytes: Buffer, version: MqttVersion): MpPacket[] {
  const parser = mqttPacket.parser({ protocolVersion: version });
  const out: MpPacket[] = [];
  let error: unknown = null;
  parser.on('packet', (p) => out.push(p));
  parser.on('error', (e: unknown) => {
    error = e;
  });
  const left = parser.parse(bytes);
  assert.equal(error, null);
  assert.equal(left, 0);
  return out;
}

export function mpGenerate(p: MqttPacket, version: MqttVersion): Buffer {
  return mqttPacket.generate(toMp(p, version), { protocolVersion: version });
}

/** User properties grouped by name in order of first appearance, as mqtt-packet keeps them. */
export function normalize(p: MqttPacket): MqttPacket {
  return JSON.parse(JSON.stringify(p, (_k, v: unknown) => v), reviveBuffers) as MqttPacket;
}

function reviveBuffers(_key: string, value: unknown): unknown {
  if (typeof value === 'object' && value !== null && (value as { type?: unknown }).type === 'Buffer') {
    return Buffer.from((value as { data: number[] }).data);
  }
  if (typeof value === 'object' && value !== null && 'userProperties' in value) {
    const props = value as { userProperties: [string, string][] };
    const names = [...new Set(props.userProperties.map(([k]) => k))];
    props.userProperties = names.flatMap((n) => props.userProperties.filter(([k]) => k === n));
  }
  return value;
}
