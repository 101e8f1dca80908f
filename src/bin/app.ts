/**
 * Assembles a running psrtd from a loaded configuration: auth store, broker, stream listeners
 * and (when configured) UDP, stats and cluster edges. Owns start-up order and shutdown.
 */
import { readFileSync } from 'node:fs';
import { AuthStore } from '../auth/auth-store.js';
import { Broker } from '../broker/broker.js';
import { ClientRegistry, psrtSessionClients } from '../broker/client-registry.js';
import { prepareBridges } from './bridges.js';
import { Replicator } from '../cluster/replicator.js';
import { loadClusterFile } from '../cluster/cluster-config.js';
import type { ServerConfig } from '../config/schema.js';
import { loadConfigFile, restartOnlyChanges } from '../config/index.js';
import { ErrorCode, PsrtError } from '../protocol/errors.js';
import { fsErrorText } from '../auth/yaml-validate.js';
import type { Logger } from '../log/logger.js';
import { StatsServer, type ExplorerSettings } from '../stats/server.js';
import { mqttClients, mqttStatsOf, reloadedSysInterval, startMqtt, sysFiguresOf, type RunningMqtt } from './mqtt-setup.js';
import { SysTree } from '../mqtt/sys-tree.js';
import { StreamServer, type BoundStream } from '../transport/stream-server.js';
import { ConnectionGate } from '../transport/connection-gate.js';
import { describeConnectionLimits, readOpenFilesLimit, resolveConnectionLimits, statsConnectionCap } from '../transport/connection-limits.js';
import type { StreamContext } from '../transport/context.js';
import { TlsIdentity } from '../transport/tls.js';
import type { UdpCountersView } from '../transport/udp-handler.js';
import { UdpServer } from '../transport/udp-server.js';
import { VERSION } from '../protocol/constants.js';

// One version string for the package, the CLI and the server.
export { VERSION };
/** Replies a non-reading client may leave unread before we stop reading its requests. */
const MAX_PENDING_REPLY_BYTES = 1 << 20;
const PING_FLOOR_MS = 100;
/** server.max_topics_per_subscribe when absent. */
const DEFAULT_MAX_TOPICS_PER_SUBSCRIBE = 10_000;

export interface RunningServer {
  readonly broker: Broker;
  readonly auth: AuthStore;
  readonly streams: readonly BoundStream[];
  /** Live UDP outcome counters (transport/udp-handler.ts UdpCounters). */
  readonly udp: UdpCountersView;
  /** The stats HTTP server when bind_stats is set (cluster code sets its `clusterStatus`). */
  readonly stats: StatsServer | null;
  /** The MQTT side when `mqtt:` is configured. */
  readonly mqtt: RunningMqtt | null;
  /** The stats client list's providers: other front ends (MQTT, bridges) add theirs here. */
  readonly clients: ClientRegistry;
  reload(): Promise<boolean>;
  /** Closes listeners and connections; removes unix socket files. */
  stop(): Promise<void>;
  /** Synchronous last-resort cleanup for exit paths. */
  removeSocketFiles(): void;
}

/** The reference reads the license file even in the free build; its content is ignored. */
export function checkLicense(config: ServerConfig, log: Logger): void {
  const file = config.server.license;
  if (file === undefined) return;
  log.info(`reading license file ${file}`);
  try {
    readFileSync(file);
  } catch (e) {
    throw new PsrtError(ErrorCode.Config, `Unable to read license file ${file}: ${(e as Error).message}`);
  }
}

function loadCluster(config: ServerConfig, log: Logger): Replicator | null {
  if (config.cluster === undefined) return null;
  log.info(`loading cluster config ${config.cluster.config}`);
  const nodes = loadClusterFile(config.cluster.config, config.configDir);
  const limits = { messages: config.server.dataQueue, bytes: config.server.dataQueueBytes };
  return new Replicator(nodes, limits, config.proto.timeout * 1000, log);
}

/**
 * The ACL, password and key files. An ACL file that cannot be read is a start error; it also
 * names the line of `auth.acl` in config.yml, where the operator fixes the path
 * (`config.yml:9: auth.acl: cannot read /etc/psrtd/acl.yml (no such file or directory)`).
 */
async function loadAuth(config: ServerConfig, log: Logger): Promise<AuthStore> {
  try {
    return await AuthStore.load(config.auth, log);
  } catch (e) {
    const acl = config.auth.acl;
    const cause: unknown = e instanceof PsrtError ? e.cause : undefined;
    const unreadable = acl.kind === 'file' && e instanceof PsrtError && e.message.startsWith(`${acl.path}: `) && isFsError(cause);
    if (!unreadable || config.lines === undefined) throw e;
    throw config.lines.error(['auth', 'acl'], `cannot read ${acl.path} (${fsErrorText(cause)})`);
  }
}

