/**
 * Connection options of the TCP/Unix client (CLIENT-API.md §2, §9) and their resolution into
 * the concrete values the connection code uses. Times in the public options are float seconds,
 * like the reference's configuration; everything internal is milliseconds.
 */
import { isIP } from 'node:net';
import { DEFAULT_PORT } from '../protocol/constants.js';
import { hidePassword } from './redact.js';

export interface TlsOptions {
  /** Extra trusted CA certificate(s) as PEM content (not a path; see `caFile`). */
  readonly ca?: string | Buffer | readonly (string | Buffer)[];
  /** Path of a PEM file with extra trusted CA certificate(s), read at connect time. */
  readonly caFile?: string;
  /**
   * Keep the system's root CAs next to `ca`/`caFile` (default true, as the Rust client does:
   * system roots plus the given CA). Set false to trust only the given CA.
   */
  readonly systemCa?: boolean;
  /** Name checked against the certificate; default: the host part of the address. */
  readonly servername?: string;
  /** Default true. Only for tests and closed networks. */
  readonly rejectUnauthorized?: boolean;
}

export interface ReconnectOptions {
  /** First delay in seconds (default 0.5). */
  readonly initialDelay?: number;
  /** Upper bound of the delay in seconds (default 30). */
  readonly maxDelay?: number;
  /** Delay multiplier per failed attempt (default 2). */
  readonly factor?: number;
  /** Give up after this many consecutive failed attempts (default: never). */
  readonly maxAttempts?: number;
}

export interface ClientOptions {
  /** `host:port` for TCP or a Unix socket path ending in `.sock`/`.socket`. */
  readonly path?: string;
  /** Alternative to `path` for TCP. */
  readonly host?: string;
  /** Alternative to `path` for TCP (default 2873). */
  readonly port?: number;
  /** Login; empty user and password = anonymous (default ""). */
  readonly user?: string;
  readonly password?: string;
  /** Connect/operation timeout in seconds (default 5); also sets the keep-alive interval. */
  readonly timeout?: number;
  /** Unix sockets: how long to wait for the socket file to appear, seconds (default 5). */
  readonly socketWaitTimeout?: number;
  /** Max requests written and not yet answered, and size of the message buffer (default 8192). */
  readonly queueSize?: number;
  /**
   * Bytes (topic + payload) the message buffer holds before the data socket is paused, like a
   * full `queueSize` (default 64 MiB). A single larger message is still delivered.
   */
  readonly queueBytes?: number;
  /**
   * Largest data frame accepted (its LEN: topic + 1 + payload, as the server's `max_pub_size`),
   * checked before it is buffered; a larger one fails the connection (default 64 MiB).
   */
  readonly maxMessageSize?: number;
  /** STARTTLS on both sockets (ignored for Unix sockets). */
  readonly tls?: boolean | TlsOptions;
  /** Open the data socket to receive messages (default true). */
  readonly dataStream?: boolean;
  /** Reconnect with back-off and re-subscribe after an unexpected loss (default off). */
  readonly reconnect?: boolean | ReconnectOptions;
  /** Aborts connect() (not the reconnect attempts of the connected client: close() ends those). */
  readonly signal?: AbortSignal;
}

export type Address =
  | { readonly kind: 'unix'; readonly path: string; readonly display: string }
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number; readonly display: string };

export interface ResolvedTls {
  readonly ca: readonly (string | Buffer)[] | undefined;
  readonly caFile: string | undefined;
  readonly systemCa: boolean;
  readonly servername: string | undefined;
  readonly rejectUnauthorized: boolean;
}

export interface ResolvedReconnect {
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  readonly factor: number;
  readonly maxAttempts: number;
}

export interface ResolvedOptions {
  readonly address: Address;
  readonly user: string;
  readonly password: string;
  readonly timeoutMs: number;
  readonly socketWaitMs: number;
  readonly queueSize: number;
  readonly queueBytes: number;
  readonly maxMessageSize: number;
  readonly tls: ResolvedTls | null;
  readonly dataStream: boolean;
  readonly reconnect: ResolvedReconnect | null;
  /** Idle interval after which a NOP is sent on the control socket. */
  readonly keepAliveMs: number;
  /** Timeout byte declared on the data socket. */
  readonly declaredTimeout: number;
  /** Silence on the data socket longer than this means the server is gone. */
  readonly dataIdleMs: number;
}

/** The reference's rule: a path ending in `.sock` or `.socket` is a Unix socket. */
export function isUnixSocketPath(path: string): boolean {
  return path.endsWith('.sock') || path.endsWith('.socket');
}

