/**
 * The stats HTTP server on `bind_stats` (SERVER.md §13): the reference's request handling
 * (method, Authorization header, admin check, exact-path routing) plus our additions `/topics`,
 * `/metrics` and the page's own script and style sheet.
 *
 * Nothing here runs unless a request arrives: every document is computed from the broker's
 * plain counters when asked for, and the publish path never calls into this module.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { BrokerStats } from '../broker/broker.js';
import { ClientRegistry } from '../broker/client-registry.js';
import type { Logger } from '../log/logger.js';
import { escapeForLog } from '../protocol/log-escape.js';
import { loadStatsAssets, type StatsAssets } from './assets.js';
import { clientsJson, detailsJson } from './details.js';
import { CounterHistory, HISTORY_SECONDS } from './history.js';
import type { BridgeStatusProvider } from './bridges.js';
import { isAuthorized, parseAuthorization, type StatsAuth } from './http-auth.js';
import type { MqttStatsProvider } from './mqtt-stats.js';
import { METRICS_CONTENT_TYPE, renderMetrics, type UdpStatsProvider } from './metrics.js';
import { ProcessMetrics } from './process-metrics.js';
import {
  hostName, parseTopicsQuery, statusJson, topicsJson,
  type ClusterNodesProvider, type ClusterStatusProvider, type ConnectionRefusalsProvider, type StatusSources,
} from './status.js';

export interface StatsServerOptions {
  readonly broker: BrokerStats;
  readonly auth: StatsAuth;
  readonly log: Logger;
  /** `server.data_queue`, reported as `data_queue_size`. */
  readonly dataQueueSize: number;
  readonly version: string;
  /** Cluster neighbour states; null (free build, no cluster): `"cluster":null`. Settable later. */
  readonly clusterStatus?: ClusterStatusProvider | null;
  /** UDP datagram counts by outcome for /metrics; null: not exported. Settable later. */
  readonly udpStats?: UdpStatsProvider | null;
  /** Who is connected (PSRT sessions, MQTT, replication links); null: `/clients` lists none. */
  readonly clients?: ClientRegistry | null;
  /** Cumulative refused client connections (all listeners); absent: no `connections_refused`. */
  readonly connectionRefusals?: ConnectionRefusalsProvider | null;
  /**
   * Counts and logs an accept() error of this server that is a lack of descriptors; returns
   * false for other errors (logged here). Absent: every error is logged here.
   */
  readonly acceptError?: (e: NodeJS.ErrnoException) => boolean;
  /**
   * Connections held at once (its descriptors are kept out of the client budget, see
   * src/transport/connection-limits.ts); default DEFAULT_MAX_CONNECTIONS.
   */
  readonly maxConnections?: number;
  /** A connection was closed at once at the limits below (`what` says which); for the log. */
  readonly connectionRefused?: (what: string) => void;
  /** Page files (tests); default: loaded from disk at start. */
  readonly assets?: StatsAssets;
  /** Where the topic explorer finds MQTT over WebSocket; null: not configured. Settable later. */
  readonly explorer?: ExplorerSettings | null;
}

/** What /explorer/config.json tells the page: the WebSocket listeners' ports and URL path. */
export interface ExplorerSettings {
  readonly path: string;
  readonly listeners: readonly { readonly port: number; readonly tls: boolean }[];
}

/** Where to listen (structurally config's HostPort: stats may not import src/config). */
export interface StatsBind {
  /** As written in the config, for the log line. */
  readonly address: string;
  readonly host: string;
  readonly port: number;
}

const JSON_TYPE = 'application/json';
/**
 * Connection limits (docs/security.md). A browser opens a handful of connections; one address
 * may hold PER_ADDRESS, more are closed at once, so one host cannot take the server's slots.
 * The global cap (opts.maxConnections: a sixteenth of the open-files limit, 16 to 4,096, kept
 * out of the client budget by src/transport/connection-limits.ts) is above what 1,000 idle
 * connections from many hosts need at the usual limits. A connection
 * must send a complete request head within HEADERS_TIMEOUT_MS of connecting (or of its last
 * answer: keep-alive), or it is closed; Node checks the request timeouts every
 * CHECK_INTERVAL_MS.
 */
