/**
 * The `bridges:` section of config.yml, or the file it names. Validated strictly (unknown keys
 * fail with file, line, key and problem) when psrtd starts and again on SIGHUP, where a bad file leaves
 * the running bridges untouched.
 *
 *   bridges:
 *     node_id: plant1            # optional: origin id on exported messages (default host-PID)
 *     list: [ … ]                # the bridges, or
 *     file: bridges.yml          # a YAML list of them in another file
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { z } from 'zod';
import { dottedPath, fsErrorText, parseYaml, validate, YamlLines, type IssuePath } from '../auth/yaml-validate.js';
import { ErrorCode, PsrtError } from '../protocol/errors.js';
import { normalizeTopic } from '../topics/index.js';

export type BridgeType = 'nats' | 'mqtt';

export interface BridgeTls {
  /** PEM text of the CA to trust (system CAs when undefined). */
  readonly ca: string | undefined;
  /** PEM client certificate and key (both or neither). */
  readonly cert: string | undefined;
  readonly key: string | undefined;
}

export interface BridgeConfig {
  readonly name: string;
  readonly type: BridgeType;
  /** Server URLs, tried in turn (a NATS cluster's nodes, or MQTT fail-over brokers). */
  readonly servers: readonly string[];
  readonly user: string | undefined;
  readonly password: string | undefined;
  /** NATS token authentication. */
  readonly token: string | undefined;
  /** MQTT client id (default `psrtd-<node id>-<name>`). */
  readonly clientId: string | undefined;
  /** TLS settings; undefined: plain TCP unless a URL says tls:// or mqtts://. */
  readonly tls: BridgeTls | undefined;
  /** Masks of local topics to export, relative to localPrefix (normalised). */
  readonly out: readonly string[];
  /** Masks of remote topics to import, relative to remotePrefix. */
  readonly in: readonly string[];
  readonly localPrefix: string;
  readonly remotePrefix: string;
  /** MQTT QoS of exported messages and of the import subscriptions. */
  readonly qos: 0 | 1;
  /** MQTT protocol version: 5 (origin in a user property) or 4 (3.1.1, origin in the topic). */
  readonly protocolVersion: 4 | 5;
  /**
   * MQTT: a clean session (true, the default) or a persistent one the upstream keeps, with the
   * import subscriptions and the QoS 1 messages queued for them, while the bridge is away.
   */
  readonly cleanSession: boolean;
  /** MQTT 5 Session Expiry Interval in seconds when `cleanSession` is false (4294967295: never). */
  readonly sessionExpiry: number;
  /** Bounds of the buffer that holds exports while the upstream is away. */
  readonly bufferMessages: number;
  readonly bufferBytes: number;
  /**
   * Seconds a connection attempt may take (TCP, TLS, and the server's INFO or CONNACK): a
   * stalled server accepts the TCP connection and then says nothing.
   */
  readonly connectTimeout: number;
  /** NATS: seconds between pings; the connection is given up when `maxPingsOut` are unanswered at the next. */
  readonly pingInterval: number;
  readonly maxPingsOut: number;
  /** MQTT keep alive in seconds: the connection is given up after 1.5 times this without an answer. */
  readonly keepalive: number;
}

export interface BridgesConfig {
  readonly nodeId: string;
  readonly bridges: readonly BridgeConfig[];
}

const DEFAULT_BUFFER_MESSAGES = 10_000;
const DEFAULT_BUFFER_BYTES = 16 * 1024 * 1024;
/** An hour: a bridge away longer (or removed) stops costing the upstream its queue. */
const DEFAULT_SESSION_EXPIRY = 3600;
/** MQTT 5's largest Session Expiry Interval, which means "never expires" (§3.1.2.11.2). */
const MAX_SESSION_EXPIRY = 4_294_967_295;
/**
 * How a stalled upstream (a hung process, a link that drops everything) is noticed: the
 * defaults give up on it in 20 to 30 s (NATS) or about 15 s (MQTT).
 */
const DEFAULT_CONNECT_TIMEOUT = 5;
const DEFAULT_PING_INTERVAL = 10;
const DEFAULT_MAX_PINGS_OUT = 2;
const DEFAULT_KEEPALIVE = 10;
/** MQTT's Keep Alive is a two-byte field. */
const MAX_KEEPALIVE = 65_535;

const stringOrList = z.union([z.string().min(1), z.array(z.string().min(1))], {
  error: 'expected a string or a list of strings',
});

const bridgeSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_.-]+$/, { error: 'expected letters, digits, _ . or -' }),
  type: z.enum(['nats', 'mqtt'], { error: 'expected nats or mqtt' }),
  servers: stringOrList.nullish(), // checked in resolveBridge: a missing union reads badly
  user: z.string().nullish(),
  password: z.string().nullish(),
  token: z.string().nullish(),
  client_id: z.string().min(1).nullish(),
  tls: z.boolean().nullish(),
  tls_ca: z.string().min(1).nullish(),
  tls_cert: z.string().min(1).nullish(),
  tls_key: z.string().min(1).nullish(),
  out: stringOrList.nullish(),
  in: stringOrList.nullish(),
  local_prefix: z.string().nullish(),
  remote_prefix: z.string().nullish(),
  qos: z.union([z.literal(0), z.literal(1)], { error: 'expected 0 or 1' }).nullish(),
  protocol_version: z.union([z.literal(4), z.literal(5)], { error: 'expected 4 (3.1.1) or 5' }).nullish(),
  buffer_messages: z.int({ error: 'expected an integer' }).min(1).nullish(),
  buffer_bytes: z.int({ error: 'expected an integer' }).min(1).nullish(),
  clean_session: z.boolean({ error: 'expected true or false' }).nullish(),
  session_expiry: z.int({ error: 'expected an integer' }).min(1).max(MAX_SESSION_EXPIRY).nullish(),
  connect_timeout: z.int({ error: 'expected an integer (seconds)' }).min(1).max(600).nullish(),
  ping_interval: z.int({ error: 'expected an integer (seconds)' }).min(1).max(3600).nullish(),
  max_pings_out: z.int({ error: 'expected an integer' }).min(1).max(100).nullish(),
  // The lower bound is checked in checkBridge, which says why 0 (MQTT: keep alive off) is refused.
  keepalive: z.int({ error: 'expected an integer (seconds)' }).max(MAX_KEEPALIVE).nullish(),
});

type RawBridge = z.infer<typeof bridgeSchema>;

const listSchema = z.array(bridgeSchema, { error: 'expected a list of bridges' }).nullable();

const sectionSchema = z.strictObject({
  node_id: z.string().regex(/^[A-Za-z0-9_.:-]+$/, { error: 'expected letters, digits, _ . : or -' }).nullish(),
  list: listSchema.optional(),
  file: z.string().min(1).nullish(),
});

function resolvePath(value: string, configDir: string): string {
  return value.startsWith('.') || isAbsolute(value) ? value : join(configDir, value);
}

/** Where bridge entries are: the lines of their file and how their key paths are shown. */
interface Where {
  readonly lines: YamlLines;
  readonly show: (path: IssuePath) => string;
}

function fail(where: Where, path: IssuePath, problem: string): PsrtError {
  return where.lines.error(path, problem, where.show(path));
}

/** A file named by the key at `key`: a read failure points at that key. */
function readNamedFile(path: string, where: Where, key: IssuePath): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    const err = fail(where, key, `unable to read ${path}: ${fsErrorText(e)}`);
    throw new PsrtError(ErrorCode.Config, err.message, { cause: e });
  }
}

const asList = (v: string | readonly string[] | null | undefined): string[] =>
  v === undefined || v === null ? [] : typeof v === 'string' ? [v] : [...v];

/** A prefix is a topic start: `site1/` (normalised, as PSRT stores topics). */
function prefix(v: string | null | undefined): string {
  return v === undefined || v === null ? '' : normalizeTopic(v);
}

function checkBridge(raw: RawBridge, at: IssuePath, where: Where): void {
  if (raw.servers == null) throw fail(where, [...at, 'servers'], 'required key is missing');
  const hasCert = raw.tls_cert !== undefined && raw.tls_cert !== null;
  const hasKey = raw.tls_key !== undefined && raw.tls_key !== null;
  if (hasCert !== hasKey) throw fail(where, [...at, hasCert ? 'tls_key' : 'tls_cert'], 'tls_cert and tls_key go together');
  if (raw.type === 'nats') {
    const mqttOnly = (['qos', 'protocol_version', 'clean_session', 'session_expiry', 'keepalive'] as const).find((k) => raw[k] != null);
    if (mqttOnly !== undefined) throw fail(where, [...at, mqttOnly], 'only for type mqtt');
  } else {
    const natsOnly = (['ping_interval', 'max_pings_out'] as const).find((k) => raw[k] != null);
    if (natsOnly !== undefined) throw fail(where, [...at, natsOnly], 'only for type nats (an MQTT bridge has keepalive)');
  }
  if (raw.keepalive != null && raw.keepalive < 1) {
    const why = raw.keepalive === 0 ? ' (0 turns keep alive off: a stalled upstream would never be noticed)' : '';
    throw fail(where, [...at, 'keepalive'], `must be at least 1, got ${String(raw.keepalive)}${why}`);
  }
  if (raw.session_expiry != null && raw.protocol_version === 4) {
    throw fail(where, [...at, 'session_expiry'], 'only for protocol_version 5 (MQTT 3.1.1 sessions do not expire)');
  }
}

