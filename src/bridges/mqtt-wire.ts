/**
 * What an MQTT bridge writes, measured before it is written: the size of a PUBLISH with its
 * MQTT 5 properties (an upstream closes the connection on a packet over its Maximum Packet
 * Size), and the server URLs it accepts.
 */
import type { IClientOptions } from 'mqtt';
import { MQTT_MAX_TOPIC_BYTES } from '../topics/index.js';

export type Server = NonNullable<IClientOptions['servers']>[number];
export type UserProperties = Record<string, string | string[]>;

/** MQTT strings, topic names included, are at most 65,535 bytes of UTF-8 (3.1.1 §1.5.3, 5.0 §1.5.4). */
export const MAX_TOPIC_BYTES = MQTT_MAX_TOPIC_BYTES;
/** The largest packet MQTT can encode: a 4-byte Remaining Length of 268,435,455 (§2.2.3). */
export const MQTT_MAX_PACKET = 1 + 4 + 268_435_455;
/** More than the fixed header, topic length, packet id and property length of a PUBLISH. */
export const PUBLISH_OVERHEAD = 16;
/** More than the origin and priority properties take besides the node id. */
export const PLAIN_PROPERTIES = 48;
export interface ExportProperties {
  userProperties: UserProperties;
  contentType?: string;
}

/** Bytes of a variable byte integer. */
function varintBytes(n: number): number {
  return n < 128 ? 1 : n < 16_384 ? 2 : n < 2_097_152 ? 3 : 4;
}

/** Bytes of the MQTT 5 properties of an export. */
export function propertiesBytes(props: ExportProperties): number {
  let n = props.contentType === undefined ? 0 : 3 + Buffer.byteLength(props.contentType);
  for (const [k, v] of Object.entries(props.userProperties)) {
    for (const one of Array.isArray(v) ? v : [v]) n += 5 + Buffer.byteLength(k) + Buffer.byteLength(one);
  }
  return n;
}

/** The size of a PUBLISH packet, fixed header included. */
export function publishPacketBytes(topic: string, payloadBytes: number, qos: number, propertyBytes: number | null): number {
  const props = propertyBytes === null ? 0 : varintBytes(propertyBytes) + propertyBytes;
  const remaining = 2 + Buffer.byteLength(topic) + (qos > 0 ? 2 : 0) + props + payloadBytes;
  return 1 + varintBytes(remaining) + remaining;
}

/** `mqtt://h:p`, `mqtts://h:p`, `tls://h:p` or `h:p` (port 1883, or 8883 with TLS). */
export function parseMqttUrl(url: string, tls: boolean): Server | null {
  const m = /^(?:(mqtts?|tls|ssl|tcp):\/\/)?(\[[^\]]+\]|[^:/]+)(?::(\d{1,5}))?\/?$/.exec(url);
  if (m === null) return null;
  const secure = tls || m[1] === 'mqtts' || m[1] === 'tls' || m[1] === 'ssl';
  const host = (m[2] ?? '').replace(/^\[|\]$/g, '');
  return { host, port: m[3] === undefined ? (secure ? 8883 : 1883) : Number(m[3]), protocol: secure ? 'mqtts' : 'mqtt' };
}
