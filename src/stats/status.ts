/**
 * `/status` (SERVER.md §13.3) and `/topics` bodies. Built by hand in the reference's member
 * order so the order can never depend on how an object happened to be assembled.
 */
import { hostname } from 'node:os';
import type { BrokerStats } from '../broker/broker.js';
import { mqttStatusJson, type MqttStatsProvider } from './mqtt-stats.js';
import { bridgesJson, type BridgeStatusProvider } from './bridges.js';

/** Neighbour name (its `path` in the cluster file) → node state (SERVER.md §16.3). */
export type ClusterStatusProvider = () => Readonly<Record<string, string>>;

/** Replication counters of one neighbour (psrt-node extension to `/status`, also in `/metrics`). */
export interface ClusterNodeCounters {
  readonly path: string;
  /** Accepted for this neighbour and not yet written to it. */
  readonly queued: number;
  readonly stats: { readonly sent: number; readonly notRequired: number; readonly dropped: number; readonly lost: number };
}
export type ClusterNodesProvider = () => readonly ClusterNodeCounters[];

/** Client connections refused since start (psrt-node extension), by reason. */
export type ConnectionRefusalsProvider = () => { readonly maxConnections: number; readonly fdExhausted: number };

export interface StatusSources {
  readonly broker: BrokerStats;
  readonly dataQueueSize: number;
  readonly version: string;
  readonly clusterStatus: ClusterStatusProvider | null;
  /** Per-neighbour replication counters; absent or null: `"cluster_nodes"` is left out. */
  readonly clusterNodes?: ClusterNodesProvider | null;
  /** The MQTT side (no `"mqtt"` member when no `mqtt:` section is configured). */
  readonly mqttStats?: MqttStatsProvider | null;
  /** Bridges (psrt-node extension); absent or null: `"bridges"` is left out. */
  readonly bridgeStatus?: BridgeStatusProvider | null;
  /** Refused connections; absent or null: `"connections_refused"` is left out. */
  readonly connectionRefusals?: ConnectionRefusalsProvider | null;
}

/** Host name as the reference reports it (`unknown` when the system has none). */
export function hostName(): string {
  try {
    const h = hostname();
    return h === '' ? 'unknown' : h;
  } catch {
    return 'unknown';
  }
}

/**
 * Real (wall-clock) time in µs, as the reference's SystemTime: Date.now() follows clock steps
 * that a monotonic-based clock started at boot would miss. Millisecond resolution is plenty for
 * rates over one-second polls.
 */
const realTimeUs = (): number => Date.now() * 1000;

/** Counters are integers by construction; guard anyway so the JSON never shows `1.5` or `NaN`. */
function u64(n: number): number {
  return Number.isFinite(n) && n > 0 ? Math.floor(n) : 0;
}

/** The reference's (enterprise) status document; `uptime` counts from process start (Decision 3). */
export function statusJson(src: StatusSources, host: string): string {
  const c = src.broker.counters;
  const counters =
    `{"c_sub_ops":${u64(c.subOps)},"c_pub_messages":${u64(c.pubMessages)},"c_pub_bytes":${u64(c.pubBytes)},` +
    `"c_sent_messages":${u64(c.sentMessages)},"c_sent_bytes":${u64(c.sentBytes)},"c_sent_latency":${u64(c.sentLatency)}}`;
  const clients = `{"subscription_count":${src.broker.subscriptionCount},"client_count":${src.broker.clientCount}}`;
  return (
    `{"time":${realTimeUs()},"uptime":${Math.floor(process.uptime())},` +
    `"data_queue_size":${src.dataQueueSize},"host":${JSON.stringify(host)},` +
    `"version":${JSON.stringify(src.version)},"counters":${counters},"clients":${clients},` +
    `"cluster":${clusterJson(src.clusterStatus)}` +
    clusterNodesMember(src.clusterNodes ?? null) +
    refusalsMember(src.connectionRefusals ?? null) +
    bridgesMember(src.bridgeStatus ?? null) +
    mqttMember(src.mqttStats ?? null) +
    '}'
  );
}

/**
 * `,"cluster_nodes":{path:{queued,sent,not_required,dropped,lost}}`: `cluster` keeps the
 * reference's path → state shape, so the counters (drops on a full queue, messages lost with a
 * broken link) get their own member.
 */
