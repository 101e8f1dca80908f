/**
 * How many client sockets psrtd accepts at once. Every socket is a file descriptor, so without
 * `server.max_connections` the limit is what the process's open-files soft limit leaves after a
 * reserve for listeners, stdio, log and config files and outgoing (cluster, bridge) connections:
 * a large site raising LimitNOFILE gets the room it asked for, and the server refuses cleanly
 * (with a log line) before the kernel would. An explicit `server.max_connections` wins.
 */
import { readFileSync } from 'node:fs';

/** Descriptors kept for everything but client sockets (node itself uses about 20–30). */
export const FD_RESERVE = 64;
/** The most connections the stats HTTP server holds at once (browsers, scrapers, floods). */
export const STATS_MAX_CONNECTIONS = 4096;

/**
 * Connections the stats server may hold under open-files limit `fdLimit`: a sixteenth of it,
 * 16 to STATS_MAX_CONNECTIONS. Its descriptors are kept out of the client budget, so a flood of
 * stats connections cannot take the descriptors that max_connections promised to clients.
 */
export function statsConnectionCap(fdLimit: number | null): number {
  if (fdLimit === null) return STATS_MAX_CONNECTIONS;
  return Math.min(STATS_MAX_CONNECTIONS, Math.max(16, Math.floor(fdLimit / 16)));
}

/** The limit when the open-files limit cannot be read (not Linux) or is unlimited. */
export const FALLBACK_MAX_CONNECTIONS = 1_000_000;

export interface ConnectionLimits {
  /** The limit in force: the configured value, else the descriptor budget, else the fallback. */
  readonly maxConnections: number;
  /** True when `server.max_connections` was configured. */
  readonly explicit: boolean;
  /** Open-files soft limit; null when unknown or unlimited. */
  readonly fdLimit: number | null;
  readonly fdReserve: number;
  /** Descriptors kept for the stats server's connections (0 without `server.bind_stats`). */
  readonly statsReserve: number;
  /** Client sockets the open-files limit leaves room for; null when the limit is unknown. */
  readonly fdBudget: number | null;
}

/** The soft `Max open files` of /proc/self/limits (Linux); null elsewhere or when unlimited. */
export function readOpenFilesLimit(text?: string): number | null {
  let body = text;
  if (body === undefined) {
    try {
      body = readFileSync('/proc/self/limits', 'utf8');
    } catch {
      return null;
    }
  }
  const m = /^Max open files\s+(\S+)/m.exec(body);
  if (m?.[1] === undefined || !/^\d+$/.test(m[1])) return null;
  const n = Number(m[1]);
  return n > 0 ? n : null;
}

/** `statsReserve`: the stats server's connection cap when it runs (statsConnectionCap), else 0. */
export function resolveConnectionLimits(configured: number | undefined, fdLimit: number | null, statsReserve = 0): ConnectionLimits {
  const fdReserve = fdLimit === null ? FD_RESERVE : Math.min(FD_RESERVE, Math.floor(fdLimit / 2));
  const fdBudget = fdLimit === null ? null : Math.max(1, fdLimit - fdReserve - statsReserve);
  const common = { fdLimit, fdReserve, statsReserve, fdBudget };
  if (configured !== undefined) return { maxConnections: configured, explicit: true, ...common };
  return { maxConnections: fdBudget ?? FALLBACK_MAX_CONNECTIONS, explicit: false, ...common };
}

/** `64 kept in reserve` or `64 kept in reserve, 1,250 for the stats server`. */
export function describeReserve(l: Pick<ConnectionLimits, 'fdReserve' | 'statsReserve'>): string {
  return `${l.fdReserve} kept in reserve${l.statsReserve > 0 ? `, ${groupThousands(l.statsReserve)} for the stats server` : ''}`;
}

/**
 * 1234567 → "1,234,567". Not toLocaleString: its first call loads ICU locale data, about 5 MB
 * of RSS for the life of the process (measured), for two start-up log lines.
 */
export function groupThousands(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

const fmt = groupThousands;

/** The start-up line, and a warning when the configured limit cannot be reached. */
export function describeConnectionLimits(l: ConnectionLimits): { readonly info: string; readonly warning: string | null } {
  const fdText = l.fdLimit === null ? 'open-files limit unknown' : `open-files limit ${fmt(l.fdLimit)}`;
  if (!l.explicit) {
    const source = l.fdLimit === null ? `the built-in default; ${fdText}` : `from the ${fdText}, ${describeReserve(l)}`;
    return { info: `max_connections: ${fmt(l.maxConnections)} (${source}; set server.max_connections to override)`, warning: null };
  }
  const info = `max_connections: ${fmt(l.maxConnections)} (server.max_connections; ${fdText})`;
  if (l.fdBudget === null || l.maxConnections <= l.fdBudget) return { info, warning: null };
  const warning =
    `server.max_connections (${fmt(l.maxConnections)}) is above what the open-files limit ${fmt(l.fdLimit ?? 0)} allows ` +
    `(${fmt(l.fdBudget)} connections, ${describeReserve(l)}); connections beyond that are refused ` +
    'as out of file descriptors: raise LimitNOFILE / ulimit -n (see docs/operations.md)';
  return { info, warning };
}
