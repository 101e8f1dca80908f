/**
 * config.yml schema (SERVER.md §3) and the typed, resolved configuration the server uses.
 *
 * Two layers: `rawConfigSchema` mirrors the YAML exactly (snake_case, strict objects, so
 * unknown keys fail like the reference's `deny_unknown_fields`); `ServerConfig` is the
 * camelCase result after defaults and path resolution (load.ts). Mapping, key by key:
 *
 *   server.workers → server.workers             proto.bind → proto.bind (BindAddress[])
 *   server.latency_warn → server.latencyWarn    proto.bind_udp → proto.bindUdp (HostPort[])
 *   server.data_queue → server.dataQueue        proto.udp_frame_size → proto.udpFrameSize
 *   server.max_topic_depth → .maxTopicDepth     proto.timeout → proto.timeout (seconds)
 *   server.max_pub_size → .maxPubSize           proto.tls_pkcs12 / tls_cert / tls_key → tlsPkcs12 / tlsCert / tlsKey
 *   server.max_topic_length → .maxTopicLength   proto.fips → proto.fips
 *   server.pid_file → .pidFile (verbatim)       proto.allow_no_tls → proto.allowNoTls
 *   server.bind_stats → .bindStats (HostPort)   auth.allow_anonymous → auth.allowAnonymous
 *   server.license → .license                   auth.password_file / key_file → passwordFile / keyFile
 *   server.data_drain_timeout → .dataDrainTimeout (ext)   auth.acl → auth.acl ({kind:'file',path})
 *   server.max_connections → .maxConnections (ext)        cluster.config → cluster.config
 *   server.data_queue_bytes → .dataQueueBytes (ext)
 *   hardening extensions (all optional in the typed config; absent = DEFAULTS):
 *   server.max_topic_table_bytes → .maxTopicTableBytes    server.slow_consumer → .slowConsumer
 *   server.slow_consumer_window → .slowConsumerWindow     server.slow_consumer_max_hold → .slowConsumerMaxHold
 *   server.max_subscriptions → .maxSubscriptions          server.max_topics_per_subscribe → .maxTopicsPerSubscribe
 *   server.max_subscription_bytes → .maxSubscriptionBytes
 *   proto.udp_replay_window → .udpReplayWindow            proto.unix_socket_mode/_owner/_group → .unixSocketMode/Owner/Group
 *   mqtt.persistence_file → mqtt.persistenceFile (resolved)  mqtt.autosave_interval → mqtt.autosaveInterval
 */
import { z } from 'zod';
import type { AclSource, AuthSources } from '../auth/index.js';
import type { YamlLines } from '../auth/yaml-validate.js';

/** A `host:port` listen address. `host` has IPv6 brackets removed (ready for `listen()`). */
export interface HostPort {
  /** As written in the config, for log lines. */
  readonly address: string;
  readonly host: string;
  readonly port: number;
}

export type BindAddress =
  | ({ readonly kind: 'tcp' } & HostPort)
  /** Unix socket path, already resolved against the config directory. */
  | { readonly kind: 'unix'; readonly path: string };

export interface ServerSection {
  readonly workers: number;
  /** µs; warn when a delivered message's latency exceeds it. */
  readonly latencyWarn: number;
  /** Messages per data-socket queue (≥ 1). */
  readonly dataQueue: number;
  readonly maxTopicDepth: number;
  readonly maxPubSize: number;
  readonly maxTopicLength: number;
  /** Verbatim (not resolved against the config directory), like the reference. */
  readonly pidFile: string | undefined;
  readonly bindStats: HostPort | undefined;
  readonly license: string | undefined;
  /** Extension: seconds a full subscriber queue may pause publishers before its data socket is dropped. */
  readonly dataDrainTimeout: number;
  /**
   * Extension: maximum simultaneous client sockets over all listeners (PSRT control + data,
   * MQTT, WebSocket). Absent: derived from the open-files limit at start (transport/connection-limits.ts).
   */
  readonly maxConnections?: number;
  /** Extension: per-subscriber queued-bytes cap beside `dataQueue`. */
  readonly dataQueueBytes: number;
  /** Extension: bytes of topic names kept in the topic table (stats, subscriber-list cache). */
  readonly maxTopicTableBytes?: number;
  /** Extension: what happens to a subscriber that keeps holding its publishers back. */
  readonly slowConsumer?: SlowConsumerAction;
  /** Extension: seconds over which a subscriber's hold on its publishers is measured. */
  readonly slowConsumerWindow?: number;
  /** Extension: fraction of that window a subscriber may hold its publishers back (0–1]. */
  readonly slowConsumerMaxHold?: number;
  /** Extension: subscriptions per session. */
  readonly maxSubscriptions?: number;
  /** Extension: characters of all subscriptions of one session. */
  readonly maxSubscriptionBytes?: number;
  /** Extension: topics in one SUBSCRIBE/UNSUBSCRIBE request. */
  readonly maxTopicsPerSubscribe?: number;
}