const DEFAULT_MAX_CONNECTIONS = 4096;
const MAX_CONNECTIONS_PER_ADDRESS = 16;
const PER_ADDRESS_REFUSAL = `the stats server's limit of ${String(MAX_CONNECTIONS_PER_ADDRESS)} connections per address reached`;
const HEADERS_TIMEOUT_MS = 5_000;
const REQUEST_TIMEOUT_MS = 10_000;
const KEEP_ALIVE_TIMEOUT_MS = 5_000;
const CHECK_INTERVAL_MS = 1_000;
/** Largest request head accepted (Node's default is 16 KB). */
const MAX_HEADER_BYTES = 8192;
/**
 * Requests one connection may have unanswered at once. Browsers and scrapers send one at a time;
 * every answer here is asynchronous, so Node's pipelining back-pressure (it stops reading while
 * answers are unwritten) never saw one: a 64 KB read of pipelined requests became ~1,800 answers
 * rendered and held at once (16 connections of `GET /metrics`: ~900 MB of heap, another scrape
 * waiting ~5 s). A connection with more unanswered requests is closed.
 */
const MAX_PIPELINED = 8;
const PIPELINE_REFUSAL = `more than ${String(MAX_PIPELINED)} pipelined requests unanswered on one connection`;
const EMPTY_REGISTRY = new ClientRegistry();

function formatAddress(info: AddressInfo): string {
  return info.address.includes(':') ? `[${info.address}]:${info.port}` : `${info.address}:${info.port}`;
}

/** Path and query of the request target; origin-form and absolute-form, no normalisation. */
export function splitTarget(url: string): { path: string; search: string } {
  const origin = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i.exec(url);
  const rest = origin === null ? url : url.slice(origin[0].length) || '/';
  const q = rest.indexOf('?');
  return q < 0 ? { path: rest, search: '' } : { path: rest.slice(0, q), search: rest.slice(q) };
}

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

function send(res: ServerResponse, status: number, body = '', headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-length': String(Buffer.byteLength(body)), ...headers });
  res.end(body);
}

export class StatsServer {
  clusterStatus: ClusterStatusProvider | null;
  /** Per-neighbour replication counters (set by the bin layer with the cluster). */
  clusterNodes: ClusterNodesProvider | null = null;
  udpStats: UdpStatsProvider | null;
  /** The MQTT side's figures; null when MQTT is not configured. Set after start. */
  mqttStats: MqttStatsProvider | null = null;
  explorer: ExplorerSettings | null;
  /** Bridge states and counters (set by the bin layer when bridges are configured). */
  bridgeStatus: BridgeStatusProvider | null = null;
  private readonly proc = new ProcessMetrics();
  private readonly history: CounterHistory;
  private readonly host = hostName();
  private server: Server | null = null;
  /** Open connections per client address. */
  private readonly perAddress = new Map<string, number>();
  /** Requests read and not yet answered, per connection. */
  private readonly unanswered = new WeakMap<Socket, number>();
  private listening = '';

  private constructor(
    private readonly opts: StatsServerOptions,
    private readonly assets: StatsAssets,
  ) {
    this.clusterStatus = opts.clusterStatus ?? null;
    this.udpStats = opts.udpStats ?? null;
    this.explorer = opts.explorer ?? null;
    this.history = new CounterHistory(opts.broker);
  }

  /** Loads the page files, binds and logs like the reference; rejects when binding fails. */
  static async start(opts: StatsServerOptions, bind: StatsBind): Promise<StatsServer> {
    const assets = opts.assets ?? (await loadStatsAssets());
    for (const w of assets.warnings) opts.log.warn(w);
    const stats = new StatsServer(opts, assets);
    await stats.listen(bind).catch((e: unknown) => {
      stats.history.stop();
      throw e;
    });
    return stats;
  }