function resolveBridge(raw: RawBridge, at: IssuePath, where: Where, configDir: string): BridgeConfig {
  checkBridge(raw, at, where);
  const hasCert = raw.tls_cert != null;
  const pem = (v: string | null | undefined, key: string): string | undefined =>
    v === undefined || v === null ? undefined : readNamedFile(resolvePath(v, configDir), where, [...at, key]);
  const tlsWanted = raw.tls === true || raw.tls_ca != null || hasCert;
  return {
    name: raw.name,
    type: raw.type,
    servers: asList(raw.servers),
    user: raw.user ?? undefined,
    password: raw.password ?? undefined,
    token: raw.token ?? undefined,
    clientId: raw.client_id ?? undefined,
    tls: tlsWanted ? { ca: pem(raw.tls_ca, 'tls_ca'), cert: pem(raw.tls_cert, 'tls_cert'), key: pem(raw.tls_key, 'tls_key') } : undefined,
    out: asList(raw.out).map(normalizeTopic),
    in: asList(raw.in),
    localPrefix: prefix(raw.local_prefix),
    remotePrefix: raw.remote_prefix ?? '',
    qos: raw.qos ?? 0,
    protocolVersion: raw.protocol_version ?? 5,
    cleanSession: raw.clean_session ?? true,
    sessionExpiry: raw.session_expiry ?? DEFAULT_SESSION_EXPIRY,
    bufferMessages: raw.buffer_messages ?? DEFAULT_BUFFER_MESSAGES,
    bufferBytes: raw.buffer_bytes ?? DEFAULT_BUFFER_BYTES,
    connectTimeout: raw.connect_timeout ?? DEFAULT_CONNECT_TIMEOUT,
    pingInterval: raw.ping_interval ?? DEFAULT_PING_INTERVAL,
    maxPingsOut: raw.max_pings_out ?? DEFAULT_MAX_PINGS_OUT,
    keepalive: raw.keepalive ?? DEFAULT_KEEPALIVE,
  };
}

function checkNames(list: readonly BridgeConfig[], where: Where, at: IssuePath): void {
  const seen = new Set<string>();
  list.forEach((b, i) => {
    if (seen.has(b.name)) throw fail(where, [...at, i, 'name'], `duplicate bridge name ${JSON.stringify(b.name)}`);
    seen.add(b.name);
  });
}

export const defaultNodeId = (): string => `${hostname() || 'psrtd'}-${process.pid}`;

/**
 * A persistent session is found again by its client id. The default one contains the default
 * node id, which contains the process id: every restart would open a new session and leave the
 * old one queueing on the upstream.
 */
function checkStableClientIds(list: readonly BridgeConfig[], nodeIdSet: boolean, where: Where, at: IssuePath): void {
  if (nodeIdSet) return;
  const i = list.findIndex((b) => !b.cleanSession && b.clientId === undefined);
  if (i < 0) return;
  throw fail(
    where,
    [...at, i, 'clean_session'],
    'false needs a client id that stays the same across restarts: set client_id, or bridges.node_id (the default node id contains the process id)',
  );
}

function resolveAll(raws: readonly RawBridge[], where: Where, at: IssuePath, configDir: string, nodeIdSet: boolean): BridgeConfig[] {
  const bridges = raws.map((r, i) => resolveBridge(r, [...at, i], where, configDir));
  checkNames(bridges, where, at);
  checkStableClientIds(bridges, nodeIdSet, where, at);
  return bridges;
}

/**
 * The `bridges:` value of config.yml (`undefined` when absent). `file` names config.yml in
 * errors, `lines` (when the value was read from it) where the section's keys are; a list file
 * is named itself, with its entries as `[i].key`.
 */
export function parseBridgesSection(value: unknown, file: string, configDir: string, lines?: YamlLines): BridgesConfig | undefined {
  if (value === undefined || value === null) return undefined;
  const inConfig: Where = { lines: lines ?? YamlLines.none(file), show: (p) => dottedPath(['bridges', ...p]) };
  const section = validate(sectionSchema, value, inConfig.lines, inConfig.show);
  const nodeId = section.node_id ?? defaultNodeId();
  if (section.list != null && section.file != null) throw fail(inConfig, ['file'], 'give either list or file, not both');
  if (section.file != null) {
    const listFile = resolvePath(section.file, configDir);
    const parsed = parseYaml(readNamedFile(listFile, inConfig, ['file']), listFile);
    const inFile: Where = { lines: parsed.lines, show: dottedPath };
    const raws = validate(listSchema, parsed.data, inFile.lines) ?? [];
    return { nodeId, bridges: resolveAll(raws, inFile, [], configDir, section.node_id != null) };
  }
  return { nodeId, bridges: resolveAll(section.list ?? [], inConfig, ['list'], configDir, section.node_id != null) };
}
