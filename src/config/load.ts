/**
 * Reading config.yml (SERVER.md §3.1): YAML → strict validation → defaults → path resolution.
 * Every error is a PsrtError(Config) of the form `<file>:<line>: <key path>: <problem>`.
 */
import { readFileSync, realpathSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fsErrorText, parseYaml, validate, type IssuePath, type YamlLines } from '../auth/yaml-validate.js';
import { ErrorCode, PsrtError } from '../protocol/errors.js';
import { plainIp } from '../protocol/ip-address.js';
import { DEFAULTS, MQTT_DEFAULTS } from './defaults.js';
import {
  rawConfigSchema,
  type AuthSection,
  type BindAddress,
  type HostPort,
  type MqttSection,
  type ProtoSection,
  type RawConfig,
  type ServerConfig,
  type ServerSection,
} from './schema.js';

/** The Rust client and the reference treat these suffixes as Unix socket paths. */
export function isUnixSocketPath(s: string): boolean {
  return s.endsWith('.sock') || s.endsWith('.socket');
}

/**
 * §3.1: the config file's directory, canonicalised. A path without a leading `.` or `/` gets
 * `./` first (so `config.yml` lives in `.`). Falls back to the plain absolute directory when it
 * does not exist (text parsed from memory in tests).
 */
export function configDirOf(file: string): string {
  const f = file.startsWith('/') || file.startsWith('.') ? file : `./${file}`;
  const dir = dirname(f);
  try {
    return realpathSync(dir);
  } catch {
    return resolve(dir);
  }
}

/** §3.1: values starting with `/` or `.` are used as is (`./x` is relative to the CWD). */
export function resolveConfigPath(value: string, configDir: string): string {
  return value.startsWith('/') || value.startsWith('.') ? value : join(configDir, value);
}

/**
 * `host:port` as Rust's `ToSocketAddrs` for strings accepts it: split at the last `:`, port a
 * decimal u16, host non-empty (`[v6]` brackets removed). Host names are resolved when binding.
 */
export function parseHostPort(s: string): HostPort | undefined {
  const colon = s.lastIndexOf(':');
  if (colon <= 0) return undefined;
  let host = s.slice(0, colon);
  const portText = s.slice(colon + 1);
  if (!/^\d{1,5}$/.test(portText)) return undefined;
  const port = Number(portText);
  if (port > 65535) return undefined;
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  if (host === '' || /\s/.test(host)) return undefined;
  return { address: s, host, port };
}

function list(v: string | readonly string[] | null | undefined): readonly string[] {
  if (v === undefined || v === null) return [];
  return typeof v === 'string' ? [v] : v;
}

function hostPortOrThrow(s: string, yaml: YamlLines, key: IssuePath, what: string): HostPort {
  const hp = parseHostPort(s);
  if (hp === undefined) throw yaml.error(key, `expected ${what}, got ${JSON.stringify(s)}`);
  return hp;
}

function bindList(v: RawConfig['proto']['bind'], yaml: YamlLines, dir: string, key: IssuePath = ['proto', 'bind']): BindAddress[] {
  return list(v).map((s, i) => {
    if (isUnixSocketPath(s)) return { kind: 'unix', path: resolveConfigPath(s, dir) };
    const what = 'host:port or a Unix socket path ending in .sock/.socket';
    return { kind: 'tcp', ...hostPortOrThrow(s, yaml, [...key, i], what) };
  });
}

function mqttSection(raw: RawConfig['mqtt'], maxPubSize: number, yaml: YamlLines, dir: string): MqttSection | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (raw.tls_cert !== undefined && raw.tls_cert !== null && (raw.tls_key === undefined || raw.tls_key === null)) {
    throw yaml.error(['mqtt', 'tls_cert'], 'required when mqtt.tls_cert is set', 'mqtt.tls_key'); // at tls_cert's line: tls_key has none
  }
  const d = MQTT_DEFAULTS;
  return {
    bind: bindList(raw.bind, yaml, dir, ['mqtt', 'bind']),
    bindTls: bindList(raw.bind_tls, yaml, dir, ['mqtt', 'bind_tls']),
    tlsPkcs12: optPath(raw.tls_pkcs12, dir),
    tlsCert: optPath(raw.tls_cert, dir),
    tlsKey: optPath(raw.tls_key, dir),
    ...clientCertificates(raw, yaml, dir),
    maxPacketSize: raw.max_packet_size ?? maxPubSize + d.maxPacketSizeHeadroom,
    maxConnectSize: raw.max_connect_size ?? d.maxConnectSize,
    receiveMaximum: raw.receive_maximum ?? d.receiveMaximum,
    maxInflight: raw.max_inflight ?? d.maxInflight,
    maxQueuedMessages: raw.max_queued_messages ?? d.maxQueuedMessages,
    maxQueuedBytes: raw.max_queued_bytes ?? d.maxQueuedBytes,
    maxKeepAlive: raw.max_keepalive ?? d.maxKeepAlive,
    maxSessionExpiry: raw.max_session_expiry ?? d.maxSessionExpiry,
    retainedMaxCount: raw.retained_max_count ?? d.retainedMaxCount,
    retainedMaxBytes: raw.retained_max_bytes ?? d.retainedMaxBytes,
    topicAliasMaximum: raw.topic_alias_maximum ?? d.topicAliasMaximum,
    wsBind: bindList(raw.ws_bind, yaml, dir, ['mqtt', 'ws_bind']),
    wssBind: bindList(raw.wss_bind, yaml, dir, ['mqtt', 'wss_bind']),
    wsPath: raw.ws_path ?? d.wsPath,
    wsOrigins: list(raw.ws_origins),
    wsDeflate: raw.ws_deflate ?? false,
    wsTrustedProxies: trustedProxies(raw.ws_trusted_proxies, yaml),
    sysInterval: raw.sys_interval ?? d.sysInterval,
    persistenceFile: optPath(raw.persistence_file, dir),
    autosaveInterval: raw.autosave_interval ?? d.autosaveInterval,
  };
}

