/**
 * Assembles a running psrtd from a loaded configuration: auth store, broker, stream listeners
 * and (when configured) UDP, stats and cluster edges. Owns start-up order and shutdown.
 */
import { AuthStore } from '../auth/auth-store.js';
import { Broker } from '../broker/broker.js';
import type { ServerConfig } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import { StreamServer, type BoundStream } from '../transport/stream-server.js';
import type { StreamContext } from '../transport/context.js';
import { loadTlsContext } from '../transport/tls.js';
import type { UdpCountersView } from '../transport/udp-handler.js';
import { UdpServer } from '../transport/udp-server.js';

export const VERSION = '0.3.6';
/** Replies a non-reading client may leave unread before we stop reading its requests. */
const MAX_PENDING_REPLY_BYTES = 1 << 20;
const PING_FLOOR_MS = 100;

export interface RunningServer {
  readonly broker: Broker;
  readonly auth: AuthStore;
  readonly streams: readonly BoundStream[];
  /** Live UDP outcome counters (transport/udp-handler.ts UdpCounters). */
  readonly udp: UdpCountersView;
  reload(): Promise<boolean>;
  /** Closes listeners and connections; removes unix socket files. */
  stop(): Promise<void>;
  /** Synchronous last-resort cleanup for exit paths. */
  removeSocketFiles(): void;
}

export async function startServer(config: ServerConfig, log: Logger): Promise<RunningServer> {
  const tls = loadTlsContext(config.proto, log);
  const auth = await AuthStore.load(config.auth, log);
  const broker = new Broker(
    {
      maxTopicDepth: config.server.maxTopicDepth,
      dataQueue: config.server.dataQueue,
      dataQueueBytes: config.server.dataQueueBytes,
      drainTimeoutMs: config.server.dataDrainTimeout * 1000,
      latencyWarnUs: config.server.latencyWarn,
      pingFloorMs: PING_FLOOR_MS,
    },
    log,
  );
  const ctx: StreamContext = {
    broker,
    auth,
    log,
    limits: { maxPubSize: config.server.maxPubSize, maxTopicLength: config.server.maxTopicLength },
    timeoutMs: config.proto.timeout * 1000,
    allowNoTls: config.proto.allowNoTls,
    tls,
    maxPendingReplyBytes: MAX_PENDING_REPLY_BYTES,
  };
  const streamServer = new StreamServer(ctx, config.server.maxConnections);
  const udpServer = new UdpServer({
    broker,
    auth,
    log,
    maxTopicDepth: config.server.maxTopicDepth,
    frameSize: config.proto.udpFrameSize,
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
  if (config.server.workers > 1) {
    log.info(`workers: ${config.server.workers} requested; Node.js serves all clients from one event loop`);
  }
  log.info(`starting server, workers: ${config.server.workers}, timeout: ${config.proto.timeout}s`);
  return {
    broker,
    auth,
    streams,
    get udp() {
      return udpServer.counters;
    },
    reload: () => auth.reload(),
    stop: async () => {
      broker.closeAll();
      await Promise.all([streamServer.close(), udpServer.close()]);
    },
    removeSocketFiles: () => {
      streamServer.removeUnixFiles();
    },
  };
}