  /** The bound address (`ip:port`, `[v6]:port`). */
  get address(): string {
    return this.listening;
  }

  async close(): Promise<void> {
    this.proc.stop();
    this.history.stop();
    const server = this.server;
    if (server === null) return;
    this.server = null;
    const closed = new Promise<void>((res) => server.close(() => { res(); }));
    server.closeAllConnections();
    await closed;
  }

  private async listen(bind: StatsBind): Promise<void> {
    const { log } = this.opts;
    log.info(`binding stats server to: ${bind.address}`);
    const server = createServer(
      {
        headersTimeout: HEADERS_TIMEOUT_MS,
        requestTimeout: REQUEST_TIMEOUT_MS,
        keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
        connectionsCheckingInterval: CHECK_INTERVAL_MS,
        maxHeaderSize: MAX_HEADER_BYTES,
      },
      (req, res) => {
        this.onRequest(req, res);
      },
    );
    const cap = this.opts.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    server.maxConnections = cap;
    const capText = `the stats server's connection limit (${String(cap)}) reached`;
    server.on('drop', () => {
      this.opts.connectionRefused?.(capText);
    });
    server.on('connection', (socket: Socket) => {
      this.admit(socket);
    });
    await new Promise<void>((resolve, reject) => {
      const fail = (e: Error): void => {
        reject(new Error(`unable to bind stats server to ${bind.address}: ${e.message}`, { cause: e }));
      };
      server.once('error', fail);
      server.listen({ host: bind.host, port: bind.port, exclusive: true }, () => {
        server.off('error', fail);
        resolve();
      });
    });
    // EMFILE/ENFILE in accept() arrive here; never fatal, the server keeps listening.
    server.on('error', (e: NodeJS.ErrnoException) => {
      if (this.opts.acceptError?.(e) !== true) log.error(`stats server error: ${e.message}`);
    });
    this.server = server;
    this.listening = formatAddress(server.address() as AddressInfo);
    log.info(`listening on HTTP ${this.listening}`);
  }

  /**
   * Per-address cap, and a deadline for the first request: Node's headersTimeout only starts
   * with the first byte of a request, so a connection that never sends one is closed here.
   */
  private admit(socket: Socket): void {
    const address = socket.remoteAddress ?? '';
    const count = (this.perAddress.get(address) ?? 0) + 1;
    if (count > MAX_CONNECTIONS_PER_ADDRESS) {
      socket.destroy();
      this.opts.connectionRefused?.(PER_ADDRESS_REFUSAL);
      return;
    }
    this.perAddress.set(address, count);
    const idle = setTimeout(() => {
      if (socket.bytesRead === 0) socket.destroy();
    }, HEADERS_TIMEOUT_MS);
    socket.once('close', () => {
      clearTimeout(idle);
      const left = (this.perAddress.get(address) ?? 1) - 1;
      if (left <= 0) this.perAddress.delete(address);
      else this.perAddress.set(address, left);
    });
  }

  /** Counts the connection's unanswered requests; false (connection closed) beyond MAX_PIPELINED. */
  private admitRequest(socket: Socket, res: ServerResponse): boolean {
    if (socket.destroyed) return false; // the rest of a read that was already refused
    const count = (this.unanswered.get(socket) ?? 0) + 1;
    if (count > MAX_PIPELINED) {
      socket.destroy();
      this.opts.connectionRefused?.(PIPELINE_REFUSAL);
      return false;
    }
    this.unanswered.set(socket, count);
    res.once('close', () => {
      this.unanswered.set(socket, (this.unanswered.get(socket) ?? 1) - 1);
    });
    return true;
  }