/** `mqtt.ws_trusted_proxies`: IP addresses (no names, no ranges), normalised as peers are compared. */
function trustedProxies(v: string | readonly string[] | null | undefined, yaml: YamlLines): readonly string[] {
  const items = typeof v === 'string' ? [v] : (v ?? []);
  return items.map((s, i) => {
    if (isIP(s) === 0) throw yaml.error(['mqtt', 'ws_trusted_proxies', ...(typeof v === 'string' ? [] : [i])], `expected the IP address of a proxy, got ${JSON.stringify(s)}`);
    return plainIp(s);
  });
}

type ClientCertificateKeys = Pick<MqttSection, 'tlsClientCa' | 'tlsCrl' | 'requireCertificate' | 'useIdentityAsUsername'>;

/**
 * `mqtt.tls_client_ca`, `tls_crl`, `require_certificate`, `use_identity_as_username`: each needs
 * the one before it, so a config that names a CA nobody is asked for, or takes the CN of a
 * certificate that is never requested, is refused instead of silently doing less than it says.
 */
function clientCertificates(raw: NonNullable<RawConfig['mqtt']>, yaml: YamlLines, dir: string): ClientCertificateKeys {
  const ca = optPath(raw.tls_client_ca, dir);
  const crl = list(raw.tls_crl).map((f) => resolveConfigPath(f, dir));
  const require = raw.require_certificate ?? false;
  const identity = raw.use_identity_as_username ?? false;
  if (require && ca === undefined) throw yaml.error(['mqtt', 'require_certificate'], 'needs mqtt.tls_client_ca (the CA file that signs the client certificates)');
  if (ca !== undefined && !require) throw yaml.error(['mqtt', 'tls_client_ca'], 'has no effect without mqtt.require_certificate: true');
  if (crl.length > 0 && ca === undefined) throw yaml.error(['mqtt', 'tls_crl'], 'needs mqtt.tls_client_ca');
  if (identity && !require) throw yaml.error(['mqtt', 'use_identity_as_username'], 'needs mqtt.require_certificate: true');
  if (require && list(raw.bind_tls).length === 0 && list(raw.wss_bind).length === 0) {
    throw yaml.error(['mqtt', 'require_certificate'], 'applies to the TLS listeners, and neither mqtt.bind_tls nor mqtt.wss_bind is set');
  }
  return { tlsClientCa: ca, tlsCrl: crl, requireCertificate: require, useIdentityAsUsername: identity };
}

function optPath(v: string | null | undefined, dir: string): string | undefined {
  return v === undefined || v === null ? undefined : resolveConfigPath(v, dir);
}

