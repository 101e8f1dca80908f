/**
 * `/metrics` in the Prometheus text exposition format 0.0.4, rendered on scrape from the
 * broker's plain counters: nothing is registered, observed or updated on the publish path.
 *
 * Hand-written instead of prom-client: the broker already keeps every number as a plain field,
 * so a client library would only add a registry to copy them into (and Counter objects that
 * cannot be *set*, only incremented); this file is the whole exporter, with no runtime
 * dependency. Process metric names follow prom-client's defaults so stock dashboards work.
 */
import type { BrokerStats } from '../broker/broker.js';
import { bridgeMetrics, type BridgeStatusProvider } from './bridges.js';
import type { ProcessSample } from './process-metrics.js';
import { snake, type MqttStatsProvider } from './mqtt-stats.js';
import type { ClusterNodesProvider, ClusterStatusProvider, ConnectionRefusalsProvider } from './status.js';

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/**
 * The UDP edge's counters (transport/udp-handler.ts UdpCounters, camelCase keys). `received`,
 * `truncated` and `acked` are totals of their own; every other key is one datagram outcome.
 */
export type UdpStatsProvider = () => Readonly<Record<string, number>>;

/** UDP counters that are not outcomes: key → [metric name, help]. */
const UDP_TOTALS: Readonly<Record<string, readonly [string, string]>> = {
  received: ['psrt_udp_received_datagrams_total', 'UDP datagrams read from all UDP sockets.'],
  truncated: ['psrt_udp_truncated_datagrams_total', 'UDP datagrams longer than udp_frame_size, cut before parsing.'],
  acked: ['psrt_udp_acks_total', 'UDP acknowledgements sent (any code).'],
};

const snakeCase = (key: string): string => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** States the stats page knows (SERVER.md §16.3); each node gets one 0/1 series per state. */
export const CLUSTER_STATES = ['waiting', 'connecting', 'online', 'offline', 'unavailable'] as const;

type Labels = Readonly<Record<string, string>>;
type Sample = readonly [Labels | null, number];

export interface MetricsSources {
  readonly broker: BrokerStats;
  readonly dataQueueSize: number;
  readonly version: string;
  readonly host: string;
  readonly udpStats: UdpStatsProvider | null;
  readonly clusterStatus: ClusterStatusProvider | null;
  readonly clusterNodes?: ClusterNodesProvider | null;
  readonly mqttStats?: MqttStatsProvider | null;
  readonly bridgeStatus?: BridgeStatusProvider | null;
  readonly connectionRefusals?: ConnectionRefusalsProvider | null;
}

const escapeLabel = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const escapeHelp = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');

function formatValue(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return '+Inf';
  if (n === -Infinity) return '-Inf';
  return String(n);
}

