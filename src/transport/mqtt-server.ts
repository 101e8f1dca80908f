/**
 * MQTT listeners: plain TCP and unix sockets (`mqtt.bind`) and TLS from the first byte
 * (`mqtt.bind_tls`). Each accepted socket becomes an MqttConnection; this file only moves bytes
 * and flow-control events between the two.
 */
import { chmodSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { TLSSocket, type SecureContext } from 'node:tls';
import { MqttConnection, type MqttTransport } from '../mqtt/connection.js';
import type { CertificateUser, MqttContext } from '../mqtt/context.js';
import type { BrokerLogger } from '../broker/ports.js';
import { escapeForLog } from '../protocol/log-escape.js';
import { listenOn, type BindTarget } from './bind.js';
import { tlsErrorText, type TlsIdentity } from './tls.js';
import { certificateUser, clientCertificateRefusal } from './client-certs.js';
import { flatAddress, formatAddress, ignoreSocketError, ipOfAddress } from './context.js';
import { routeSocketEvents, type SocketOwner } from './socket-events.js';
import { writeFrames } from './write-frames.js';
import type { ConnectionGate, ListenerKind } from './connection-gate.js';

/** The identity of the MQTT TLS listeners and what a client certificate means for the login. */
export interface MqttTls {
  readonly identity: TlsIdentity;
  /** `mqtt.use_identity_as_username`: the certificate's CN is the user, no password. */
  readonly identityAsUsername: boolean;
}

/** The certificate login of a connection on `tls` (null: username and password, as over TCP). */
export function certificateLoginOf(tls: MqttTls, socket: TLSSocket): CertificateUser | null {
  return tls.identityAsUsername ? certificateUser(socket) : null;
}

export interface BoundMqtt {
  readonly target: BindTarget;
  readonly tls: boolean;
  readonly address: string;
  readonly port: number | null;
}

/** What the sockets of one listener share (one object, not a field each per connection). */
interface Listener {
  /** The server's open sockets (each leaves it when it closes). */
  readonly sockets: Set<Socket>;
  /** Released when a socket closes (plain TCP and unix: admitted without a listener of its own). */
  readonly gate: ConnectionGate | null;
  readonly unix: boolean;
  readonly source: string;
}

/** An MQTT connection over a Node socket, being its own transport (one object, not two). */
class SocketConnection extends MqttConnection implements MqttTransport, SocketOwner {
  constructor(
    ctx: MqttContext,
    private readonly socket: Socket,
    address: string,
    private readonly listener: Listener,
    certificate: CertificateUser | null,
  ) {
    super(ctx, null, address, certificate);
  }

  onSocketData(chunk: Buffer): void {
    this.onData(chunk);
  }

  onSocketDrain(): void {
    this.onWritable();
  }

  onSocketClose(): void {
    this.listener.sockets.delete(this.socket);
    this.listener.gate?.released();
    this.closed();
  }

  /** The peer's IP (login budget), from the address: Node's cached copy is let go (see accept). */
  get ip(): string | undefined {
    return this.listener.unix ? undefined : ipOfAddress(this.address);
  }

  write(frames: readonly Buffer[], written?: () => void): boolean {
    if (this.socket.destroyed) {
      written?.();
      return true;
    }
    return writeFrames(this.socket, frames, written);
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** Half-close after what is queued; a peer that never reads is cut after 5 s. */
  end(): void {
    const socket = this.socket;
    socket.end();
    const killer = setTimeout(() => {
      socket.destroy();
    }, 5000);
    killer.unref();
    socket.on('close', () => {
      clearTimeout(killer);
    });
  }

  pauseReading(): void {
    this.socket.pause();
  }

  resumeReading(): void {
    this.socket.resume();
  }
}

export class MqttServer {
  private readonly servers: Server[] = [];
  private readonly unixPaths: string[] = [];
  readonly connections = new Set<MqttConnection>();
  private readonly sockets = new Set<Socket>();

  constructor(
    private readonly ctx: MqttContext,
    /** Shared by every listener: server.max_connections and the descriptor budget. */
    private readonly gate: ConnectionGate,
    private readonly tls: MqttTls | null,
  ) {}

  async bind(plain: readonly BindTarget[], secure: readonly BindTarget[]): Promise<BoundMqtt[]> {
    const bound: BoundMqtt[] = [];
    for (const t of plain) bound.push(await this.bindOne(t, false));
    for (const t of secure) bound.push(await this.bindOne(t, true));
    return bound;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await Promise.all(this.servers.map((srv) => new Promise<void>((resolve) => srv.close(() => { resolve(); }))));
    this.removeUnixFiles();
  }

  removeUnixFiles(): void {
    for (const p of this.unixPaths) rmSync(p, { force: true });
  }

  private async bindOne(target: BindTarget, tls: boolean): Promise<BoundMqtt> {
    const unix = target.kind === 'unix';
    let server: Server;
    if (tls) {
      const tlsConfig = this.tls;
      if (tlsConfig === null) throw new RangeError('mqtt.bind_tls needs a TLS identity (mqtt.tls_* or proto.tls_*)');
      const listener: Listener = { sockets: this.sockets, gate: null, unix, source: target.source };
      server = createServer({ noDelay: !unix }, (raw) => {
        if (!this.gate.admit(raw, 'MQTT')) return;
        // Read now: a socket the handshake failed on may no longer know its peer.
        const address = unix ? target.source : flatAddress(raw);
        startTls(raw, tlsConfig.identity, this.ctx.connectTimeoutMs, (s) => {
          this.accept(s, listener, certificateLoginOf(tlsConfig, s));
        }, (why) => {
          logTlsFailure(this.ctx, 'client', address, why);
        });
      });
    } else {
      const listener: Listener = { sockets: this.sockets, gate: this.gate, unix, source: target.source };
      server = createServer({ noDelay: !unix }, (s) => {
        if (this.gate.admit(s, 'MQTT', false)) this.accept(s, listener);
      });
    }
    this.servers.push(server);
    return bindListener(server, target, tls, tls ? 'MQTT TLS' : 'MQTT', this.ctx.log, this.unixPaths, { gate: this.gate, kind: 'MQTT' });
  }

  private accept(socket: Socket, listener: Listener, certificate: CertificateUser | null = null): void {
    // (TCP_NODELAY is set by the server's noDelay option: no second call per socket.)
    this.sockets.add(socket);
    const address = listener.unix ? listener.source : flatAddress(socket);
    const conn = new SocketConnection(this.ctx, socket, address, listener, certificate);
    socket.on('error', ignoreSocketError); // 'close' follows
    routeSocketEvents(socket, conn);
  }
}

/**
 * Server side of TLS from the first byte with the identity's current SecureContext. tls.Server
 * would build its own context from key/cert options and ignores `secureContext`, so the raw
 * socket is wrapped here (as STARTTLS does); a handshake not finished in `timeoutMs` is cut.
 * `onFail` hears why a handshake failed or timed out (not a peer that just closes: health checks
 * do). An identity with client certificates requests one: a client sending none fails the
 * handshake, one whose certificate does not verify is cut right after it (see client-certs.ts).
 * The identity's contexts refuse renegotiation (see tls.ts): only the first handshake is verified.
 */
export function startTls(
  raw: Socket,
  identity: TlsIdentity,
  timeoutMs: number,
  onSecure: (s: TLSSocket) => void,
  onFail: (why: string) => void,
): void {
  const requestCert = identity.requiresClientCertificate;
  const secureContext: SecureContext = identity.context;
  const clientCas = identity.clientCas; // taken with the context: a SIGHUP may swap both
  const secure = new TLSSocket(raw, { isServer: true, secureContext, requestCert, rejectUnauthorized: requestCert });
  let handshaking = true;
  const timer = setTimeout(() => {
    handshaking = false;
    onFail('TLS handshake timed out');
    secure.destroy();
  }, timeoutMs);
  secure.once('secure', () => {
    handshaking = false;
    clearTimeout(timer);
    const refused = requestCert ? clientCertificateRefusal(secure, clientCas) : null;
    if (refused === null) {
      onSecure(secure);
      return;
    }
    onFail(refused);
    secure.destroy();
  });
  secure.on('error', (e: Error) => {
    if (handshaking) onFail(`TLS handshake failed: ${tlsErrorText(e.message)}`);
    handshaking = false;
    // a failed handshake (or a later reset) only ends that socket; 'close' follows
    secure.destroy();
  });
  secure.once('close', () => {
    clearTimeout(timer);
  });
}


/**
 * `mqtt: client <addr> error: TLS handshake failed: …` (or `timed out`), rate-limited like the
 * other MQTT client errors: a scanner or a plain client repeating it must not flood the log.
 */
export function logTlsFailure(ctx: MqttContext, kind: 'client' | 'WebSocket client', address: string, why: string): void {
  if (!ctx.broker.logLimiter.line(`mqtt: ${kind} TLS error`).admit()) return;
  ctx.log.error(`mqtt: ${kind} ${address} error: ${escapeForLog(why)}`);
}

/**
 * Listens on `target` (a unix socket file is replaced, then set to 0770 and remembered in
 * `unixPaths` for removal) and logs `listening for <kind> on <address>` with the real port.
 */
export async function bindListener(
  server: Server,
  target: BindTarget,
  tls: boolean,
  kind: string,
  log: BrokerLogger,
  unixPaths: string[],
  watch: { readonly gate: ConnectionGate; readonly kind: ListenerKind },
): Promise<BoundMqtt> {
  if (target.kind === 'unix') rmSync(target.path, { force: true });
  await listenOn(server, target);
  watch.gate.watch(server, watch.kind);
  if (target.kind === 'unix') {
    chmodSync(target.path, 0o770);
    unixPaths.push(target.path);
    log.info(`listening for ${kind} on ${target.path}`);
    return { target, tls, address: target.path, port: null };
  }
  const info = server.address();
  const port = typeof info === 'object' && info !== null ? info.port : target.port;
  const address = formatAddress(typeof info === 'object' && info !== null ? info.address : target.host, port);
  log.info(`listening for ${kind} on ${address}`);
  return { target, tls, address, port };
}

