/**
 * The MQTT side's figures for /status (an `"mqtt"` member after the reference's ones) and
 * /metrics (`protocol` labels beside the PSRT families, `psrt_mqtt_*` for MQTT-only ones).
 */
import type { MqttCounters } from '../mqtt/counters.js';

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

export const snake = (key: string): string => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

export function mqttStatusJson(provider: MqttStatsProvider): string {
  const s = provider();
  const counters = Object.entries(s.counters).map(([k, v]) => `"${snake(k)}":${Math.floor(v)}`);
  return (
    `{"connections":${s.connections},"sessions":${s.sessions},"subscriptions":${s.subscriptions},` +
    `"queued":${s.queued},"retained":{"count":${s.retainedCount},"bytes":${s.retainedBytes},"refused":${s.retainedRefused}},` +
    `"counters":{${counters.join(',')}}}`
  );
}

