/**
 * The MQTT side's figures for /status (an `"mqtt"` member after the reference's ones) and
 * /metrics (`protocol` labels beside the PSRT families, `psrt_mqtt_*` for MQTT-only ones).
 */
import type { MqttCounters } from '../mqtt/counters.js';
import type { Exposition } from './metrics.js';

export interface MqttStatsSnapshot {
  /** Open MQTT network connections. */
  readonly connections: number;
  /** Sessions, connected or kept for their expiry interval. */
  readonly sessions: number;
  readonly subscriptions: number;
  readonly retainedCount: number;
  readonly retainedBytes: number;
  readonly retainedRefused: number;
  /** QoS 1/2 messages waiting in session queues (offline sessions or window full). */
  readonly queued: number;
  readonly counters: Readonly<MqttCounters>;
}

export type MqttStatsProvider = () => MqttStatsSnapshot;

const snake = (key: string): string => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

export function mqttStatusJson(provider: MqttStatsProvider): string {
  const s = provider();
  const counters = Object.entries(s.counters).map(([k, v]) => `"${snake(k)}":${Math.floor(v)}`);
  return (
    `{"connections":${s.connections},"sessions":${s.sessions},"subscriptions":${s.subscriptions},` +
    `"queued":${s.queued},"retained":{"count":${s.retainedCount},"bytes":${s.retainedBytes},"refused":${s.retainedRefused}},` +
    `"counters":{${counters.join(',')}}}`
  );
}

const HELP: Readonly<Record<string, string>> = {
  connects: 'MQTT connections accepted (CONNACK success).',
  rejectedConnects: 'MQTT CONNECTs refused (credentials, ACL, client id, protocol version).',
  protocolErrors: 'MQTT connections closed for a protocol violation.',
  published: 'PUBLISH packets accepted from MQTT clients (wills included).',
  deniedPublishes: 'MQTT publishes refused by the ACL.',
  delivered: 'Deliveries handed to MQTT sessions.',
  droppedQueueFull: 'QoS 1/2 messages dropped because a session queue was full (max_queued_messages).',
  droppedTooLarge: 'Messages not sent because they exceed the client\'s Maximum Packet Size.',
  expired: 'Messages whose Message Expiry Interval ran out while queued.',
  droppedSlow: 'MQTT connections dropped by the slow-consumer policy.',
  takeovers: 'MQTT sessions taken over by a new connection with the same client id.',
};

/** `clientsByProtocol`: PSRT control sessions, for the labelled client gauge. */
export function mqttMetrics(out: Exposition, provider: MqttStatsProvider | null, psrtClients: number, psrtPublished: number): void {
  const s = provider?.();
  const mqttPublished = s?.counters.published ?? 0;
  out.add('psrt_protocol_clients', 'gauge', 'Connected clients by protocol (PSRT control sessions, MQTT connections).', [
    [{ protocol: 'psrt' }, psrtClients],
    [{ protocol: 'mqtt' }, s?.connections ?? 0],
  ]);
  out.add('psrt_protocol_published_messages_total', 'counter', 'Messages accepted from clients, by the protocol they were published with.', [
    [{ protocol: 'psrt' }, Math.max(0, psrtPublished - mqttPublished)],
    [{ protocol: 'mqtt' }, mqttPublished],
  ]);
  if (s === undefined) return;
  out
    .gauge('psrt_mqtt_sessions', 'MQTT sessions (connected, or kept for their session expiry interval).', s.sessions)
    .gauge('psrt_mqtt_subscriptions', 'MQTT subscriptions over all sessions.', s.subscriptions)
    .gauge('psrt_mqtt_queued_messages', 'QoS 1/2 messages waiting in MQTT session queues.', s.queued)
    .gauge('psrt_mqtt_retained_messages', 'Retained messages stored.', s.retainedCount)
    .gauge('psrt_mqtt_retained_bytes', 'Bytes of retained messages stored (topic + payload).', s.retainedBytes)
    .counter('psrt_mqtt_retained_refused_total', 'Retained messages not stored because the store was full.', s.retainedRefused);
  for (const [key, value] of Object.entries(s.counters)) {
    out.counter(`psrt_mqtt_${snake(key)}_total`, HELP[key] ?? key, value);
  }
}
