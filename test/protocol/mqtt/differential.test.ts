/**
 * Differential tests against mqtt-packet, both ways, over generated packets of every type and
 * both versions: mqtt-packet encodes → we decode, and we encode → mqtt-packet parses.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  MqttDecoder,
  encodePacket,
  type MqttPacket,
  type MqttProperties,
  type MqttVersion,
} from '../../../src/protocol/mqtt/index.js';
import { fromMp, mpGenerate, mpParse, normalize } from './mqtt-packet-adapter.js';

const RUNS = { numRuns: 200, seed: 0x5eed };

const text = (minLength = 0): fc.Arbitrary<string> =>
  fc.string({ unit: fc.constantFrom('a', 'b', 'z', '/', ' ', '-', 'é', '€', 'Ж', '😀'), minLength, maxLength: 12 });
const filterText = fc.string({ unit: fc.constantFrom('a', '/', '+', '#', 'é'), minLength: 1, maxLength: 10 });
const bytes = fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a));
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const flag = fc.integer({ min: 0, max: 1 });
const packetId = fc.integer({ min: 1, max: 0xffff });
const qos = fc.constantFrom(0 as const, 1 as const, 2 as const);
const userProps = fc.array(fc.tuple(text(1), text()), { minLength: 1, maxLength: 3 });

/** A property record with any subset of the given generators, or undefined when empty. */
function props(fields: Partial<Record<keyof MqttProperties, fc.Arbitrary<unknown>>>): fc.Arbitrary<MqttProperties | undefined> {
  return fc
    .record(fields, { requiredKeys: [] })
    .map((r) => (Object.keys(r).length === 0 ? undefined : (r as MqttProperties)));
}

const reasonProps = props({ reasonString: text(), userProperties: userProps });

function withProps<T extends object>(p: T, properties: MqttProperties | undefined): T {
  return properties === undefined ? p : { ...p, properties };
}

function connectArb(v: MqttVersion): fc.Arbitrary<MqttPacket> {
  const willProps = props({
    willDelayInterval: u32,
    payloadFormatIndicator: flag,
    messageExpiryInterval: u32,
    contentType: text(),
    responseTopic: text(1),
    correlationData: bytes,
    userProperties: userProps,
  });
  const will = fc.record({ topic: text(1), payload: bytes, qos, retain: fc.boolean(), properties: willProps });
  const connectProps = props({
    sessionExpiryInterval: u32,
    receiveMaximum: fc.integer({ min: 1, max: 0xffff }),
    maximumPacketSize: fc.integer({ min: 1, max: 0xffffffff }),
    topicAliasMaximum: u16,
    requestResponseInformation: flag,
    requestProblemInformation: flag,
    userProperties: userProps,
    authenticationMethod: text(1),
    authenticationData: bytes,
  });
  return fc
    .record({
      cleanStart: fc.boolean(),
      keepAlive: u16,
      clientId: text(1),
      credentials: fc.option(fc.tuple(text(), fc.option(bytes, { nil: undefined })), { nil: undefined }),
      will: fc.option(will, { nil: undefined }),
      properties: connectProps,
    })
    .map((r) => {
      let p: MqttPacket = { type: 'connect', protocolName: 'MQTT', protocolLevel: v, cleanStart: r.cleanStart, keepAlive: r.keepAlive, clientId: r.clientId };
      if (r.credentials) {
        p.username = r.credentials[0];
        if (r.credentials[1]) p.password = r.credentials[1];
      }
      if (r.will) {
        const { properties, ...w } = r.will;
        p.will = v === 5 ? withProps(w, properties) : w;
      }
      if (v === 5) p = withProps(p, r.properties);
      return p;
    });
}

