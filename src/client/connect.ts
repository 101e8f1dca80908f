/**
 * Connection set-up (PROTOCOL.md §4, §5.1, §6.1): open the control socket (TCP or Unix),
 * optional STARTTLS, greeting, login → token; then the data socket with the token handshake.
 * Everything after the Unix-socket wait shares one deadline (`timeout`), like the reference;
 * unlike the reference the TLS handshakes are inside that deadline too, so connect() is
 * always bounded.
 */
import { readFile, stat } from 'node:fs/promises';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, rootCertificates, type TLSSocket } from 'node:tls';
import type { ByteQueue } from '../protocol/byte-queue.js';
import {
  CONTROL_GREETING_REPLY,
  DATA_GREETING_REPLY,
  RESPONSE_OK,
  TOKEN_LENGTH,
} from '../protocol/constants.js';
import { encodeDataHandshake, encodeGreeting, encodeLogin } from '../protocol/encode.js';
import { ErrorCode, PsrtError, isPsrtError } from '../protocol/errors.js';
import type { Address, ResolvedOptions, ResolvedTls } from './options.js';
import { StreamReader } from './stream-reader.js';

export type ClientSocket = Socket | TLSSocket;

export interface OpenedSocket {
  readonly socket: ClientSocket;
  /** Bytes received after the handshake (data socket: messages may follow at once). */
  readonly surplus: ByteQueue;
}

export interface OpenedConnection {
  readonly control: OpenedSocket;
  readonly token: Buffer;
  readonly data: OpenedSocket | null;
}

/**
 * The shared handshake deadline. `step()` races a promise against it; on expiry every socket
 * opened so far is destroyed so nothing leaks.
 */
class Deadline {
  private readonly sockets: ClientSocket[] = [];
  private timer: NodeJS.Timeout | undefined;
  private rejectExpiry: ((e: Error) => void) | undefined;
  private readonly expiry: Promise<never>;
  /** Rejects with the signal's reason, as an aborted request (and fetch) does; not a timeout. */
  private readonly onAbort = (): void => {
    if (this.signal !== undefined) this.expire(abortReason(this.signal));
  };

  constructor(
    private readonly ms: number,
    private readonly what: string,
    private readonly signal: AbortSignal | undefined,
  ) {
    this.expiry = new Promise<never>((_, reject) => {
      this.rejectExpiry = reject;
    });
    this.expiry.catch(() => undefined); // observed through step()
    signal?.addEventListener('abort', this.onAbort, { once: true });
    if (signal?.aborted === true) this.onAbort();
  }

  start(): void {
    this.timer ??= setTimeout(() => {
      this.expire(new PsrtError(ErrorCode.Timeout, `timeout connecting to ${this.what}`));
    }, this.ms);
  }

  track(socket: ClientSocket): void {
    this.sockets.push(socket);
  }

  step<T>(p: Promise<T>): Promise<T> {
    return Promise.race([p, this.expiry]);
  }

  /** Handshake finished: stop the clock; sockets now belong to the caller. */
  done(): void {
    clearTimeout(this.timer);
    this.signal?.removeEventListener('abort', this.onAbort);
  }

  /** Handshake failed: stop the clock and destroy everything opened. */
  abandon(): void {
    this.done();
    for (const s of this.sockets) s.destroy();
  }

  private expire(err: Error): void {
    this.rejectExpiry?.(err);
    for (const s of this.sockets) s.destroy();
  }
}

/** Turns Node socket errors into messages a person understands. */
export function describeSocketError(err: unknown, address: Address): PsrtError {
  if (isPsrtError(err)) return err;
  const e = err as NodeJS.ErrnoException;
  const where = address.display;
  const known: Record<string, string> = {
    ECONNREFUSED: `connection refused by ${where} (is the server running?)`,
    ENOTFOUND: `unknown host in ${where}`,
    EAI_AGAIN: `cannot resolve host in ${where}`,
    EHOSTUNREACH: `host unreachable: ${where}`,
    ENETUNREACH: `network unreachable: ${where}`,
    ECONNRESET: `connection reset by ${where}`,
    EPIPE: `connection closed by ${where}`,
    ENOENT: `no such socket: ${where}`,
    EACCES: `permission denied: ${where}`,
  };
  const text = (e.code !== undefined ? known[e.code] : undefined) ?? `${where}: ${e.message}`;
  const code = e.code === 'ECONNRESET' || e.code === 'EPIPE' ? ErrorCode.Eof : ErrorCode.Io;
  return new PsrtError(code, text, { cause: err });
}