function isFsError(e: unknown): boolean {
  return e instanceof Error && typeof (e as NodeJS.ErrnoException).code === 'string';
}

/**
 * config.yml as it is now, read at most once per SIGHUP for the parts that reload from it (the
 * bridges, `mqtt.sys_interval`); a file that fails gives each of them the same error.
 */
function configRereader(config: ServerConfig): () => ServerConfig {
  let read: { readonly config: ServerConfig } | { readonly error: unknown } | null = null;
  return () => {
    if (read === null) {
      try {
        read = { config: loadConfigFile(config.file ?? '') };
      } catch (error) {
        read = { error };
      }
    }
    if ('error' in read) throw read.error;
    return read.config;
  };
}

/**
 * SIGHUP: the keys of config.yml that changed but only a restart applies are named, one line
 * each, so that a reload never looks complete when it was not. A file that does not load is
 * reported by the bridges' reload, which reads it first.
 */
function reportRestartOnly(config: ServerConfig, reread: () => ServerConfig, log: Logger): void {
  if (config.file === undefined) return;
  let now: ServerConfig;
  try {
    now = reread();
  } catch {
    return;
  }
  for (const c of restartOnlyChanges(config, now)) {
    const values = c.values === '' ? '' : ` (${c.values})`;
    log.warn(`${c.place}: ${c.key} changed${values}; a reload does not apply it, the running value stays until psrtd restarts`);
  }
}

