/**
 * First stage of every accepted stream socket: the 3-byte greeting (PROTOCOL.md §4.1), the mode
 * policy (plain/TLS, unix ignores the mode), the STARTTLS upgrade and the 4-byte reply. Then
 * the socket is handed to the control or data stage with any surplus bytes.
 */
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { Deadline, Expiring } from '../broker/index.js';
import { ByteQueue } from '../protocol/byte-queue.js';
import { CONTROL_GREETING_REPLY, DATA_GREETING_REPLY, MODE_TLS } from '../protocol/constants.js';
import { ErrorCode, PsrtError } from '../protocol/errors.js';
import { isValidTcpMode, readGreeting, type SocketKind } from '../protocol/handshake.js';
import { ControlConnection } from './control-connection.js';
import { DataConnection } from './data-connection.js';
import { ignoreErrorsOf, logClientError, type StreamContext } from './context.js';
import { routeSocketEvents, unrouteSocketEvents, type SocketOwner } from './socket-events.js';
import { tlsErrorText } from './tls.js';

export interface AcceptedStream {
  readonly socket: Socket;
  readonly address: string;
  readonly unix: boolean;
}

/**
 * The acceptor has set TCP_NODELAY (the server's noDelay option) and has a 'close' listener of
 * its own that calls socketClosed() (socket-events.ts).
 */
export function acceptStream(ctx: StreamContext, accepted: AcceptedStream): void {
  new GreetingStage(ctx, accepted).start();
}

/**
 * Reads the greeting, then hands the socket on and lets go of it: the socket's events go to
 * the next owner, so nothing of this stage stays in memory for the life of the connection.
 */
class GreetingStage implements Expiring, SocketOwner {
  private readonly queue = new ByteQueue();
  private readonly deadline: Deadline;

  constructor(
    private readonly ctx: StreamContext,
    private readonly accepted: AcceptedStream,
  ) {
    this.deadline = ctx.broker.wheel.deadline(this);
  }

  start(): void {
    const socket = this.accepted.socket;
    this.deadline.arm(this.ctx.timeoutMs);
    // Errors of half-set-up sockets are not worth a log line; 'close' follows.
    ignoreErrorsOf(socket);
    routeSocketEvents(socket, this, false);
  }

  onSocketData(chunk: Buffer): void {
    this.received(chunk);
  }

  onSocketDrain(): void {
    /* nothing written yet */
  }

  onSocketClose(): void {
    this.deadline.disarm();
  }

  onExpired(): void {
    this.fail(new PsrtError(ErrorCode.Timeout, 'greeting timed out'));
  }

  private received(chunk: Buffer): void {
    const { ctx, accepted, queue } = this;
    queue.push(chunk);
    try {
      const greeting = readGreeting(queue);
      if (greeting === null) return;
      this.deadline.disarm();
      checkMode(ctx, accepted.unix, greeting.mode);
      const tls = !accepted.unix && greeting.mode === MODE_TLS;
      if (ctx.log.enabled('info')) ctx.log.info(`${accepted.address} using ${tls ? 'TLS' : 'insecure'} connection`);
      if (tls) startTls(ctx, accepted, greeting.kind, queue.drain());
      else startStage(ctx, accepted.socket, accepted.address, greeting.kind, queue.drain(), accepted.unix);
    } catch (e) {
      this.fail(e);
    }
  }

  private fail(e: unknown): void {
    this.deadline.disarm();
    logClientError(this.ctx, this.accepted.address, e);
    this.accepted.socket.destroy();
  }
}

function checkMode(ctx: StreamContext, unix: boolean, mode: number): void {
  if (unix) return;
  if (!isValidTcpMode(mode)) {
    throw new PsrtError(ErrorCode.BadGreetingMode, `Invalid communication mode: ${mode}`);
  }
  if (mode !== MODE_TLS && !ctx.allowNoTls) {
    throw new PsrtError(ErrorCode.TlsRequired, 'Communication without TLS is forbidden');
  }
  if (mode === MODE_TLS && ctx.tls === null) {
    throw new PsrtError(ErrorCode.TlsNotConfigured, 'TLS is not configured');
  }
}

/**
 * STARTTLS: the TLS handshake starts right after the 3 plain bytes. Bytes that arrived with the
 * greeting (usually the whole ClientHello) are unshifted into the paused raw socket; TLSSocket
 * drains the raw socket's readable buffer into the TLS engine when it takes the handle over
 * (covered by test/e2e/tls.test.ts, which sends greeting + ClientHello in one write).
 * Unlike the reference, the handshake gets a deadline of T (SERVER.md §18 item 11).
 */
function startTls(ctx: StreamContext, accepted: AcceptedStream, kind: SocketKind, surplus: Buffer): void {
  const raw = accepted.socket;
  unrouteSocketEvents(raw); // the TLS layer reads it from now on
  raw.pause();
  if (surplus.length > 0) raw.unshift(surplus);
  const secure = new TLSSocket(raw, { isServer: true, secureContext: ctx.tls?.context });
  let settled = false;
  const abort = (e: PsrtError): void => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    logClientError(ctx, accepted.address, e);
    secure.destroy();
    raw.destroy();
  };
  const timer = setTimeout(() => {
    abort(new PsrtError(ErrorCode.Timeout, 'TLS handshake timed out'));
  }, ctx.timeoutMs);
  const onHandshakeError = (e: Error): void => {
    abort(new PsrtError(ErrorCode.Io, `TLS handshake failed: ${tlsErrorText(e.message)}`));
  };
  secure.on('error', onHandshakeError);
  const onClose = (): void => {
    // A client that rejects our certificate may just close (Node does; OpenSSL sends an alert).
    abort(new PsrtError(ErrorCode.Io, 'TLS handshake failed: connection closed by the peer'));
    raw.destroy();
  };
  secure.once('secure', () => {
    // TLS 1.3 may report 'secure' after the peer already hung up (it rejected our certificate).
    if (settled || secure.destroyed) return;
    settled = true;
    clearTimeout(timer);
    // From here the connection stage owns error handling (I/O errors end sessions silently);
    // no handshake error (with its stack trace) is built when the session ends.
    secure.off('error', onHandshakeError);
    secure.off('close', onClose);
    secure.once('close', () => raw.destroy());
    startStage(ctx, secure, accepted.address, kind, EMPTY, false);
  });
  secure.once('close', onClose);
}

const EMPTY = Buffer.alloc(0);

function startStage(
  ctx: StreamContext,
  socket: Socket,
  address: string,
  kind: SocketKind,
  surplus: Buffer,
  unix: boolean,
): void {
  socket.write(kind === 'control' ? CONTROL_GREETING_REPLY : DATA_GREETING_REPLY);
  if (kind === 'control') new ControlConnection(ctx, socket, address, unix).start(surplus);
  else new DataConnection(ctx, socket, address).start(surplus);
}