function clusterNodesMember(provider: ClusterNodesProvider | null): string {
  if (provider === null) return '';
  const members = provider().map(
    (n) =>
      `${JSON.stringify(n.path)}:{"queued":${u64(n.queued)},"sent":${u64(n.stats.sent)},` +
      `"not_required":${u64(n.stats.notRequired)},"dropped":${u64(n.stats.dropped)},"lost":${u64(n.stats.lost)}}`,
  );
  return `,"cluster_nodes":{${members.join(',')}}`;
}

/** `,"connections_refused":{…}`: cumulative, by reason (server.max_connections, descriptors). */
function refusalsMember(provider: ConnectionRefusalsProvider | null): string {
  if (provider === null) return '';
  const r = provider();
  return `,"connections_refused":{"max_connections":${u64(r.maxConnections)},"fd_exhausted":${u64(r.fdExhausted)}}`;
}

/** `,"mqtt":{…}` after the reference's members, only when MQTT is configured. */
function mqttMember(provider: MqttStatsProvider | null): string {
  return provider === null ? '' : `,"mqtt":${mqttStatusJson(provider)}`;
}

/** `,"bridges":{…}` while any bridge is configured, else nothing (the reference has no such member). */
function bridgesMember(provider: BridgeStatusProvider | null): string {
  if (provider === null || provider().length === 0) return '';
  return `,"bridges":${bridgesJson(provider)}`;
}

function clusterJson(provider: ClusterStatusProvider | null): string {
  if (provider === null) return 'null';
  const nodes = provider();
  const members = Object.keys(nodes).map((name) => `${JSON.stringify(name)}:${JSON.stringify(nodes[name] ?? '')}`);
  return `{${members.join(',')}}`;
}

/**
 * Topic names in /topics are cut to this many characters (with `…` appended), so the body is
 * bounded (about 1,000 × 1 KB) however long the published topics are.
 */
export const TOPICS_MAX_NAME = 512;

/**
 * `text` cut to at most `max` UTF-16 units with `…` appended. Never between the halves of a
 * surrogate pair: JSON.stringify would write the lone half as a `\uD83D` escape, which strict
 * parsers (jq, serde_json) refuse, failing the whole document.
 */
export function shortText(text: string, max: number): string {
  if (text.length <= max) return text;
  const last = text.charCodeAt(max - 1);
  const end = last >= 0xd800 && last <= 0xdbff ? max - 1 : max;
  return `${text.slice(0, end)}…`;
}

function shortTopic(topic: string): string {
  return shortText(topic, TOPICS_MAX_NAME);
}

export const TOPICS_DEFAULT_LIMIT = 20;
export const TOPICS_MAX_LIMIT = 1000;

export type TopicsQuery =
  | { readonly ok: true; readonly limit: number; readonly by: 'messages' | 'bytes' }
  | { readonly ok: false; readonly error: string };

/** `?limit=N&by=messages|bytes`; anything else in the query string is ignored. */
export function parseTopicsQuery(search: string): TopicsQuery {
  const q = new URLSearchParams(search);
  const by = q.get('by') ?? 'messages';
  if (by !== 'messages' && by !== 'bytes') return { ok: false, error: 'by must be messages or bytes' };
  const rawLimit = q.get('limit');
  let limit = TOPICS_DEFAULT_LIMIT;
  if (rawLimit !== null) {
    if (!/^\d{1,7}$/.test(rawLimit) || Number(rawLimit) < 1) {
      return { ok: false, error: `limit must be an integer from 1 to ${TOPICS_MAX_LIMIT}` };
    }
    limit = Math.min(Number(rawLimit), TOPICS_MAX_LIMIT);
  }
  return { ok: true, limit, by };
}

/**
 * `{"time":µs,"by":…,"limit":N,"topics":[{"topic","messages","bytes"}…]}`. Counts are since the
 * topic entered the broker's bounded topic table (bytes = payload bytes); an evicted topic
 * starts again from zero, so pollers computing rates must treat a decrease as a reset.
 */
export function topicsJson(broker: BrokerStats, limit: number, by: 'messages' | 'bytes'): string {
  const topics = broker.topTopics(limit, by).map((t) => ({ topic: shortTopic(t.topic), messages: t.messages, bytes: t.bytes }));
  return JSON.stringify({ time: realTimeUs(), by, limit, topics });
}