  /** §13.1 in order: method, Authorization header, authorisation, then the path. */
  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    if (!this.admitRequest(req.socket, res)) return;
    // No endpoint reads a body. Draining one let a client keep psrtd busy discarding data
    // until the request timeout; instead answer and close, unread (Node stops reading it).
    if (hasBody(req)) res.setHeader('connection', 'close');
    else req.resume();
    if (req.method !== 'GET') {
      send(res, 405);
      return;
    }
    if (this.servePublic(splitTarget(req.url ?? '/').path, res)) return;
    const creds = parseAuthorization(req.headers.authorization);
    if (creds.kind === 'bad') {
      send(res, 400, creds.message);
      return;
    }
    isAuthorized(this.opts.auth, creds, req.socket.remoteAddress)
      .then(async (ok) => {
        if (!ok) send(res, 401, '', { 'www-authenticate': 'Basic realm="?"' });
        else await this.route(splitTarget(req.url ?? '/'), res);
      })
      .catch((e: unknown) => {
        this.opts.log.error(`stats request ${escapeForLog(req.url ?? '')} failed: ${e instanceof Error ? e.message : String(e)}`);
        if (!res.headersSent) send(res, 500);
        else res.destroy();
      });
  }

  private async route(target: { path: string; search: string }, res: ServerResponse): Promise<void> {
    const noStore = { 'cache-control': 'no-store' };
    switch (target.path) {
      case '/status':
        send(res, 200, statusJson(this.statusSources(), this.host), { 'content-type': JSON_TYPE, ...noStore });
        return;
      case '/topics':
        this.topics(target.search, res);
        return;
      case '/history':
        send(res, 200, JSON.stringify({ seconds: HISTORY_SECONDS, samples: this.history.samples() }), { 'content-type': JSON_TYPE, ...noStore });
        return;
      case '/details': {
        const body = detailsJson({ broker: this.opts.broker, udpStats: this.udpStats, cpuShare: this.history.cpuShare() });
        send(res, 200, body, { 'content-type': JSON_TYPE, ...noStore });
        return;
      }
      case '/clients':
        send(res, 200, clientsJson(this.opts.clients ?? EMPTY_REGISTRY), { 'content-type': JSON_TYPE, ...noStore });
        return;
      case '/metrics': {
        const body = renderMetrics({ ...this.statusSources(), host: this.host, udpStats: this.udpStats }, await this.proc.sample());
        send(res, 200, body, { 'content-type': METRICS_CONTENT_TYPE, ...noStore });
        return;
      }
    }
    const file = this.assets.files.get(target.path);
    if (file === undefined) {
      send(res, 404);
      return;
    }
    res.writeHead(200, { 'content-type': file.contentType, 'content-length': String(file.body.length), 'cache-control': 'no-cache' });
    res.end(file.body);
  }

  /** The topic explorer (no stats login: it logs in over MQTT). True when the path was one of its. */
  private servePublic(path: string, res: ServerResponse): boolean {
    if (path === '/explorer') {
      send(res, 301, '', { location: 'explorer/' });
      return true;
    }
    if (path === '/explorer/config.json') {
      send(res, 200, JSON.stringify(this.explorer ?? { path: '/mqtt', listeners: [] }), { 'content-type': JSON_TYPE, 'cache-control': 'no-store' });
      return true;
    }
    const file = this.assets.publicFiles?.get(path);
    if (file === undefined) return false;
    res.writeHead(200, { 'content-type': file.contentType, 'content-length': String(file.body.length), 'cache-control': 'no-cache' });
    res.end(file.body);
    return true;
  }

  private topics(search: string, res: ServerResponse): void {
    const q = parseTopicsQuery(search);
    if (!q.ok) {
      send(res, 400, q.error, { 'content-type': 'text/plain; charset=utf-8' });
      return;
    }
    send(res, 200, topicsJson(this.opts.broker, q.limit, q.by), { 'content-type': JSON_TYPE, 'cache-control': 'no-store' });
  }

  private statusSources(): StatusSources & { mqttStats: MqttStatsProvider | null } {
    const { broker, dataQueueSize, version } = this.opts;
    return {
      broker, dataQueueSize, version, clusterStatus: this.clusterStatus, clusterNodes: this.clusterNodes, bridgeStatus: this.bridgeStatus, mqttStats: this.mqttStats,
      connectionRefusals: this.opts.connectionRefusals ?? null,
    };
  }
}
