/**
 * `/details` and `/clients`: what an operator looks for first, beyond the reference's
 * `/status` (which stays byte-compatible): slow subscribers disconnected, undeliverable
 * messages, rejected logins, UDP counters, process memory and CPU, and the client list with
 * replication links apart. Computed on request.
 */
import type { BrokerStats } from '../broker/broker.js';
import type { ClientInfo, ClientRegistry } from '../broker/client-registry.js';
import type { UdpStatsProvider } from './metrics.js';
import { shortText } from './status.js';

export interface DetailsSources {
  readonly broker: BrokerStats;
  readonly udpStats: UdpStatsProvider | null;
  /** CPU share of one core over the last seconds (1 = one core busy); null: not known yet. */
  readonly cpuShare: number | null;
}

export function detailsJson(src: DetailsSources): string {
  const c = src.broker.counters;
  const depths = src.broker.queueDepths();
  const cpu = process.cpuUsage();
  return JSON.stringify({
    time: Date.now() * 1000,
    slow_disconnected: c.droppedDataChannels,
    undeliverable: c.undeliverable,
    rejected_logins: c.rejectedLogins,
    data_channels: src.broker.dataChannelCount,
    queue_depth_max: depths.reduce((m, d) => Math.max(m, d), 0),
    queue_depth_sum: depths.reduce((m, d) => m + d, 0),
    udp: src.udpStats === null ? null : src.udpStats(),
    process: {
      rss_bytes: process.memoryUsage.rss(),
      cpu_seconds: (cpu.user + cpu.system) / 1e6,
      cpu_share: src.cpuShare,
    },
  });
}

/** Rows sent at most (oldest first); `total` says how many there are. */
const MAX_ROWS = 1000;
/**
 * Ids and user names are cut to this many characters: an MQTT client chooses its id (up to
 * 64 KB, 6× that once control characters are escaped), and 1,000 such rows made a 360 MB answer
 * that blocked the event loop for seconds on every poll of the page.
 */
export const CLIENTS_MAX_TEXT = 256;

/** Clients and replication links, each row in the `/clients` member names. */
export function clientsJson(registry: ClientRegistry): string {
  const row = (c: ClientInfo): Record<string, unknown> => ({
    id: shortText(c.id, CLIENTS_MAX_TEXT),
    protocol: c.protocol,
    address: shortText(c.address, CLIENTS_MAX_TEXT),
    user: shortText(c.user, CLIENTS_MAX_TEXT),
    subscriptions: c.subscriptions,
    queue: c.queue,
    connected_since: c.connectedSince,
  });
  const { rows, total, replication } = registry.oldest(MAX_ROWS);
  return JSON.stringify({ time: Date.now() * 1000, total, clients: rows.map(row), replication: replication.map(row) });
}
