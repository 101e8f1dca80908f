/** What every accepted stream connection needs: policy, the broker and authentication. */
import type { Socket } from 'node:net';
import type { AclEntry } from '../auth/acl.js';
import type { Broker, BrokerLogger } from '../broker/index.js';
import type { ControlLimits } from '../protocol/control.js';
import { ErrorCode, isPsrtError } from '../protocol/errors.js';
import { escapeLogLine } from '../protocol/log-escape.js';
import type { TlsIdentity } from './tls.js';

export type AuthResult =
  | { readonly ok: true; readonly user: string; readonly acl: AclEntry }
  | { readonly ok: false; readonly code: string; readonly message: string };

/** Implemented by AuthStore; narrowed so transports depend on the behaviour only. */
export interface LoginAuthenticator {
  /** `source`: the client's IP address, the unit of the per-address login budget. */
  authenticate(login: string, password: string, source?: string): Promise<AuthResult>;
  /** The same result without waiting when no bcrypt is needed (anonymous, a remembered password). */
  authenticateNow(login: string, password: string): AuthResult | undefined;
}

export interface StreamContext {
  readonly broker: Broker;
  readonly auth: LoginAuthenticator;
  readonly log: BrokerLogger;
  readonly limits: ControlLimits;
  /** T, the single I/O timeout (proto.timeout) in ms. */
  readonly timeoutMs: number;
  readonly allowNoTls: boolean;
  /** TLS identity (read per handshake: SIGHUP may replace it); null when TLS is not configured (TLS greetings are then refused). */
  readonly tls: TlsIdentity | null;
  /** Reply bytes buffered for a client that does not read them before we stop reading it. */
  readonly maxPendingReplyBytes: number;
}

/** `ip:port` as the reference prints socket addresses (`[v6]:port` for IPv6). */
export function formatAddress(address: string | undefined, port: number | undefined): string {
  if (address === undefined) return 'unknown';
  const host = address.includes(':') ? `[${address}]` : address;
  return `${host}:${port ?? 0}`;
}

type PeerCached = Socket & { _peername?: unknown };

/**
 * `ip:port` of a TCP peer as one flat string (~32 bytes; the concatenation would keep three
 * strings, ~90). Node caches the peer as an object on the socket when it is read (~110 bytes
 * with its strings); it is dropped, as the address is all that is kept (read again, it is
 * cached again).
 */
export function flatAddress(socket: Socket): string {
  const joined = formatAddress(socket.remoteAddress, socket.remotePort);
  (socket as PeerCached)._peername = undefined;
  return Buffer.from(joined, 'latin1').toString('latin1');
}

/** The IP of an `ip:port` / `[v6]:port` address made by formatAddress; undefined for 'unknown'. */
export function ipOfAddress(address: string): string | undefined {
  if (address === 'unknown') return undefined;
  return address.startsWith('[') ? address.slice(1, address.lastIndexOf(']')) : address.slice(0, address.lastIndexOf(':'));
}

/**
 * Topics of one (UN)SUBSCRIBE handled per event-loop turn: a request with more is worked off in
 * slices (about 1–3 ms each) while the connection reads nothing else, so one huge request
 * cannot stall every other client.
 */
export const TOPICS_PER_TURN = 256;

/**
 * `Client <addr> error. <kind>: <message>` (SERVER.md §15), rate-limited per error code (e.g.
 * `Client error. Invalid data (PSRT_INVALID_OP)`): a flood of broken connections must not
 * become a log flood, nor hide another kind of failure. A failed login is always logged: it is
 * the audit trail (fail2ban and the like need every address), bounded by the connection rate.
 */
export function logClientError(ctx: StreamContext, address: string, e: unknown): void {
  if (!isPsrtError(e) || (e.code !== ErrorCode.LoginFailed && e.code !== ErrorCode.NoAcl)) {
    const label = isPsrtError(e) ? `Client error. ${e.kind} (${e.code})` : 'Client error. Internal error';
    if (!ctx.broker.logLimiter.line(label).admit()) return;
  }
  const text = isPsrtError(e) ? e.describe() : `Internal error: ${String(e)}`;
  ctx.log.error(`Client ${address} error. ${escapeLogLine(text, 1024)}`);
}

/**
 * The 'error' listener of sockets whose errors surface as 'close' (one shared function: a
 * closure per socket would cost memory on every idle connection).
 */
export function ignoreSocketError(): void {
  /* reported through 'close' */
}

/** Adds ignoreSocketError unless the socket has it already (one listener, not an array). */
export function ignoreErrorsOf(socket: NodeJS.EventEmitter): void {
  if (socket.listenerCount('error') === 0) socket.on('error', ignoreSocketError);
}
