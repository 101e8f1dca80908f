/** Assembles the MQTT side of psrtd from the `mqtt:` config section. */
import { YamlLines } from '../auth/yaml-validate.js';
import { ANONYMOUS, type AuthStore } from '../auth/auth-store.js';
import { DEFAULT_SLOW_MAX_HOLD, DEFAULT_SLOW_WINDOW_MS, type Broker, type ClientProvider } from '../broker/index.js';
import { DEFAULTS } from '../config/defaults.js';
import type { MqttSection, ProtoSection, ServerConfig } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import { ErrorCode, PsrtError } from '../protocol/errors.js';
import type { MqttConnection } from '../mqtt/connection.js';
import { MqttPersistentState } from '../mqtt/persistent-state.js';
import { MqttRouter } from '../mqtt/router.js';
import type { SysFigures } from '../mqtt/sys-tree.js';
import { FINAL_SAVE_BOUND_MS, PersistenceFile, type BridgeExportsStore } from './persistence-file.js';
import type { MqttStatsSnapshot, PersistenceStats } from '../stats/mqtt-stats.js';
import type { MqttContext } from '../mqtt/context.js';
import { parseBind, type BindTarget } from '../transport/bind.js';
import { MqttServer, type BoundMqtt, type MqttTls } from '../transport/mqtt-server.js';
import type { MqttWsServer, MqttWsOptions } from '../transport/mqtt-ws.js';
import { TlsIdentity } from '../transport/tls.js';
import type { ConnectionGate } from '../transport/connection-gate.js';

export interface RunningMqtt {
  readonly router: MqttRouter;
  readonly server: MqttServer;
  readonly bound: readonly BoundMqtt[];
  /** MQTT over WebSocket (`ws_bind`, `wss_bind`); null when neither is configured. */
  readonly ws: MqttWsServer | null;
  readonly wsBound: readonly BoundMqtt[];
  /** URL path of the WebSocket endpoint (the explorer page needs it). */
  readonly wsPath: string;
  /** Live connections (stats client list). */
  readonly connections: ReadonlySet<MqttConnection>;
  /**
   * SIGHUP: re-reads an own identity (`mqtt.tls_*`, or any with client certificates: CA and CRL
   * too); a shared `proto.tls_*` one is reloaded by its owner.
   */
  reloadTls(): boolean;
  /** The most stop() may spend on the last save of `mqtt.persistence_file` (0 without one). */
  readonly saveBoundMs: number;
  /** A save of `mqtt.persistence_file` is still running after stop() gave up on it (a hung disk). */
  readonly saveStuck: boolean;
  /** The health of `mqtt.persistence_file`; null without one. */
  persistenceStats(): PersistenceStats | null;
  /** Closes the listeners and connections, then saves the retained messages (`persistence_file`). */
  stop(): Promise<void>;
}

/** MQTT connections as rows of the stats client list (protocol `mqtt`). */
export function mqttClients(running: RunningMqtt): ClientProvider {
  return function* () {
    for (const c of running.connections) {
      const d = c.describe();
      if (d === null) continue;
      yield { id: `mqtt-${d.clientId}`, protocol: 'mqtt', address: c.address, user: d.user, subscriptions: d.subscriptions, queue: d.queue, connectedSince: d.connectedSince };
    }
  };
}

/** The MQTT figures the stats server shows. */
export function mqttStatsOf(running: RunningMqtt): MqttStatsSnapshot {
  const r = running.router;
  let queued = 0;
  for (const s of r.sessions.values()) queued += s.queuedCount;
  return {
    connections: running.connections.size,
    sessions: r.sessions.size,
    subscriptions: r.subscriptionCount,
    retainedCount: r.retained.count,
    retainedBytes: r.retained.bytes,
    retainedRefused: r.retained.refused,
    queued,
    counters: r.counters,
    persistence: running.persistenceStats(),
  };
}