function publishArb(v: MqttVersion): fc.Arbitrary<MqttPacket> {
  const publishProps = props({
    payloadFormatIndicator: flag,
    messageExpiryInterval: u32,
    contentType: text(),
    responseTopic: text(1),
    correlationData: bytes,
    subscriptionIdentifiers: fc.array(fc.integer({ min: 1, max: 268435455 }), { minLength: 1, maxLength: 3 }),
    topicAlias: fc.integer({ min: 1, max: 0xffff }),
    userProperties: userProps,
  });
  return fc
    .record({ topic: text(1), aliasOnly: fc.boolean(), payload: bytes, qos, retain: fc.boolean(), dup: fc.boolean(), packetId, properties: publishProps })
    .map((r): MqttPacket => {
      // v5 may send the topic as an alias alone: an empty topic name.
      const topic = v === 5 && r.aliasOnly && r.properties?.topicAlias !== undefined ? '' : r.topic;
      const p: MqttPacket = { type: 'publish', topic, payload: r.payload, qos: r.qos, retain: r.retain, dup: r.qos > 0 && r.dup };
      if (r.qos > 0) p.packetId = r.packetId;
      return v === 5 ? withProps(p, r.properties) : p;
    });
}

function subscribeArb(v: MqttVersion): fc.Arbitrary<MqttPacket> {
  const sub = fc.record({
    filter: filterText,
    qos,
    noLocal: v === 5 ? fc.boolean() : fc.constant(false),
    retainAsPublished: v === 5 ? fc.boolean() : fc.constant(false),
    retainHandling: v === 5 ? fc.constantFrom(0 as const, 1 as const, 2 as const) : fc.constant(0 as const),
  });
  const subProps = props({ subscriptionIdentifiers: fc.integer({ min: 1, max: 268435455 }).map((n) => [n]), userProperties: userProps });
  return fc.record({ packetId, subscriptions: fc.array(sub, { minLength: 1, maxLength: 4 }), properties: subProps }).map((r) => {
    const p: MqttPacket = { type: 'subscribe', packetId: r.packetId, subscriptions: r.subscriptions };
    return v === 5 ? withProps(p, r.properties) : p;
  });
}

function ackArb(v: MqttVersion): fc.Arbitrary<MqttPacket> {
  const type = fc.constantFrom('puback' as const, 'pubrec' as const, 'pubrel' as const, 'pubcomp' as const);
  // PUBREL/PUBCOMP have only Success and Packet Identifier Not Found (§3.6.2.1).
  const reason = fc.constantFrom(0, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99);
  return fc.record({ type, packetId, reasonCode: reason, properties: reasonProps }).map((r) => {
    const pubrelOrComp = r.type === 'pubrel' || r.type === 'pubcomp';
    const code = v === 4 ? 0 : pubrelOrComp ? (r.reasonCode === 0 ? 0 : 0x92) : r.reasonCode;
    const p: MqttPacket = { type: r.type, packetId: r.packetId, reasonCode: code };
    return v === 5 ? withProps(p, r.properties) : p;
  });
}

