/**
 * Defaults (SERVER.md §3, Decision 4): keys the reference requires but that have an obvious
 * meaning when absent take the Debian package's values; absent paths (pid_file, license,
 * bind_udp) mean "none", never a guessed location or an unexpected open UDP port.
 */
import type { MqttSection, ServerConfig } from './schema.js';

/** Searched in this order when `-C` is not given (§2.1). */
export const DEFAULT_CONFIG_PATHS: readonly string[] = ['/etc/psrtd/config.yml', '/usr/local/etc/psrtd/config.yml'];

export const DEFAULTS = {
  workers: 1,
  latencyWarn: 50_000,
  dataQueue: 1024,
  maxTopicDepth: 32,
  maxPubSize: 1_100_000,
  maxTopicLength: 1_000_000,
  /** Extension keys. */
  dataDrainTimeout: 1.0,
  dataQueueBytes: 64 * 1024 * 1024,
  maxTopicTableBytes: 16 * 1024 * 1024,
  slowConsumer: 'disconnect',
  slowConsumerWindow: 5,
  slowConsumerMaxHold: 0.5,
  maxSubscriptions: 100_000,
  maxSubscriptionBytes: 64 * 1024 * 1024,
  maxTopicsPerSubscribe: 10_000,
  udpReplayWindow: 65_536,
  unixSocketMode: 0o770,
  udpFrameSize: 4096,
  /** proto.timeout when absent (the reference's built-in default; shipped configs say 10). */
  timeout: 5.0,
  fips: false,
} as const;

/** `mqtt:` limits when absent (close to Mosquitto's defaults where it has one). */
export const MQTT_DEFAULTS = {
  /** Room for a max_pub_size payload plus topic and properties. */
  maxPacketSizeHeadroom: 65_536,
  /**
   * Largest CONNECT (before authentication). Mosquitto refuses CONNECTs over 100,000 bytes and
   * RabbitMQ over 64 KiB; client id, credentials and a will of a few KB fit many times over.
   */
  maxConnectSize: 65_536,
  receiveMaximum: 1024,
  maxInflight: 1024,
  maxQueuedMessages: 1000,
  /** 64 MiB, as `server.data_queue_bytes`: 1,000 queued 1 MB messages would be 1 GB per session. */
  maxQueuedBytes: 64 * 1024 * 1024,
  maxKeepAlive: 65535,
  maxSessionExpiry: 7 * 24 * 3600,
  retainedMaxCount: 100_000,
  retainedMaxBytes: 64 * 1024 * 1024,
  topicAliasMaximum: 64,
  wsPath: '/mqtt',
  /** Seconds between `$SYS` updates: Mosquitto's default. */
  sysInterval: 10,
  /** Seconds between saves of changed retained messages (Mosquitto's autosave_interval default is 1800). */
  autosaveInterval: 60,
} as const;

/** The embedded config's MQTT listeners (TCP 127.0.0.1:1883, WebSocket 127.0.0.1:9001/mqtt) with default limits. */
export function embeddedMqttSection(maxPubSize: number): MqttSection {
  return {
    bind: [{ kind: 'tcp', address: '127.0.0.1:1883', host: '127.0.0.1', port: 1883 }],
    bindTls: [],
    tlsPkcs12: undefined,
    tlsCert: undefined,
    tlsKey: undefined,
    tlsClientCa: undefined,
    tlsCrl: [],
    requireCertificate: false,
    useIdentityAsUsername: false,
    maxPacketSize: maxPubSize + MQTT_DEFAULTS.maxPacketSizeHeadroom,
    maxConnectSize: MQTT_DEFAULTS.maxConnectSize,
    receiveMaximum: MQTT_DEFAULTS.receiveMaximum,
    maxInflight: MQTT_DEFAULTS.maxInflight,
    maxQueuedMessages: MQTT_DEFAULTS.maxQueuedMessages,
    maxQueuedBytes: MQTT_DEFAULTS.maxQueuedBytes,
    maxKeepAlive: MQTT_DEFAULTS.maxKeepAlive,
    maxSessionExpiry: MQTT_DEFAULTS.maxSessionExpiry,
    retainedMaxCount: MQTT_DEFAULTS.retainedMaxCount,
    retainedMaxBytes: MQTT_DEFAULTS.retainedMaxBytes,
    topicAliasMaximum: MQTT_DEFAULTS.topicAliasMaximum,
    // 9001: the port Mosquitto's documentation and most MQTT.js examples use for WebSockets.
    wsBind: [{ kind: 'tcp', address: '127.0.0.1:9001', host: '127.0.0.1', port: 9001 }],
    wssBind: [],
    wsPath: MQTT_DEFAULTS.wsPath,
    wsOrigins: [],
    wsDeflate: false,
    wsTrustedProxies: [],
    sysInterval: MQTT_DEFAULTS.sysInterval,
    persistenceFile: undefined,
    autosaveInterval: MQTT_DEFAULTS.autosaveInterval,
  };
}

/** The ACL of the Debian package: anonymous may do everything and read stats. */
export const EMBEDDED_ACL_TEXT = '_:\n  sub: ["#"]\n  pub: ["#"]\n  admin: true\n';

/**
 * Used when no config file exists (psrt-node extension; the reference exits): loopback TCP
 * only (PSRT on 2873, MQTT on 1883, MQTT over WebSocket on 9001), no UDP, anonymous allowed, in-memory ACL, no password file, no PID file.
 */
export function embeddedDefaultConfig(): ServerConfig {
  return {
    file: undefined,
    configDir: process.cwd(),
    server: {
      workers: DEFAULTS.workers,
      latencyWarn: DEFAULTS.latencyWarn,
      dataQueue: DEFAULTS.dataQueue,
      maxTopicDepth: DEFAULTS.maxTopicDepth,
      maxPubSize: DEFAULTS.maxPubSize,
      maxTopicLength: DEFAULTS.maxTopicLength,
      pidFile: undefined,
      bindStats: undefined,
      license: undefined,
      dataDrainTimeout: DEFAULTS.dataDrainTimeout,
      dataQueueBytes: DEFAULTS.dataQueueBytes,
    },
    proto: {
      bind: [{ kind: 'tcp', address: '127.0.0.1:2873', host: '127.0.0.1', port: 2873 }],
      bindUdp: [],
      udpFrameSize: DEFAULTS.udpFrameSize,
      timeout: 10,
      tlsPkcs12: undefined,
      tlsCert: undefined,
      tlsKey: undefined,
      fips: false,
      allowNoTls: true,
    },
    auth: {
      allowAnonymous: true,
      passwordFile: undefined,
      mosquittoPasswords: false,
      keyFile: undefined,
      acl: { kind: 'inline', name: '<embedded ACL>', text: EMBEDDED_ACL_TEXT },
    },
    cluster: undefined,
    mqtt: embeddedMqttSection(DEFAULTS.maxPubSize),
  };
}