/**
 * The `$SYS` figures: PSRT and MQTT together (one broker), from the counters `/status` and
 * `/metrics` show. `udpAccepted`: UDP datagrams published (PSRT's c_pub_messages counts TCP only).
 */
export function sysFiguresOf(broker: Broker, running: RunningMqtt, udpAccepted: () => number): SysFigures {
  const c = broker.counters;
  const r = running.router;
  const m = r.counters;
  const mqttConnected = running.connections.size;
  return {
    uptimeSeconds: Math.floor(process.uptime()),
    connected: broker.clientCount + mqttConnected,
    disconnected: Math.max(0, r.sessions.size - mqttConnected),
    subscriptions: broker.subscriptionCount + r.subscriptionCount,
    retained: r.retained.count,
    received: c.pubMessages + udpAccepted(),
    sent: c.sentMessages,
    dropped: c.droppedSlowMessages + c.undeliverable + m.droppedQueueFull + m.droppedTooLarge,
  };
}

/** SIGHUP: `mqtt.sys_interval` as the config file says now; `current` when the file is bad or has no `mqtt:`. */
export function reloadedSysInterval(config: ServerConfig, reread: () => ServerConfig, current: number, log: Logger): number {
  if (config.file === undefined) return current;
  try {
    const next = reread().mqtt?.sysInterval ?? current;
    if (next !== current) log.info(`mqtt.sys_interval: ${next} s (was ${current} s)`);
    return next;
  } catch (e) {
    log.error(`mqtt.sys_interval not reloaded, ${current} s kept: ${e instanceof Error ? e.message : String(e)}`);
    return current;
  }
}

function targets(list: MqttSection['bind']): BindTarget[] {
  return list.map((b) => parseBind(b.kind === 'unix' ? b.path : b.address));
}

/**
 * TLS identity of `mqtt.tls_*` (`own`), else the PSRT listener's (`proto.tls_*`) object itself,
 * so one SIGHUP reload serves every listener that shares it. With client certificates
 * (`mqtt.tls_client_ca`) the MQTT listeners always get an identity of their own, built from
 * `mqtt.tls_*` or else the `proto.tls_*` files: the PSRT listener does not verify clients.
 */
export function mqttTls(mqtt: MqttSection, proto: ProtoSection, protoTls: TlsIdentity | null, log: Logger): { tls: MqttTls | null; own: boolean } {
  if (mqtt.bindTls.length === 0 && mqtt.wssBind.length === 0) return { tls: null, own: false };
  const identityAsUsername = mqtt.useIdentityAsUsername;
  const ownFiles = mqtt.tlsPkcs12 !== undefined || mqtt.tlsCert !== undefined;
  if (!ownFiles && mqtt.tlsClientCa === undefined) return { tls: protoTls === null ? null : { identity: protoTls, identityAsUsername }, own: false };
  const files = ownFiles ? mqtt : proto;
  const clientCerts = mqtt.tlsClientCa === undefined ? undefined : { clientCa: mqtt.tlsClientCa, crls: mqtt.tlsCrl };
  const settings = { tlsPkcs12: files.tlsPkcs12, tlsCert: files.tlsCert, tlsKey: files.tlsKey, fips: false, clientCerts };
  const identity = TlsIdentity.load(settings, log, ownFiles ? 'mqtt' : 'proto');
  return { tls: identity === null ? null : { identity, identityAsUsername }, own: true };
}

/** The WebSocket server and its library (ws), loaded only when a WebSocket listener is configured. */
export async function loadWsServer(config: ServerConfig): Promise<typeof MqttWsServer> {
  try {
    return (await import('../transport/mqtt-ws.js')).MqttWsServer;
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new PsrtError(ErrorCode.Config, `${config.file ?? 'built-in config'}: mqtt.ws_bind / mqtt.wss_bind: the WebSocket library did not load (${why}); reinstall psrt-node without --omit=optional`);
  }
}