function serverSection(raw: RawConfig['server'], yaml: YamlLines, dir: string): ServerSection {
  if (raw.data_queue === 0) {
    throw yaml.error(['server', 'data_queue'], 'must be at least 1 (a queue of 0 messages would drop every data socket)');
  }
  let bindStats: HostPort | undefined;
  if (raw.bind_stats !== undefined && raw.bind_stats !== null) {
    // The reference needs a literal socket address here (no host names).
    bindStats = hostPortOrThrow(raw.bind_stats, yaml, ['server', 'bind_stats'], 'an IP:port address such as 0.0.0.0:8880');
    if (isIP(bindStats.host) === 0) {
      throw yaml.error(['server', 'bind_stats'], `expected an IP address, not a host name, got ${JSON.stringify(raw.bind_stats)}`);
    }
  }
  return {
    workers: raw.workers ?? DEFAULTS.workers,
    latencyWarn: raw.latency_warn ?? DEFAULTS.latencyWarn,
    dataQueue: raw.data_queue ?? DEFAULTS.dataQueue,
    maxTopicDepth: raw.max_topic_depth ?? DEFAULTS.maxTopicDepth,
    maxPubSize: raw.max_pub_size ?? DEFAULTS.maxPubSize,
    maxTopicLength: raw.max_topic_length ?? DEFAULTS.maxTopicLength,
    pidFile: raw.pid_file ?? undefined, // verbatim, never resolved (§2.4)
    bindStats,
    license: optPath(raw.license, dir),
    dataDrainTimeout: raw.data_drain_timeout ?? DEFAULTS.dataDrainTimeout,
    dataQueueBytes: raw.data_queue_bytes ?? DEFAULTS.dataQueueBytes,
    // Hardening extensions: present only when set (consumers apply DEFAULTS).
    ...given('maxConnections', raw.max_connections),
    ...given('maxTopicTableBytes', raw.max_topic_table_bytes),
    ...given('slowConsumer', raw.slow_consumer),
    ...given('slowConsumerWindow', raw.slow_consumer_window),
    ...given('slowConsumerMaxHold', raw.slow_consumer_max_hold),
    ...given('maxSubscriptions', raw.max_subscriptions),
    ...given('maxSubscriptionBytes', raw.max_subscription_bytes),
    ...given('maxTopicsPerSubscribe', raw.max_topics_per_subscribe),
  };
}

function protoSection(raw: RawConfig['proto'], yaml: YamlLines, dir: string): ProtoSection {
  const hasCert = raw.tls_cert !== undefined && raw.tls_cert !== null;
  if (hasCert && (raw.tls_key === undefined || raw.tls_key === null)) {
    throw yaml.error(['proto', 'tls_cert'], 'required when proto.tls_cert is set', 'proto.tls_key'); // at tls_cert's line: tls_key has none
  }
  const udpWhat = 'host:port (UDP has no Unix sockets)';
  return {
    bind: bindList(raw.bind, yaml, dir),
    bindUdp: list(raw.bind_udp).map((s, i) => hostPortOrThrow(s, yaml, ['proto', 'bind_udp', i], udpWhat)),
    udpFrameSize: raw.udp_frame_size ?? DEFAULTS.udpFrameSize,
    timeout: raw.timeout ?? DEFAULTS.timeout,
    tlsPkcs12: optPath(raw.tls_pkcs12, dir),
    tlsCert: optPath(raw.tls_cert, dir),
    tlsKey: optPath(raw.tls_key, dir),
    fips: raw.fips ?? DEFAULTS.fips,
    allowNoTls: raw.allow_no_tls,
    ...given('udpReplayWindow', raw.udp_replay_window),
    ...given('unixSocketMode', unixMode(raw.unix_socket_mode)),
    ...given('unixSocketOwner', raw.unix_socket_owner),
    ...given('unixSocketGroup', raw.unix_socket_group),
  };
}

/** `"0660"`/`"660"` are octal; a YAML integer is taken as is (write `0o660` or 432). */
function unixMode(v: string | number | null | undefined): number | undefined {
  if (v === undefined || v === null) return undefined;
  return typeof v === 'string' ? parseInt(v, 8) : v;
}

/** `{ key: value }` when the optional key was set, else nothing (exactOptionalPropertyTypes). */
function given<K extends string, V>(key: K, value: V | null | undefined): Partial<Record<K, V>> {
  return value === undefined || value === null ? {} : ({ [key]: value } as Partial<Record<K, V>>);
}

function authSection(raw: RawConfig['auth'], dir: string): AuthSection {
  return {
    allowAnonymous: raw.allow_anonymous,
    passwordFile: optPath(raw.password_file, dir),
    mosquittoPasswords: raw.mosquitto_passwords === true,
    keyFile: optPath(raw.key_file, dir),
    acl: { kind: 'file', path: resolveConfigPath(raw.acl, dir) },
  };
}

/**
 * Parses config text. `file` names the file in error messages and anchors relative paths
 * (its directory, canonicalised when it exists).
 */
export function parseConfigText(text: string, file: string): ServerConfig {
  const { data, lines } = parseYaml(text, file);
  const raw = validate(rawConfigSchema, data, lines);
  const dir = configDirOf(file);
  const cluster = raw.cluster ?? undefined;
  const server = serverSection(raw.server, lines, dir);
  return {
    file,
    configDir: dir,
    server,
    proto: protoSection(raw.proto, lines, dir),
    auth: authSection(raw.auth, dir),
    cluster: cluster === undefined ? undefined : { config: resolveConfigPath(cluster.config, dir) },
    mqtt: mqttSection(raw.mqtt, server.maxPubSize, lines, dir),
    bridges: raw.bridges ?? undefined,
    lines,
  };
}

/** Reads and parses a config file; a read failure is `Unable to read config (<file>: …)`. */
export function loadConfigFile(path: string): ServerConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new PsrtError(ErrorCode.Config, `Unable to read config (${path}: ${fsErrorText(e)})`, { cause: e });
  }
  return parseConfigText(text, path);
}