export type SlowConsumerAction = 'disconnect' | 'drop';

export interface ProtoSection {
  readonly bind: readonly BindAddress[];
  readonly bindUdp: readonly HostPort[];
  readonly udpFrameSize: number;
  /** T in seconds (float). */
  readonly timeout: number;
  readonly tlsPkcs12: string | undefined;
  readonly tlsCert: string | undefined;
  /** Always set when `tlsCert` is. */
  readonly tlsKey: string | undefined;
  readonly fips: boolean;
  readonly allowNoTls: boolean;
  /** Extension: nonces remembered per AES-GCM UDP key owner (replay protection); 0 = off. */
  readonly udpReplayWindow?: number;
  /** Extension: mode of unix socket files (default 0o770). */
  readonly unixSocketMode?: number;
  /** Extension: owner / group of unix socket files (user or group name, or numeric id). */
  readonly unixSocketOwner?: string;
  readonly unixSocketGroup?: string;
}

/** Directly usable as `AuthStore.load(config.auth, log)`. */
export interface AuthSection extends AuthSources {
  readonly allowAnonymous: boolean;
  readonly passwordFile: string | undefined;
  readonly mosquittoPasswords: boolean;
  readonly keyFile: string | undefined;
  readonly acl: AclSource;
}

export interface ClusterSection {
  /** Neighbour list file, resolved. */
  readonly config: string;
}