/** Polls every 100 ms for the socket file (the reference's socket_wait_timeout). */
async function waitForUnixSocket(path: string, waitMs: number, signal: AbortSignal | undefined): Promise<void> {
  const until = performance.now() + waitMs;
  for (;;) {
    // Aborted: the caller has been told already; polling on would keep the process alive.
    if (signal?.aborted === true) return;
    try {
      await stat(path);
      return;
    } catch {
      if (performance.now() >= until) {
        throw new PsrtError(
          ErrorCode.Io,
          `unix socket ${path} did not appear within ${waitMs / 1000}s`,
        );
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

function openStream(address: Address, deadline: Deadline): Promise<Socket> {
  const socket =
    address.kind === 'unix'
      ? netConnect({ path: address.path })
      : netConnect({ host: address.host, port: address.port, noDelay: true });
  deadline.track(socket);
  // Between owners (handshake reader → channel) nobody may be listening; an 'error' without a
  // listener would crash the process. Owners watch 'close', which always follows.
  socket.on('error', ignore);
  return deadline.step(
    new Promise<Socket>((resolve, reject) => {
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(socket);
      });
      socket.once('error', reject);
    }),
  );
}

async function caList(t: ResolvedTls): Promise<(string | Buffer)[] | undefined> {
  const extra: (string | Buffer)[] = [...(t.ca ?? [])];
  if (t.caFile !== undefined) {
    try {
      extra.push(await readFile(t.caFile));
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new PsrtError(ErrorCode.Io, `cannot read the TLS CA file: ${why}`, { cause: err });
    }
  }
  if (extra.length === 0) return undefined; // Node's default: the system roots
  return t.systemCa ? [...rootCertificates, ...extra] : extra;
}

/** STARTTLS: the greeting is already queued on `raw`; the ClientHello follows it at once. */
function startTls(
  raw: Socket,
  t: ResolvedTls,
  ca: (string | Buffer)[] | undefined,
  host: string,
  deadline: Deadline,
): Promise<TLSSocket> {
  const servername = t.servername ?? host;
  const socket = tlsConnect({
    socket: raw,
    host: servername,
    // SNI must not carry an IP address (RFC 6066); the certificate check still uses `host`.
    ...(isIP(servername) === 0 ? { servername } : {}),
    ...(ca !== undefined ? { ca } : {}),
    rejectUnauthorized: t.rejectUnauthorized,
  });
  deadline.track(socket);
  socket.on('error', ignore); // see openStream
  return deadline.step(
    new Promise<TLSSocket>((resolve, reject) => {
      const closedText = 'the server closed the connection during the TLS handshake (is TLS enabled there?)';
      const onError = (err: NodeJS.ErrnoException): void => {
        // A server without TLS closes right after the greeting (PROTOCOL.md §4.1).
        const text = err.code === 'ECONNRESET' ? closedText : err.message;
        reject(new PsrtError(ErrorCode.Io, `TLS handshake failed: ${text}`, { cause: err }));
      };
      // When that close arrives before our ClientHello is written, the TLS socket only closes,
      // without an error: without this the caller waited for the whole timeout.
      const onClose = (): void => {
        reject(new PsrtError(ErrorCode.Io, `TLS handshake failed: ${closedText}`));
      };
      socket.once('secureConnect', () => {
        socket.off('error', onError);
        socket.off('close', onClose);
        resolve(socket);
      });
      socket.once('error', onError);
      socket.once('close', onClose);
    }),
  );
}

/** Opens one socket and exchanges the greeting; returns the socket and its reader. */
async function greet(
  o: ResolvedOptions,
  kind: 'control' | 'data',
  deadline: Deadline,
): Promise<{ socket: ClientSocket; reader: StreamReader }> {
  const address = o.address;
  const tlsOptions = address.kind === 'tcp' ? o.tls : null;
  const tls = tlsOptions !== null;
  // Read the CA file before connecting: the ClientHello must follow the greeting at once.
  const ca = tlsOptions !== null ? await deadline.step(caList(tlsOptions)) : undefined;
  const raw = await openStream(address, deadline);
  raw.write(encodeGreeting(kind, tls));
  const socket =
    tlsOptions !== null && address.kind === 'tcp'
      ? await startTls(raw, tlsOptions, ca, address.host, deadline)
      : raw;
  const reader = new StreamReader(socket, o.address.display);
  const reply = await deadline.step(reader.read(4)).catch((err: unknown) => {
    if (!isPsrtError(err) || err.code !== ErrorCode.Eof) throw err;
    // A server closes silently on a greeting it refuses (PROTOCOL.md §4.1).
    const hint = tls ? 'is TLS configured there?' : 'does it require TLS?';
    throw new PsrtError(
      ErrorCode.Eof,
      `${o.address.display} closed the ${kind} connection after the greeting (${hint})`,
      { cause: err },
    );
  });
  const expected = kind === 'control' ? CONTROL_GREETING_REPLY : DATA_GREETING_REPLY;
  if (reply[0] !== expected[0] || reply[1] !== expected[1]) {
    throw new PsrtError(ErrorCode.ProtocolViolation, `Invalid ${kind} header from ${o.address.display}`);
  }
  if (reply[2] !== expected[2] || reply[3] !== expected[3]) {
    throw new PsrtError(ErrorCode.ProtocolViolation, 'Protocol version unsupported');
  }
  return { socket, reader };
}

async function login(o: ResolvedOptions, deadline: Deadline): Promise<OpenedSocket & { token: Buffer }> {
  const { socket, reader } = await greet(o, 'control', deadline);
  socket.write(encodeLogin(o.user, o.password));
  let token: Buffer;
  try {
    token = Buffer.from(await deadline.step(reader.read(TOKEN_LENGTH)));
  } catch (err) {
    // The server answers a bad login by closing without a word (PROTOCOL.md §5.1).
    if (isPsrtError(err) && err.code === ErrorCode.Timeout) throw err;
    const who = o.user === '' ? 'anonymous' : `user "${o.user}"`;
    throw new PsrtError(ErrorCode.LoginFailed, `Login failed (${who})`, { cause: err });
  }
  const surplus = reader.detach();
  // Replies before any request: not a PSRT server (and the channel must start clean).
  if (surplus.length > 0) {
    throw new PsrtError(ErrorCode.ProtocolViolation, `${o.address.display} sent bytes nobody asked for after the login token`);
  }
  return { socket, token, surplus };
}

async function openData(o: ResolvedOptions, token: Buffer, deadline: Deadline): Promise<OpenedSocket> {
  const { socket, reader } = await greet(o, 'data', deadline);
  socket.write(encodeDataHandshake(token, o.declaredTimeout));
  const status = await deadline.step(reader.read(1));
  if (status[0] !== RESPONSE_OK) {
    throw new PsrtError(ErrorCode.DataChannelDenied, 'Data stream authentication failed');
  }
  return { socket, surplus: reader.detach() };
}

/** Performs the whole handshake; on failure nothing stays open. */
export async function openConnection(o: ResolvedOptions, signal?: AbortSignal): Promise<OpenedConnection> {
  const deadline = new Deadline(o.timeoutMs, o.address.display, signal);
  try {
    if (o.address.kind === 'unix') await deadline.step(waitForUnixSocket(o.address.path, o.socketWaitMs, signal));
    deadline.start();
    const control = await login(o, deadline);
    const data = o.dataStream ? await openData(o, control.token, deadline) : null;
    deadline.done();
    return { control, token: control.token, data };
  } catch (err) {
    deadline.abandon();
    // Aborted: the caller's reason, whatever the pending step failed with meanwhile.
    if (signal?.aborted === true) throw abortReason(signal);
    throw describeSocketError(err, o.address);
  }
}

function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new Error('connect aborted');
}

function ignore(): void {
  // errors are reported through the owner's listeners and the 'close' event
}