function otherArb(v: MqttVersion): fc.Arbitrary<MqttPacket> {
  const subackCodes = v === 5 ? fc.constantFrom(0, 1, 2, 0x80, 0x83, 0x87, 0x8f, 0x91, 0x97, 0x9e, 0xa1, 0xa2) : fc.constantFrom(0, 1, 2, 0x80);
  const codes = fc.array(subackCodes, { minLength: 1, maxLength: 4 });
  const five = v === 5;
  const connackProps = props({
    sessionExpiryInterval: u32,
    receiveMaximum: fc.integer({ min: 1, max: 0xffff }),
    maximumQoS: flag,
    retainAvailable: flag,
    maximumPacketSize: fc.integer({ min: 1, max: 0xffffffff }),
    assignedClientIdentifier: text(),
    topicAliasMaximum: u16,
    reasonString: text(),
    userProperties: userProps,
    wildcardSubscriptionAvailable: flag,
    subscriptionIdentifiersAvailable: flag,
    sharedSubscriptionAvailable: flag,
    serverKeepAlive: u16,
    responseInformation: text(),
    serverReference: text(),
    authenticationMethod: text(1),
    authenticationData: bytes,
  });
  const disconnectProps = props({ sessionExpiryInterval: u32, reasonString: text(), serverReference: text(), userProperties: userProps });
  const p5 = <T extends object>(p: T, pr: MqttProperties | undefined): T => (five ? withProps(p, pr) : p);
  return fc.oneof(
    fc.record({ s: fc.boolean(), rc: five ? fc.constantFrom(0, 0x80, 0x84, 0x85, 0x86, 0x87, 0x88, 0x9c) : fc.integer({ min: 0, max: 5 }), pr: connackProps })
      .map((r): MqttPacket => p5({ type: 'connack', sessionPresent: r.s && r.rc === 0, reasonCode: r.rc }, r.pr)),
    fc.record({ id: packetId, codes, pr: reasonProps }).map((r): MqttPacket => p5({ type: 'suback', packetId: r.id, reasonCodes: r.codes }, r.pr)),
    fc.record({ id: packetId, f: fc.array(filterText, { minLength: 1, maxLength: 4 }), pr: props({ userProperties: userProps }) })
      .map((r): MqttPacket => p5({ type: 'unsubscribe', packetId: r.id, filters: r.f }, r.pr)),
    fc.record({ id: packetId, codes: fc.array(fc.constantFrom(0, 0x11, 0x80, 0x87), { minLength: 1, maxLength: 4 }), pr: reasonProps })
      .map((r): MqttPacket => p5({ type: 'unsuback', packetId: r.id, reasonCodes: five ? r.codes : [] }, r.pr)),
    fc.constantFrom<MqttPacket>({ type: 'pingreq' }, { type: 'pingresp' }),
    fc.record({ rc: five ? fc.constantFrom(0, 4, 0x80, 0x81, 0x8b, 0x8e) : fc.constant(0), pr: disconnectProps })
      .map((r): MqttPacket => p5({ type: 'disconnect', reasonCode: r.rc }, r.pr)),
  );
}

function authArb(): fc.Arbitrary<MqttPacket> {
  const authProps = props({ authenticationMethod: text(1), authenticationData: bytes, reasonString: text(), userProperties: userProps });
  return fc
    .record({ rc: fc.constantFrom(0, 0x18, 0x19), pr: authProps })
    .map((r): MqttPacket => withProps({ type: 'auth', reasonCode: r.rc }, r.pr));
}

function decodeOurs(bytes: Buffer, version: MqttVersion, isConnect: boolean): MqttPacket {
  const d = new MqttDecoder({ maxPacketSize: 1 << 20 });
  if (!isConnect) d.version = version;
  d.push(bytes);
  const p = d.next();
  assert.ok(p !== null);
  assert.equal(d.buffered, 0);
  return p;
}

const FAMILIES: readonly [string, (v: MqttVersion) => fc.Arbitrary<MqttPacket>][] = [
  ['CONNECT', connectArb],
  ['PUBLISH', publishArb],
  ['SUBSCRIBE', subscribeArb],
  ['PUBACK/PUBREC/PUBREL/PUBCOMP', ackArb],
  ['CONNACK/SUBACK/UNSUBSCRIBE/UNSUBACK/PING/DISCONNECT', otherArb],
];

for (const version of [4, 5] as const) {
  describe(`differential vs mqtt-packet, MQTT ${version === 5 ? '5' : '3.1.1'}`, () => {
    const families = version === 5 ? [...FAMILIES, ['AUTH', authArb] as const] : FAMILIES;
    for (const [name, arb] of families) {
      it(`${name}: mqtt-packet encodes, we decode`, () => {
        fc.assert(
          fc.property(arb(version), (p) => {
            const ours = decodeOurs(mpGenerate(p, version), version, p.type === 'connect');
            assert.deepEqual(normalize(ours), normalize(p));
          }),
          RUNS,
        );
      });
      it(`${name}: we encode, mqtt-packet parses`, () => {
        fc.assert(
          fc.property(arb(version), (p) => {
            const parsed = mpParse(encodePacket(p, version), version);
            assert.equal(parsed.length, 1);
            const [first] = parsed;
            assert.ok(first);
            assert.deepEqual(normalize(fromMp(first)), normalize(p));
          }),
          RUNS,
        );
      });
    }
  });
}