/** Splits `host:port` at the last `:`; `[v6]:port` loses its brackets. */
export function parseAddress(path: string): Address {
  if (isUnixSocketPath(path)) return { kind: 'unix', path, display: path };
  const colon = path.lastIndexOf(':');
  if (colon <= 0) throw new TypeError(`invalid address "${path}": expected host:port`);
  const portText = path.slice(colon + 1);
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port < 1 || port > 65535) {
    throw new TypeError(`invalid port in "${path}"`);
  }
  let host = path.slice(0, colon);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  return { kind: 'tcp', host, port, display: path };
}

/** The longest time a Node timer holds (2^31 - 1 ms); a longer one would fire at once. */
export const MAX_TIMEOUT_SECONDS = 2_147_483;

function seconds(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!(v > 0 && v <= MAX_TIMEOUT_SECONDS)) {
    throw new TypeError(`${name} must be a positive number of seconds, at most ${MAX_TIMEOUT_SECONDS} (24 days)`);
  }
  return v;
}

/** Defaults of `queueBytes` and `maxMessageSize`. */
export const DEFAULT_QUEUE_BYTES = 64 * 1024 * 1024;
export const DEFAULT_MAX_MESSAGE_SIZE = 64 * 1024 * 1024;
/** LEN is a u32 on the wire. */
const MAX_FRAME_LEN = 0xffffffff;

function positiveInteger(name: string, value: number | undefined, fallback: number, max = Number.MAX_SAFE_INTEGER): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < 1 || v > max) {
    throw new TypeError(`${name} must be a positive integer${max < Number.MAX_SAFE_INTEGER ? `, at most ${max}` : ''}`);
  }
  return v;
}

function resolveAddress(o: ClientOptions): Address {
  if (o.path !== undefined) return parseAddress(o.path);
  const host = o.host ?? 'localhost';
  const port = o.port ?? DEFAULT_PORT;
  const display = isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
  return { kind: 'tcp', host, port, display };
}

function resolveTls(tls: ClientOptions['tls'], address: Address): ResolvedTls | null {
  // The reference ignores TLS on Unix sockets; so do we.
  if (tls === undefined || tls === false || address.kind === 'unix') return null;
  const t: TlsOptions = tls === true ? {} : tls;
  const ca = t.ca === undefined ? undefined : Array.isArray(t.ca) ? t.ca : [t.ca];
  return {
    ca: ca as readonly (string | Buffer)[] | undefined,
    caFile: t.caFile,
    systemCa: t.systemCa ?? true,
    servername: t.servername,
    rejectUnauthorized: t.rejectUnauthorized ?? true,
  };
}

function resolveReconnect(r: ClientOptions['reconnect']): ResolvedReconnect | null {
  if (r === undefined || r === false) return null;
  const o: ReconnectOptions = r === true ? {} : r;
  return {
    initialDelayMs: seconds('reconnect.initialDelay', o.initialDelay, 0.5) * 1000,
    maxDelayMs: seconds('reconnect.maxDelay', o.maxDelay, 30) * 1000,
    factor: Math.max(1, o.factor ?? 2),
    maxAttempts: o.maxAttempts ?? Number.POSITIVE_INFINITY,
  };
}

export function resolveOptions(o: ClientOptions): ResolvedOptions {
  const timeout = seconds('timeout', o.timeout, 5);
  const whole = Math.trunc(timeout);
  // Deviation recommended by CLIENT-API.md §9 item 3: never declare 00 (the server would
  // ping continuously); a sub-second timeout declares 1.
  const declaredTimeout = Math.min(255, Math.max(1, whole));
  const queueSize = positiveInteger('queueSize', o.queueSize, 8192);
  const address = resolveAddress(o);
  return hidePassword({
    address,
    user: o.user ?? '',
    password: o.password ?? '',
    timeoutMs: timeout * 1000,
    socketWaitMs: seconds('socketWaitTimeout', o.socketWaitTimeout, 5) * 1000,
    queueSize,
    queueBytes: positiveInteger('queueBytes', o.queueBytes, DEFAULT_QUEUE_BYTES),
    maxMessageSize: positiveInteger('maxMessageSize', o.maxMessageSize, DEFAULT_MAX_MESSAGE_SIZE, MAX_FRAME_LEN),
    tls: resolveTls(o.tls, address),
    dataStream: o.dataStream ?? true,
    reconnect: resolveReconnect(o.reconnect),
    // Reference: (timeout in whole seconds) / 2. Sub-second timeouts would give 0 there.
    keepAliveMs: whole >= 1 ? whole * 500 : Math.max(50, timeout * 500),
    declaredTimeout,
    // The server pings every declared/2 s, so allow for the declared value when it was
    // rounded up from a sub-second timeout.
    dataIdleMs: Math.max(timeout, declaredTimeout) * 1000,
  });
}

/** Time left of `timeoutMs` since `startedAt` (performance.now() ms), floored at zero. */
export function remainingTimeout(timeoutMs: number, startedAt: number): number {
  return Math.max(0, timeoutMs - (performance.now() - startedAt));
}