/** `mqtt:` (psrt-node extension): MQTT 3.1.1 / 5.0 listeners and their limits. */
export interface MqttSection {
  readonly bind: readonly BindAddress[];
  /** TLS from the first byte, with the identity of `mqtt.tls_*` or else `proto.tls_*`. */
  readonly bindTls: readonly BindAddress[];
  readonly tlsPkcs12: string | undefined;
  readonly tlsCert: string | undefined;
  readonly tlsKey: string | undefined;
  /**
   * Client certificates (mutual TLS) on every MQTT TLS listener (`bind_tls`, `wss_bind`): the
   * CA file that signs them (resolved); undefined when client certificates are not used.
   */
  readonly tlsClientCa: string | undefined;
  /** Revocation lists checked with tlsClientCa (resolved; empty: none). */
  readonly tlsCrl: readonly string[];
  /** The TLS handshake refuses a client without a certificate signed by tlsClientCa. */
  readonly requireCertificate: boolean;
  /** The certificate's subject CN is the user (ACL); the CONNECT username and password are ignored. */
  readonly useIdentityAsUsername: boolean;
  /** Largest packet either side may send, fixed header included. */
  readonly maxPacketSize: number;
  /**
   * Largest CONNECT, fixed header included: what a peer not yet authenticated can make the
   * server buffer (also the WebSocket bytes before CONNECT). Capped by maxPacketSize.
   */
  readonly maxConnectSize: number;
  /** QoS 1/2 publishes a client may have unacknowledged towards us (v5 Receive Maximum). */
  readonly receiveMaximum: number;
  /** QoS 1/2 deliveries in flight to one client (further capped by the client's Receive Maximum). */
  readonly maxInflight: number;
  /** Messages queued per session beyond the in-flight window (offline or window full). */
  readonly maxQueuedMessages: number;
  /** Bytes (payload, topic, properties) queued per session beyond the in-flight window; 0 = no limit. */
  readonly maxQueuedBytes: number;
  /** Seconds; a larger requested keep alive is lowered to it (v5 Server Keep Alive). */
  readonly maxKeepAlive: number;
  /** Seconds a disconnected persistent session is kept at most (3.1.1 sessions too). */
  readonly maxSessionExpiry: number;
  readonly retainedMaxCount: number;
  readonly retainedMaxBytes: number;
  readonly topicAliasMaximum: number;
  /** MQTT over WebSocket, plain HTTP upgrade. */
  readonly wsBind: readonly BindAddress[];
  /** MQTT over secure WebSocket (HTTPS upgrade), same TLS identity as `bind_tls`. */
  readonly wssBind: readonly BindAddress[];
  /** URL path of the WebSocket endpoint. */
  readonly wsPath: string;
  /** Allowed browser `Origin` values; empty: any. */
  readonly wsOrigins: readonly string[];
  /** permessage-deflate on WebSockets (off by default). */
  readonly wsDeflate: boolean;
  /** Reverse proxies whose `X-Forwarded-For` names the WebSocket client (IP addresses, normalised). */
  readonly wsTrustedProxies: readonly string[];
  /** Seconds between `$SYS/broker/...` updates (mqtt/sys-tree.ts); 0: no `$SYS` topics. */
  readonly sysInterval: number;
  /** Where retained messages are saved across restarts, resolved; undefined: in memory only. */
  readonly persistenceFile: string | undefined;
  /** Seconds between saves of a changed retained store (with `persistenceFile` only). */
  readonly autosaveInterval: number;
}

export interface ServerConfig {
  /** The config file as given (`-C` or the default path found); undefined for the embedded config. */
  readonly file: string | undefined;
  /** Canonical directory relative paths were resolved against (cluster `tls_ca` needs it too). */
  readonly configDir: string;
  readonly server: ServerSection;
  readonly proto: ProtoSection;
  readonly auth: AuthSection;
  readonly cluster: ClusterSection | undefined;
  readonly mqtt: MqttSection | undefined;
  /** The `bridges:` value as written (validated by src/bridges at start and on SIGHUP); undefined when absent. */
  readonly bridges?: unknown;
  /** Where each key is in the file, for the lines of errors found after loading (the bridges). */
  readonly lines?: YamlLines;
}

// ---- raw YAML schema -------------------------------------------------------------------------

/** Node timers overflow past 2^31-1 ms (~24.8 days); larger values would fire immediately. */
const MAX_SECONDS = 2_000_000;

const stringOrList = z.union([z.string(), z.array(z.string())], {
  error: 'expected a string or a list of strings',
});
/** zod reports a string given for an int as "expected number": say integer instead. */
const int = (): z.ZodInt => z.int({ error: 'expected an integer' });
const u32 = int().min(0).max(0xffff_ffff);
const nonNegInt = int().min(0);
const posInt = int().min(1);
const seconds = z.number().gt(0).max(MAX_SECONDS);

/** `null` (an empty value in YAML) is treated as absent for every optional key. */
export const rawServerSchema = z.strictObject({
  workers: posInt.nullish(),
  latency_warn: u32.nullish(),
  data_queue: nonNegInt.nullish(), // 0 gets its own message in load.ts (Decision 3)
  max_topic_depth: nonNegInt.nullish(),
  max_pub_size: nonNegInt.nullish(),
  max_topic_length: nonNegInt.nullish(),
  pid_file: z.string().min(1).nullish(),
  bind_stats: z.string().nullish(),
  license: z.string().min(1).nullish(),
  data_drain_timeout: z.number().min(0).max(MAX_SECONDS).nullish(),
  max_connections: posInt.nullish(),
  data_queue_bytes: posInt.nullish(),
  max_topic_table_bytes: posInt.nullish(),
  slow_consumer: z.enum(['disconnect', 'drop']).nullish(),
  slow_consumer_window: seconds.nullish(),
  slow_consumer_max_hold: z.number().gt(0).max(1).nullish(),
  max_subscriptions: posInt.nullish(),
  max_subscription_bytes: posInt.nullish(),
  max_topics_per_subscribe: posInt.nullish(),
});

