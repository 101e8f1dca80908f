/**
 * MQTT byte vectors written by hand from the OASIS specs (3.1.1 §3, 5.0 §3), never produced by
 * our encoder. Each line of hex is one field, commented with what it is.
 */
import { hex } from '../../fixtures/vectors/hex.js';
import type { MqttPacket, MqttVersion } from '../../../src/protocol/mqtt/index.js';

export interface MqttVector {
  readonly name: string;
  readonly version: MqttVersion;
  readonly bytes: Buffer;
  readonly packet: MqttPacket;
}

const b = (s: string): Buffer => Buffer.from(s);

/** Hex with `-- comment` to the end of each line. */
export function wire(text: string): Buffer {
  return hex(text.replace(/--[^\n]*/g, ''));
}

export const VECTORS: readonly MqttVector[] = [
  {
    name: 'CONNECT 3.1.1 minimal',
    version: 4,
    // 10 len | "MQTT" | level 4 | flags clean | keep alive 60 | client id "a"
    bytes: hex('10 0d  00 04 4d 51 54 54  04  02  00 3c  00 01 61'),
    packet: { type: 'connect', protocolName: 'MQTT', protocolLevel: 4, cleanStart: true, keepAlive: 60, clientId: 'a' },
  },
  {
    name: 'CONNECT 3.1.1 with will, user name and password',
    version: 4,
    // flags: user 80 | password 40 | will retain 20 | will QoS 1 08 | will 04 = EC
    bytes: wire(`10 1f  00 04 4d 51 54 54  04  ec  00 0a
      00 02 63 31  -- client id "c1"
      00 03 77 2f 74  -- will topic "w/t"
      00 03 62 79 65  -- will payload "bye"
      00 01 75  -- user "u"
      00 02 70 77  -- password "pw"`),
    packet: {
      type: 'connect',
      protocolName: 'MQTT',
      protocolLevel: 4,
      cleanStart: false,
      keepAlive: 10,
      clientId: 'c1',
      will: { topic: 'w/t', payload: b('bye'), qos: 1, retain: true },
      username: 'u',
      password: b('pw'),
    },
  },
  {
    name: 'CONNECT 5 with session expiry, receive maximum, user property',
    version: 5,
    bytes: wire(`10 1e  00 04 4d 51 54 54  05  02  00 1e
      0f  -- properties length 15
      11 00 00 0e 10  -- session expiry 3600
      21 00 0a  -- receive maximum 10
      26 00 01 6b 00 01 76  -- user property k=v
      00 02 76 35  -- client id "v5"`),
    packet: {
      type: 'connect',
      protocolName: 'MQTT',
      protocolLevel: 5,
      cleanStart: true,
      keepAlive: 30,
      clientId: 'v5',
      properties: { sessionExpiryInterval: 3600, receiveMaximum: 10, userProperties: [['k', 'v']] },
    },
  },
  {
    name: 'CONNACK 3.1.1 session present',
    version: 4,
    bytes: hex('20 02 01 00'),
    packet: { type: 'connack', sessionPresent: true, reasonCode: 0 },
  },
  {
    name: 'CONNACK 3.1.1 not authorized',
    version: 4,
    bytes: hex('20 02 00 05'),
    packet: { type: 'connack', sessionPresent: false, reasonCode: 5 },
  },
  {
    name: 'CONNACK 5 success, empty properties',
    version: 5,
    bytes: hex('20 03 00 00 00'),
    packet: { type: 'connack', sessionPresent: false, reasonCode: 0 },
  },
  {
    name: 'CONNACK 5 with topic alias maximum and maximum QoS',
    version: 5,
    bytes: hex('20 08 00 00  05  22 00 0a  24 01'),
    packet: { type: 'connack', sessionPresent: false, reasonCode: 0, properties: { topicAliasMaximum: 10, maximumQoS: 1 } },
  },
  {
    name: 'PUBLISH 3.1.1 QoS 0',
    version: 4,
    bytes: hex('30 07  00 03 61 2f 62  68 69'),
    packet: { type: 'publish', topic: 'a/b', payload: b('hi'), qos: 0, retain: false, dup: false },
  },
  {
    name: 'PUBLISH 3.1.1 QoS 1 dup retain',
    version: 4,
    bytes: hex('3b 06  00 01 74  12 34  78'),
    packet: { type: 'publish', topic: 't', payload: b('x'), qos: 1, retain: true, dup: true, packetId: 0x1234 },
  },
  {
    name: 'PUBLISH 5 QoS 0 no properties',
    version: 5,
    bytes: hex('30 08  00 03 61 2f 62  00  68 69'),
    packet: { type: 'publish', topic: 'a/b', payload: b('hi'), qos: 0, retain: false, dup: false },
  },
  {
    name: 'PUBLISH 5 QoS 1 with content type, subscription id, topic alias, user properties',
    version: 5,
    bytes: wire(`32 23  00 01 73  00 01
      1b  -- properties length 27
      03 00 04 74 65 78 74  -- content type "text"
      0b 81 01  -- subscription identifier 129
      23 00 05  -- topic alias 5
      26 00 01 61 00 01 62  -- user property a=b
      26 00 01 61 00 01 63  -- user property a=c (duplicate name)
      6f 6b  -- payload "ok"`),
    packet: {
      type: 'publish',
      topic: 's',
      payload: b('ok'),
      qos: 1,
      retain: false,
      dup: false,
      packetId: 1,
      properties: {
        contentType: 'text',
        subscriptionIdentifiers: [129],
        topicAlias: 5,
        userProperties: [
          ['a', 'b'],
          ['a', 'c'],
        ],
      },
    },
  },
  {
    name: 'PUBLISH 5 empty topic with topic alias',
    version: 5,
    bytes: hex('30 07  00 00  03 23 00 02  7a'),
    packet: { type: 'publish', topic: '', payload: b('z'), qos: 0, retain: false, dup: false, properties: { topicAlias: 2 } },
  },
  {
    name: 'PUBACK 5 short form',
    version: 5,
    bytes: hex('40 02 00 07'),
    packet: { type: 'puback', packetId: 7, reasonCode: 0 },
  },
  {
    name: 'PUBACK 5 with reason, no properties',
    version: 5,
    bytes: hex('40 03 00 07 10'),
    packet: { type: 'puback', packetId: 7, reasonCode: 0x10 },
  },
  {
    name: 'PUBREC 5 with reason string',
    version: 5,
    bytes: hex('50 0a 00 08 80  06 1f 00 03 62 61 64'),
    packet: { type: 'pubrec', packetId: 8, reasonCode: 0x80, properties: { reasonString: 'bad' } },
  },
  {
    name: 'PUBREL 3.1.1',
    version: 4,
    bytes: hex('62 02 00 09'),
    packet: { type: 'pubrel', packetId: 9, reasonCode: 0 },
  },
  {
    name: 'PUBCOMP 5',
    version: 5,
    bytes: hex('70 02 00 09'),
    packet: { type: 'pubcomp', packetId: 9, reasonCode: 0 },
  },
  {
    name: 'SUBSCRIBE 3.1.1',
    version: 4,
    bytes: hex('82 08  00 01  00 03 61 2f 62  01'),
    packet: {
      type: 'subscribe',
      packetId: 1,
      subscriptions: [{ filter: 'a/b', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
    },
  },
  {
    name: 'SUBSCRIBE 5 with subscription id and option bits',
    version: 5,
    bytes: wire(`82 0f  00 0a
      02 0b 02  -- properties: subscription identifier 2
      00 03 61 2f 2b  2d  -- "a/+": QoS 1 | no local 04 | RAP 08 | retain handling 2 (20)
      00 01 23  02  -- "#": QoS 2`),
    packet: {
      type: 'subscribe',
      packetId: 10,
      properties: { subscriptionIdentifiers: [2] },
      subscriptions: [
        { filter: 'a/+', qos: 1, noLocal: true, retainAsPublished: true, retainHandling: 2 },
        { filter: '#', qos: 2, noLocal: false, retainAsPublished: false, retainHandling: 0 },
      ],
    },
  },
  {
    name: 'SUBACK 3.1.1 granted and failure',
    version: 4,
    bytes: hex('90 04 00 01 00 80'),
    packet: { type: 'suback', packetId: 1, reasonCodes: [0, 0x80] },
  },
  {
    name: 'SUBACK 5',
    version: 5,
    bytes: hex('90 05 00 0a 00 01 02'),
    packet: { type: 'suback', packetId: 10, reasonCodes: [1, 2] },
  },
  {
    name: 'UNSUBSCRIBE 3.1.1',
    version: 4,
    bytes: hex('a2 05 00 02 00 01 78'),
    packet: { type: 'unsubscribe', packetId: 2, filters: ['x'] },
  },
  {
    name: 'UNSUBSCRIBE 5',
    version: 5,
    bytes: hex('a2 08 00 03 00 00 03 61 2f 62'),
    packet: { type: 'unsubscribe', packetId: 3, filters: ['a/b'] },
  },
  {
    name: 'UNSUBACK 3.1.1',
    version: 4,
    bytes: hex('b0 02 00 02'),
    packet: { type: 'unsuback', packetId: 2, reasonCodes: [] },
  },
  {
    name: 'UNSUBACK 5',
    version: 5,
    bytes: hex('b0 05 00 03 00 00 11'),
    packet: { type: 'unsuback', packetId: 3, reasonCodes: [0, 0x11] },
  },
  { name: 'PINGREQ 3.1.1', version: 4, bytes: hex('c0 00'), packet: { type: 'pingreq' } },
  { name: 'PINGRESP 5', version: 5, bytes: hex('d0 00'), packet: { type: 'pingresp' } },
  { name: 'DISCONNECT 3.1.1', version: 4, bytes: hex('e0 00'), packet: { type: 'disconnect', reasonCode: 0 } },
  { name: 'DISCONNECT 5 normal', version: 5, bytes: hex('e0 00'), packet: { type: 'disconnect', reasonCode: 0 } },
  {
    name: 'DISCONNECT 5 with will, reason only',
    version: 5,
    bytes: hex('e0 01 04'),
    packet: { type: 'disconnect', reasonCode: 0x04 },
  },
  {
    name: 'DISCONNECT 5 server shutting down with reason string',
    version: 5,
    bytes: hex('e0 08 8b  06 1f 00 03 62 79 65'),
    packet: { type: 'disconnect', reasonCode: 0x8b, properties: { reasonString: 'bye' } },
  },
  {
    name: 'AUTH 5 continue authentication',
    version: 5,
    bytes: wire(`f0 0e 18
      0c  -- properties length 12
      15 00 05 53 43 52 41 4d  -- authentication method "SCRAM"
      16 00 01 aa  -- authentication data AA`),
    packet: {
      type: 'auth',
      reasonCode: 0x18,
      properties: { authenticationMethod: 'SCRAM', authenticationData: hex('aa') },
    },
  },
  // MQTT 3.1 (IBM MQTT V3.1 specification): version 4 on the wire, its own CONNECT and CONNACK.
  {
    name: 'CONNECT 3.1 with will, user name and password',
    version: 4,
    // flags: user 80 | password 40 | will QoS 2 10 | will 04 | clean 02 = D6
    bytes: wire(`10 27  00 06 4d 51 49 73 64 70  -- protocol name "MQIsdp"
      03  d6  00 3c  -- level 3, flags, keep alive 60
      00 06 64 65 76 2d 31 37  -- client id "dev-17"
      00 05 73 74 2f 31 37  -- will topic "st/17"
      00 03 6f 66 66  -- will message "off"
      00 01 75  -- user "u"
      00 02 70 77  -- password "pw"`),
    packet: {
      type: 'connect',
      protocolName: 'MQIsdp',
      protocolLevel: 3,
      cleanStart: true,
      keepAlive: 60,
      clientId: 'dev-17',
      will: { topic: 'st/17', payload: b('off'), qos: 2, retain: false },
      username: 'u',
      password: b('pw'),
    },
  },
  {
    name: 'CONNECT 3.1 persistent session, nothing optional',
    version: 4,
    bytes: wire('10 0f  00 06 4d 51 49 73 64 70  03  00  01 2c  00 01 78  -- clean session 0, keep alive 300, id "x"'),
    packet: { type: 'connect', protocolName: 'MQIsdp', protocolLevel: 3, cleanStart: false, keepAlive: 300, clientId: 'x' },
  },
  {
    name: 'CONNACK 3.1 accepted (first byte reserved)',
    version: 4,
    bytes: hex('20 02 00 00'),
    packet: { type: 'connack', sessionPresent: false, reasonCode: 0 },
  },
  {
    name: 'CONNACK 3.1 identifier rejected',
    version: 4,
    bytes: hex('20 02 00 02'),
    packet: { type: 'connack', sessionPresent: false, reasonCode: 2 },
  },
];