export async function startServer(config: ServerConfig, log: Logger): Promise<RunningServer> {
  const tls = TlsIdentity.load(config.proto, log);
  const replicator = loadCluster(config, log);
  checkLicense(config, log);
  const auth = await loadAuth(config, log);
  const broker = new Broker(
    {
      maxTopicDepth: config.server.maxTopicDepth,
      dataQueue: config.server.dataQueue,
      dataQueueBytes: config.server.dataQueueBytes,
      drainTimeoutMs: config.server.dataDrainTimeout * 1000,
      ...(config.server.slowConsumerWindow === undefined ? {} : { slowWindowMs: config.server.slowConsumerWindow * 1000 }),
      ...(config.server.slowConsumerMaxHold === undefined ? {} : { slowMaxHold: config.server.slowConsumerMaxHold }),
      ...(config.server.slowConsumer === undefined ? {} : { slowAction: config.server.slowConsumer }),
      ...(config.server.maxTopicTableBytes === undefined ? {} : { topicTableBytes: config.server.maxTopicTableBytes }),
      ...(config.server.maxSubscriptions === undefined ? {} : { maxSubscriptions: config.server.maxSubscriptions }),
      ...(config.server.maxSubscriptionBytes === undefined ? {} : { maxSubscriptionBytes: config.server.maxSubscriptionBytes }),
      ...(config.server.maxTopicsPerSubscribe === undefined ? {} : { maxTopicsPerRequest: config.server.maxTopicsPerSubscribe }),
      latencyWarnUs: config.server.latencyWarn,
      pingFloorMs: PING_FLOOR_MS,
    },
    log,
  );
  if (replicator !== null) broker.addPublishHook(replicator);
  const bridges = await prepareBridges(config, broker, log);
  const ctx: StreamContext = {
    broker,
    auth,
    log,
    limits: {
      maxPubSize: config.server.maxPubSize,
      maxTopicLength: config.server.maxTopicLength,
      maxTopicsPerRequest: config.server.maxTopicsPerSubscribe ?? DEFAULT_MAX_TOPICS_PER_SUBSCRIBE,
    },
    timeoutMs: config.proto.timeout * 1000,
    allowNoTls: config.proto.allowNoTls,
    tls,
    maxPendingReplyBytes: MAX_PENDING_REPLY_BYTES,
  };
  const gate = connectionGate(config, log);
  const streamServer = new StreamServer(ctx, gate, {
    mode: config.proto.unixSocketMode,
    owner: config.proto.unixSocketOwner,
    group: config.proto.unixSocketGroup,
  });
  const udpServer = new UdpServer({
    broker,
    auth,
    log,
    maxTopicDepth: config.server.maxTopicDepth,
    frameSize: config.proto.udpFrameSize,
    ...(config.proto.udpReplayWindow === undefined ? {} : { replayWindow: config.proto.udpReplayWindow }),
  });
  let streams: BoundStream[];
  try {
    streams = await streamServer.bind(
      config.proto.bind.map((b) => (b.kind === 'unix' ? b.path : b.address)),
    );
    await udpServer.bind(config.proto.bindUdp);
  } catch (e) {
    await Promise.all([streamServer.close(), udpServer.close()]);
    throw e;
  }
  let mqtt: RunningMqtt | null;
  try {
    mqtt = await startMqtt(config, broker, auth, log, gate, tls, bridges.manager.exports);
  } catch (e) {
    await Promise.all([streamServer.close(), udpServer.close()]);
    throw e;
  }
  // `$SYS/broker/...` for MQTT subscribers only (never PSRT, peers or bridges: see publishSystem).
  const sys = mqtt === null ? null : new SysTree(mqtt.router, () => sysFiguresOf(broker, mqtt, () => udpServer.counters.accepted), VERSION);
  let stats: StatsServer | null = null;
  const clients = new ClientRegistry();
  clients.add(psrtSessionClients(broker));
  if (mqtt !== null) clients.add(mqttClients(mqtt));
  if (config.server.bindStats !== undefined) {
    const udpStats = (): Record<string, number> => ({ ...udpServer.counters });
    const statsOptions = {
      broker, auth, log, dataQueueSize: config.server.dataQueue, version: VERSION, udpStats, clients,
      connectionRefusals: () => gate.refused,
      acceptError: (e: NodeJS.ErrnoException) => gate.acceptError('stats', e),
      maxConnections: gate.limits.statsReserve,
      connectionRefused: (what: string) => { gate.statsRefused(what); },
    };
    stats = await StatsServer.start(statsOptions, config.server.bindStats).catch(async (e: unknown) => {
      await Promise.all([streamServer.close(), udpServer.close(), mqtt?.stop()]);
      throw e;
    });
  }
  sys?.setInterval(config.mqtt?.sysInterval ?? 0);
  if (config.server.workers > 1) {
    log.info(`workers: ${config.server.workers} requested; Node.js serves all clients from one event loop`);
  }
  if (stats !== null && replicator !== null) {
    stats.clusterStatus = () => replicator.statusMap();
    stats.clusterNodes = () => replicator.nodes();
  }
  if (stats !== null && mqtt !== null) stats.mqttStats = () => mqttStatsOf(mqtt);
  if (stats !== null && mqtt !== null) stats.explorer = explorerSettings(mqtt);
  if (stats !== null) stats.bridgeStatus = () => bridges.manager.status();
  bridges.start();
  return {
    broker,
    auth,
    streams,
    stats,
    mqtt,
    clients,
    get udp() {
      return udpServer.counters;
    },
    reload: async () => {
      // Certificate rotation: new TLS connections get the new identity, open ones keep theirs.
      const tlsOk = [tls?.reload() ?? true, mqtt?.reloadTls() ?? true].every(Boolean);
      const reread = configRereader(config);
      const [authOk, bridgesOk] = await Promise.all([auth.reload(), bridges.reload(reread)]);
      if (sys !== null) sys.setInterval(reloadedSysInterval(config, reread, sys.interval, log));
      reportRestartOnly(config, reread, log);
      return tlsOk && authOk && bridgesOk;
    },
    stop: async () => {
      replicator?.stop();
      sys?.stop();
      await bridges.stop();
      broker.closeAll();
      await Promise.all([streamServer.close(), udpServer.close(), stats?.close(), mqtt?.stop()]);
      gate.stop();
      // What the rate limit still counts goes out before the last line (not lost with its timer).
      broker.logLimiter.flush();
    },
    removeSocketFiles: () => {
      streamServer.removeUnixFiles();
      mqtt?.server.removeUnixFiles();
      mqtt?.ws?.removeUnixFiles();
    },
  };
}

/** server.max_connections, or what the open-files limit allows; logged at start. */
function connectionGate(config: ServerConfig, log: Logger): ConnectionGate {
  const fdLimit = readOpenFilesLimit();
  const statsReserve = config.server.bindStats === undefined ? 0 : statsConnectionCap(fdLimit);
  const limits = resolveConnectionLimits(config.server.maxConnections, fdLimit, statsReserve);
  const text = describeConnectionLimits(limits);
  log.info(text.info);
  if (text.warning !== null) log.warn(text.warning);
  return new ConnectionGate(limits, log);
}

/** The topic explorer's view of the MQTT WebSocket listeners (TCP ones; unix sockets are unreachable from a browser). */
function explorerSettings(mqtt: RunningMqtt): ExplorerSettings {
  const listeners = mqtt.wsBound.flatMap((b) => (b.port === null ? [] : [{ port: b.port, tls: b.tls }]));
  return { path: mqtt.wsPath, listeners };
}