/**
 * The largest WebSocket message. MQTT.js in a browser sends what it writes in one go (a loop of
 * publishes, or all that queued while its socket was busy) as ONE message, so a message may hold
 * many packets of up to max_packet_size each: it is bounded like the output queue
 * (server.data_queue_bytes). With permessage-deflate it stays max_packet_size: `ws` inflates a
 * message before psrtd sees it, so the pre-CONNECT byte count (wire bytes) would let an
 * unauthenticated peer make the server inflate that much.
 */
function wsMaxMessage(mqtt: MqttSection, dataQueueBytes: number): number {
  return mqtt.wsDeflate ? mqtt.maxPacketSize : Math.max(mqtt.maxPacketSize, dataQueueBytes);
}

function wsOptions(mqtt: MqttSection, dataQueueBytes: number): MqttWsOptions {
  return {
    path: mqtt.wsPath,
    origins: mqtt.wsOrigins,
    deflate: mqtt.wsDeflate,
    trustedProxies: mqtt.wsTrustedProxies,
    maxPayload: wsMaxMessage(mqtt, dataQueueBytes),
    maxConnectBytes: Math.min(mqtt.maxConnectSize, mqtt.maxPacketSize),
  };
}

export async function startMqtt(
  config: ServerConfig,
  broker: Broker,
  auth: AuthStore,
  log: Logger,
  gate: ConnectionGate,
  protoTls: TlsIdentity | null,
  /** The bridges' waiting exports, saved with `mqtt.persistence_file`. */
  bridgeExports: BridgeExportsStore,
): Promise<RunningMqtt | null> {
  const mqtt = config.mqtt;
  if (mqtt === undefined) return null;
  const router = new MqttRouter(
    broker,
    {
      queue: {
        maxQueued: mqtt.maxQueuedMessages,
        maxQueuedBytes: mqtt.maxQueuedBytes,
        // Publishers wait once half the queue is used (or a PSRT data queue's worth).
        pauseAt: Math.max(1, Math.min(config.server.dataQueue, Math.floor(mqtt.maxQueuedMessages / 2))),
        drainTimeoutMs: config.server.dataDrainTimeout * 1000,
      },
      retainedMaxCount: mqtt.retainedMaxCount,
      retainedMaxBytes: mqtt.retainedMaxBytes,
      maxTopicDepth: config.server.maxTopicDepth,
    },
    log,
  );
  const connections = new Set<MqttConnection>();
  const ctx: MqttContext = {
    router,
    broker,
    auth,
    log,
    limits: {
      maxKeepAlive: mqtt.maxKeepAlive,
      maxSessionExpiry: mqtt.maxSessionExpiry,
      receiveMaximum: mqtt.receiveMaximum,
      maxPacketSize: mqtt.maxPacketSize,
      maxConnectSize: Math.min(mqtt.maxConnectSize, mqtt.maxPacketSize),
      topicAliasMaximum: mqtt.topicAliasMaximum,
      // A resumed session sends a whole window at once into the connection's output queue, whose
      // hard cap is twice server.data_queue: a larger window would drop the client at CONNACK.
      maxInflight: Math.max(1, Math.min(mqtt.maxInflight, config.server.dataQueue)),
      // The PSRT session limits bound an MQTT session as well.
      maxSubscriptions: config.server.maxSubscriptions ?? DEFAULTS.maxSubscriptions,
      maxSubscriptionBytes: config.server.maxSubscriptionBytes ?? DEFAULTS.maxSubscriptionBytes,
      maxFiltersPerPacket: config.server.maxTopicsPerSubscribe ?? DEFAULTS.maxTopicsPerSubscribe,
    },
    channelOptions: {
      queueLimit: config.server.dataQueue,
      byteLimit: config.server.dataQueueBytes,
      drainTimeoutMs: config.server.dataDrainTimeout * 1000,
      latencyWarnUs: config.server.latencyWarn,
      // The same slow-reader policy as PSRT data sockets (one policy for every subscriber).
      slowWindowMs: (config.server.slowConsumerWindow ?? DEFAULT_SLOW_WINDOW_MS / 1000) * 1000,
      slowMaxHold: config.server.slowConsumerMaxHold ?? DEFAULT_SLOW_MAX_HOLD,
      slowAction: config.server.slowConsumer ?? 'disconnect',
    },
    connectTimeoutMs: config.proto.timeout * 1000,
    registry: connections,
  };
  const { tls, own } = mqttTls(mqtt, config.proto, protoTls, log);
  const server = new MqttServer(ctx, gate, tls);
  const wantWs = mqtt.wsBind.length > 0 || mqtt.wssBind.length > 0;
  const ws = wantWs ? new (await loadWsServer(config))(ctx, wsOptions(mqtt, config.server.dataQueueBytes), gate, tls) : null;
  // Loaded before anything can publish to the router or connect: the store starts as the file left it.
  const persistence = await openPersistence(config, mqtt, router, auth, log, bridgeExports);
  broker.addPublishHook(router);
  let bound: BoundMqtt[];
  let wsBound: BoundMqtt[] = [];
  try {
    bound = await server.bind(targets(mqtt.bind), targets(mqtt.bindTls));
    if (ws !== null) wsBound = await ws.bind(targets(mqtt.wsBind), targets(mqtt.wssBind));
  } catch (e) {
    broker.removePublishHook(router);
    persistence?.cancel();
    await Promise.all([server.close(), ws?.close()]);
    throw e;
  }
  return {
    router,
    server,
    bound,
    ws,
    wsBound,
    wsPath: mqtt.wsPath,
    connections,
    reloadTls: () => (own && tls !== null ? tls.identity.reload() : true),
    saveBoundMs: persistence === null ? 0 : FINAL_SAVE_BOUND_MS,
    get saveStuck() {
      return persistence?.writing ?? false;
    },
    persistenceStats: () => persistence?.stats() ?? null,
    stop: async () => {
      broker.removePublishHook(router);
      await Promise.all([server.close(), ws?.close()]);
      // The listeners resolve before their destroyed sockets' close events have run: the save
      // waits for them, so that it holds the wills those ends published (retained ones in the
      // store, queued ones) and no open connection's will, which the next start would send again.
      await connectionsEnded(connections, CONNECTIONS_END_BOUND_MS);
      // After the listeners and connections (nothing can change the retained messages or
      // sessions any more), before the sessions end.
      await persistence?.stop();
      router.closeAll();
    },
  };
}

