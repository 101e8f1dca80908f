/**
 * The MQTT side's figures for /status (an `"mqtt"` member after the reference's ones) and
 * /metrics (`protocol` labels beside the PSRT families, `psrt_mqtt_*` for MQTT-only ones).
 */
import type { MqttCounters } from '../mqtt/counters.js';

/** The health of `mqtt.persistence_file` (src/bin/persistence-file.ts). */
export interface PersistenceStats {
  readonly file: string;
  /** Saves written (autosaves, the shutdown one). */
  readonly saves: number;
  readonly saveFailures: number;
  /** The last save failed and none has succeeded since. */
  readonly failing: boolean;
  /** Wall-clock ms of the last save written; 0 before the first one. */
  readonly lastSaveMs: number;
  /** How long it took, ms. */
  readonly lastSaveDurationMs: number;
  /** Size of the file as psrtd last loaded or wrote it; 0 while there is none. */
  readonly fileBytes: number;
}

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
  /** null without `mqtt.persistence_file`. */
  readonly persistence: PersistenceStats | null;
}

export type MqttStatsProvider = () => MqttStatsSnapshot;

export const snake = (key: string): string => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

export function mqttStatusJson(provider: MqttStatsProvider): string {
  const s = provider();
  const counters = Object.entries(s.counters).map(([k, v]) => `"${snake(k)}":${Math.floor(v)}`);
  return (
    `{"connections":${s.connections},"sessions":${s.sessions},"subscriptions":${s.subscriptions},` +
    `"queued":${s.queued},"retained":{"count":${s.retainedCount},"bytes":${s.retainedBytes},"refused":${s.retainedRefused}},` +
    `"counters":{${counters.join(',')}}${persistenceMember(s.persistence)}}`
  );
}

function persistenceMember(p: PersistenceStats | null): string {
  if (p === null) return '';
  return (
    `,"persistence":{"file":${JSON.stringify(p.file)},"saves":${p.saves},"save_failures":${p.saveFailures},"failing":${p.failing},` +
    `"last_save":${p.lastSaveMs === 0 ? 'null' : (p.lastSaveMs / 1000).toFixed(3)},"last_save_duration_ms":${Math.round(p.lastSaveDurationMs)},"file_bytes":${p.fileBytes}}`
  );
}