function formatLabels(labels: Labels | null): string {
  if (labels === null) return '';
  const parts = Object.keys(labels).map((k) => `${k}="${escapeLabel(labels[k] ?? '')}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

/** Collects metric families; each family is written once with its HELP and TYPE lines. */
export class Exposition {
  private readonly lines: string[] = [];

  add(name: string, type: 'counter' | 'gauge', help: string, samples: readonly Sample[]): this {
    this.lines.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) this.lines.push(`${name}${formatLabels(labels)} ${formatValue(value)}`);
    return this;
  }

  counter(name: string, help: string, value: number): this {
    return this.add(name, 'counter', help, [[null, value]]);
  }

  gauge(name: string, help: string, value: number): this {
    return this.add(name, 'gauge', help, [[null, value]]);
  }

  text(): string {
    return `${this.lines.join('\n')}\n`;
  }
}

/** Upper bounds for the queue-depth summary: 0, powers of 4 below the capacity, the capacity. */
export function queueDepthBounds(capacity: number): number[] {
  const bounds = [0];
  for (let b = 1; b < capacity; b *= 4) bounds.push(b);
  if (capacity > 0) bounds.push(capacity);
  return bounds;
}

function brokerMetrics(out: Exposition, src: MetricsSources): void {
  const b = src.broker;
  const c = b.counters;
  out
    .add('psrt_info', 'gauge', 'Server version and host name (always 1).', [[{ version: src.version, host: src.host }, 1]])
    .gauge('psrt_uptime_seconds', 'Seconds since the process started.', Math.floor(process.uptime()))
    .counter('psrt_sub_ops_total', 'Topics processed by SUBSCRIBE and UNSUBSCRIBE (c_sub_ops).', c.subOps)
    .counter('psrt_pub_messages_total', 'TCP PUBLISH frames read, rejected ones included (c_pub_messages).', c.pubMessages)
    .counter('psrt_pub_bytes_total', 'LEN of the TCP PUBLISH frames read (c_pub_bytes).', c.pubBytes)
    .counter('psrt_sent_messages_total', 'Message frames written to data sockets (c_sent_messages).', c.sentMessages)
    .counter('psrt_sent_bytes_total', 'Bytes of the message frames written to data sockets (c_sent_bytes).', c.sentBytes)
    // Prometheus' base unit is the second (promtool lints other units); c_sent_latency is µs.
    .counter('psrt_sent_latency_seconds_total', 'Sum of the delivery latencies of the frames written (c_sent_latency / 1e6).', c.sentLatency / 1e6)
    .gauge('psrt_clients', 'Logged-in control sessions (client_count).', b.clientCount)
    .gauge('psrt_subscriptions', 'Subscriptions of all sessions, each session\'s distinct normalised masks (subscription_count).', b.subscriptionCount)
    .gauge('psrt_data_channels', 'Sessions with an attached data socket.', b.dataChannelCount)
    .counter('psrt_dropped_data_channels_total', 'Data sockets dropped because their queue stayed full.', c.droppedDataChannels)
    .counter('psrt_rejected_logins_total', 'Refused logins (bad password, anonymous disabled, no ACL entry).', c.rejectedLogins)
    .counter('psrt_dropped_slow_data_channels_total', 'Data sockets dropped because they read too slowly (slow_consumer: disconnect).', c.droppedSlowChannels)
    .counter('psrt_dropped_slow_messages_total', 'Messages not queued for a slow subscriber (slow_consumer: drop).', c.droppedSlowMessages)
    .counter('psrt_undeliverable_total', 'Messages not delivered to a matching session that had no data socket.', c.undeliverable);
}

function queueMetrics(out: Exposition, src: MetricsSources): void {
  const depths = src.broker.queueDepths();
  const bounds = queueDepthBounds(src.dataQueueSize);
  // One pass: a filter per bound took ~16 ms at 100,000 data sockets, the event loop held meanwhile.
  const within = bounds.map(() => 0);
  let max = 0;
  let sum = 0;
  for (const d of depths) {
    if (d > max) max = d;
    sum += d;
    let i = 0;
    while (i < bounds.length && d > (bounds[i] ?? 0)) i++;
    if (i < within.length) within[i] = (within[i] ?? 0) + 1;
  }
  // Not `le`: that label (and a `_sum` suffix) is reserved for histograms, and this snapshot is a gauge.
  let below = 0;
  const buckets: Sample[] = bounds.map((le, i) => [{ depth_le: String(le) }, (below += within[i] ?? 0)]);
  buckets.push([{ depth_le: '+Inf' }, depths.length]);
  out
    .gauge('psrt_data_queue_capacity', 'Configured data_queue (messages per data socket).', src.dataQueueSize)
    .gauge('psrt_data_queue_depth_max', 'Deepest data-socket queue right now (messages).', max)
    .gauge('psrt_data_queued_messages', 'Messages waiting in all data-socket queues right now.', sum)
    .add('psrt_data_queue_depth_channels', 'gauge', 'Data sockets whose queue holds at most `depth_le` messages right now (cumulative).', buckets);
}

function udpMetrics(out: Exposition, provider: UdpStatsProvider | null): void {
  if (provider === null) return;
  const stats = provider();
  const outcomes: Sample[] = [];
  for (const key of Object.keys(stats)) {
    const value = stats[key] ?? 0;
    const total = UDP_TOTALS[key];
    if (total !== undefined) out.counter(total[0], total[1], value);
    else outcomes.push([{ outcome: snakeCase(key) }, value]);
  }
  out.add('psrt_udp_datagrams_total', 'counter', 'UDP datagrams by outcome (accepted, denied, rejected, malformed, …).', outcomes);
}

function refusalMetrics(out: Exposition, provider: ConnectionRefusalsProvider | null): void {
  if (provider === null) return;
  const r = provider();
  out.add('psrt_connections_refused_total', 'counter', 'Client connections closed at once: server.max_connections reached, or out of file descriptors.', [
    [{ reason: 'max_connections' }, r.maxConnections],
    [{ reason: 'fd_exhausted' }, r.fdExhausted],
  ]);
}

function clusterMetrics(out: Exposition, provider: ClusterStatusProvider | null): void {
  if (provider === null) return;
  const nodes = provider();
  const samples: Sample[] = [];
  for (const node of Object.keys(nodes)) {
    const current = nodes[node] ?? '';
    const states: readonly string[] = CLUSTER_STATES.includes(current as (typeof CLUSTER_STATES)[number])
      ? CLUSTER_STATES
      : [...CLUSTER_STATES, current];
    for (const state of states) samples.push([{ node, state }, state === current ? 1 : 0]);
  }
  out.add('psrt_cluster_node_state', 'gauge', 'Replication state of each cluster neighbour (1 = current state).', samples);
}

/** Per-neighbour replication outcomes and queue depth (what `/status.cluster_nodes` shows). */
function clusterCounterMetrics(out: Exposition, provider: ClusterNodesProvider | null): void {
  if (provider === null) return;
  const results: Sample[] = [];
  const queued: Sample[] = [];
  for (const n of provider()) {
    const { sent, notRequired, dropped, lost } = n.stats;
    results.push([{ node: n.path, result: 'sent' }, sent], [{ node: n.path, result: 'not_required' }, notRequired]);
    results.push([{ node: n.path, result: 'dropped' }, dropped], [{ node: n.path, result: 'lost' }, lost]);
    queued.push([{ node: n.path }, n.queued]);
  }
  out.add(
    'psrt_cluster_messages_total',
    'counter',
    'Messages offered to each neighbour by outcome: sent, not_required (no subscriber there), dropped (queue full), lost (link broke or refused).',
    results,
  );
  out.add('psrt_cluster_queued_messages', 'gauge', 'Messages queued for each neighbour and not yet written to it.', queued);
}

function processMetrics(out: Exposition, p: ProcessSample): void {
  out
    .counter('process_cpu_user_seconds_total', 'User CPU time spent in seconds.', p.cpuUserSeconds)
    .counter('process_cpu_system_seconds_total', 'System CPU time spent in seconds.', p.cpuSystemSeconds)
    .counter('process_cpu_seconds_total', 'Total user and system CPU time spent in seconds.', p.cpuUserSeconds + p.cpuSystemSeconds)
    .gauge('process_start_time_seconds', 'Start time of the process since unix epoch in seconds.', p.startTimeSeconds)
    .gauge('process_resident_memory_bytes', 'Resident memory size in bytes.', p.residentBytes)
    .gauge('nodejs_heap_size_total_bytes', 'Process heap size from Node.js in bytes.', p.heapTotalBytes)
    .gauge('nodejs_heap_size_used_bytes', 'Process heap size used from Node.js in bytes.', p.heapUsedBytes)
    .gauge('nodejs_external_memory_bytes', 'Node.js external memory size in bytes.', p.externalBytes)
    .gauge('nodejs_eventloop_utilization', 'Share of time the event loop was busy since the previous scrape.', p.loopUtilization)
    .counter('nodejs_eventloop_active_seconds_total', 'Seconds the event loop was busy since the process started.', p.loopActiveSeconds);
  if (p.openFds !== null) out.gauge('process_open_fds', 'Number of open file descriptors.', p.openFds);
  const d = p.loopDelay;
  if (d !== null) {
    out
      .gauge('nodejs_eventloop_lag_mean_seconds', 'Mean event loop lag since the previous scrape.', d.mean)
      .gauge('nodejs_eventloop_lag_max_seconds', 'Maximum event loop lag since the previous scrape.', d.max)
      .gauge('nodejs_eventloop_lag_p50_seconds', 'Median event loop lag since the previous scrape.', d.p50)
      .gauge('nodejs_eventloop_lag_p99_seconds', '99th percentile event loop lag since the previous scrape.', d.p99);
  }
}

export function renderMetrics(src: MetricsSources, proc: ProcessSample): string {
  const out = new Exposition();
  brokerMetrics(out, src);
  queueMetrics(out, src);
  udpMetrics(out, src.udpStats);
  refusalMetrics(out, src.connectionRefusals ?? null);
  mqttMetrics(out, src.mqttStats ?? null, src.broker.clientCount, src.broker.counters.pubMessages);
  clusterMetrics(out, src.clusterStatus);
  clusterCounterMetrics(out, src.clusterNodes ?? null);
  bridgeMetrics(out, src.bridgeStatus ?? null);
  processMetrics(out, proc);
  return out.text();
}

const MQTT_HELP: Readonly<Record<string, string>> = {
  connects: 'MQTT connections accepted (CONNACK success).',
  rejectedConnects: 'MQTT CONNECTs refused (credentials, ACL, client id, protocol version).',
  protocolErrors: 'MQTT connections closed for a protocol violation.',
  published: 'PUBLISH packets accepted from MQTT clients (wills included).',
  deniedPublishes: 'MQTT publishes refused by the ACL.',
  delivered: 'Deliveries handed to MQTT sessions (retained messages sent on SUBSCRIBE included).',
  droppedQueueFull: 'QoS 1/2 messages dropped because a session queue was full (max_queued_messages or max_queued_bytes).',
  droppedTooLarge: 'Messages not sent because they exceed the client\'s Maximum Packet Size.',
  expired: 'Messages whose Message Expiry Interval ran out while queued.',
  droppedSlow: 'MQTT connections dropped by the slow-consumer policy.',
  takeovers: 'MQTT sessions taken over by a new connection with the same client id.',
};

/** `clientsByProtocol`: PSRT control sessions, for the labelled client gauge. */
function mqttMetrics(out: Exposition, provider: MqttStatsProvider | null, psrtClients: number, psrtPublished: number): void {
  const s = provider?.();
  const mqttPublished = s?.counters.published ?? 0;
  out.add('psrt_protocol_clients', 'gauge', 'Connected clients by protocol (PSRT control sessions, MQTT connections).', [
    [{ protocol: 'psrt' }, psrtClients],
    [{ protocol: 'mqtt' }, s?.connections ?? 0],
  ]);
  out.add('psrt_protocol_published_messages_total', 'counter', 'Messages published by clients, by protocol: PSRT TCP PUBLISH frames read (refused ones included, as c_pub_messages), MQTT PUBLISH packets accepted.', [
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
    out.counter(`psrt_mqtt_${snake(key)}_total`, MQTT_HELP[key] ?? key, value);
  }
  const p = s.persistence;
  if (p === null) return;
  out
    .counter('psrt_mqtt_persistence_saves_total', 'Saves of mqtt.persistence_file written.', p.saves)
    .counter('psrt_mqtt_persistence_save_failures_total', 'Saves of mqtt.persistence_file that failed (the previous file is kept).', p.saveFailures)
    .gauge('psrt_mqtt_persistence_failing', '1 while the last save of mqtt.persistence_file failed (a restart would lose what changed since the last good save).', p.failing ? 1 : 0)
    .gauge('psrt_mqtt_persistence_last_save_timestamp_seconds', 'When the last save of mqtt.persistence_file was written (0: none yet; saves happen only when something changed).', p.lastSaveMs / 1000)
    .gauge('psrt_mqtt_persistence_last_save_duration_seconds', 'How long the last save of mqtt.persistence_file took.', p.lastSaveDurationMs / 1000)
    .gauge('psrt_mqtt_persistence_file_bytes', 'Size of mqtt.persistence_file as last loaded or written.', p.fileBytes);
}