/** How long a stop waits for the MQTT connections it destroyed to be closed (a loop turn or two). */
const CONNECTIONS_END_BOUND_MS = 500;

/** Resolves once `connections` is empty, or after `boundMs`. */
async function connectionsEnded(connections: ReadonlySet<MqttConnection>, boundMs: number): Promise<void> {
  const deadline = performance.now() + boundMs;
  while (connections.size > 0 && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
}

function openPersistence(config: ServerConfig, mqtt: MqttSection, router: MqttRouter, auth: AuthStore, log: Logger, bridgeExports: BridgeExportsStore): Promise<PersistenceFile | null> {
  if (mqtt.persistenceFile === undefined) return Promise.resolve(null);
  const options = {
    file: mqtt.persistenceFile,
    configLines: config.lines ?? YamlLines.none(config.file ?? 'built-in config'),
    autosaveSeconds: mqtt.autosaveInterval,
    // A session nobody can log in to resume is not loaded: no ACL entry, or anonymous logins off.
    aclFor: (user: string) => (user === ANONYMOUS && !auth.allowAnonymous ? undefined : auth.aclFor(user)),
    maxSessionExpiry: mqtt.maxSessionExpiry,
    maxSubscriptions: config.server.maxSubscriptions ?? DEFAULTS.maxSubscriptions,
    maxSubscriptionBytes: config.server.maxSubscriptionBytes ?? DEFAULTS.maxSubscriptionBytes,
  };
  return PersistenceFile.open(options, new MqttPersistentState(router), log, bridgeExports);
}