export const rawProtoSchema = z.strictObject({
  bind: stringOrList.nullish(),
  bind_udp: stringOrList.nullish(),
  udp_frame_size: int().min(1).max(65535).nullish(),
  timeout: seconds.nullish(),
  tls_pkcs12: z.string().min(1).nullish(),
  tls_cert: z.string().min(1).nullish(),
  tls_key: z.string().min(1).nullish(),
  fips: z.boolean().nullish(),
  allow_no_tls: z.boolean(),
  udp_replay_window: nonNegInt.max(1 << 24).nullish(),
  /** Octal as a string (`"0660"`) or a YAML integer (0o660 / 432). */
  unix_socket_mode: z.union([z.string().regex(/^0?[0-7]{3,4}$/, { error: 'expected an octal mode such as "0660"' }), int().min(0).max(0o7777)]).nullish(),
  unix_socket_owner: z.string().min(1).nullish(),
  unix_socket_group: z.string().min(1).nullish(),
});

export const rawAuthSchema = z.strictObject({
  allow_anonymous: z.boolean(),
  password_file: z.string().min(1).nullish(),
  /** psrt-node: also accept mosquitto_passwd hashes ($7$ PBKDF2-SHA512, $6$ SHA-512). */
  mosquitto_passwords: z.boolean().nullish(),
  key_file: z.string().min(1).nullish(),
  acl: z.string().min(1),
});

export const rawClusterSchema = z.strictObject({
  config: z.string().min(1),
});

export const rawMqttSchema = z.strictObject({
  bind: stringOrList.nullish(),
  bind_tls: stringOrList.nullish(),
  tls_pkcs12: z.string().min(1).nullish(),
  tls_cert: z.string().min(1).nullish(),
  tls_key: z.string().min(1).nullish(),
  tls_client_ca: z.string().min(1).nullish(),
  tls_crl: stringOrList.nullish(),
  require_certificate: z.boolean().nullish(),
  use_identity_as_username: z.boolean().nullish(),
  max_packet_size: int().min(64).max(268_435_460).nullish(),
  max_connect_size: int().min(64).max(268_435_460).nullish(),
  receive_maximum: int().min(1).max(65535).nullish(),
  max_inflight: int().min(1).max(65535).nullish(),
  max_queued_messages: posInt.nullish(),
  max_queued_bytes: nonNegInt.nullish(),
  max_keepalive: int().min(1).max(65535).nullish(),
  max_session_expiry: u32.nullish(),
  retained_max_count: nonNegInt.nullish(),
  retained_max_bytes: nonNegInt.nullish(),
  topic_alias_maximum: int().min(0).max(65535).nullish(),
  ws_bind: stringOrList.nullish(),
  wss_bind: stringOrList.nullish(),
  ws_path: z.string().regex(/^\/[^\s?#]*$/, { error: 'expected a URL path starting with /' }).nullish(),
  ws_origins: stringOrList.nullish(),
  ws_deflate: z.boolean().nullish(),
  ws_trusted_proxies: stringOrList.nullish(),
  sys_interval: int().min(0).max(MAX_SECONDS).nullish(),
  persistence_file: z.string().min(1).nullish(),
  autosave_interval: z.number().min(1).max(MAX_SECONDS).nullish(),
});

export const rawConfigSchema = z.strictObject({
  server: rawServerSchema,
  proto: rawProtoSchema,
  auth: rawAuthSchema,
  cluster: rawClusterSchema.nullish(),
  mqtt: rawMqttSchema.nullish(),
  /** Checked key by key by src/bridges (config may not import it). */
  bridges: z.unknown().optional(),
});

export type RawConfig = z.infer<typeof rawConfigSchema>;
