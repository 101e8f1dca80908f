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
 */
import { z } from 'zod';
import type { AclSource, AuthSources } from '../auth/index.js';

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
  /** Extension: maximum simultaneous connections (control + data + unix). */
  readonly maxConnections: number;
  /** Extension: per-subscriber queued-bytes cap beside `dataQueue`. */
  readonly dataQueueBytes: number;
}

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
}

/** Directly usable as `AuthStore.load(config.auth, log)`. */
export interface AuthSection extends AuthSources {
  readonly allowAnonymous: boolean;
  readonly passwordFile: string | undefined;
  readonly keyFile: string | undefined;
  readonly acl: AclSource;
}

export interface ClusterSection {
  /** Neighbour list file, resolved. */
  readonly config: string;
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
  /** The `bridges:` value as written (validated by src/bridges at start and on SIGHUP); undefined when absent. */
  readonly bridges?: unknown;
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
});

export const rawAuthSchema = z.strictObject({
  allow_anonymous: z.boolean(),
  password_file: z.string().min(1).nullish(),
  key_file: z.string().min(1).nullish(),
  acl: z.string().min(1),
});

export const rawClusterSchema = z.strictObject({
  config: z.string().min(1),
});

export const rawConfigSchema = z.strictObject({
  server: rawServerSchema,
  proto: rawProtoSchema,
  auth: rawAuthSchema,
  cluster: rawClusterSchema.nullish(),
  /** Checked key by key by src/bridges (config may not import it). */
  bridges: z.unknown().optional(),
});

export type RawConfig = z.infer<typeof rawConfigSchema>;
