/**
 * MQTT over WebSocket (`mqtt.ws_bind`, `mqtt.wss_bind`): an HTTP(S) server whose upgrade
 * requests on `mqtt.ws_path` with subprotocol `mqtt` (or `mqttv3.1`) become WebSockets (the
 * `ws` package does the framing), each wrapped as an MqttTransport for an MqttConnection.
 * Everything MQTT (auth, ACL, limits, stats, slow-consumer policy) is the connection's, exactly
 * as over TCP; this file only checks the upgrade and moves bytes and flow-control events.
 *
 * Binary messages are a byte stream to the MQTT decoder: one packet may span several
 * WebSocket messages and one message may hold several packets.
 */
import { rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { TLSSocket } from 'node:tls';
import { WebSocketServer, type WebSocket } from 'ws';
import { MqttConnection, type MqttTransport } from '../mqtt/connection.js';
import { MqttError, ReasonCode } from '../protocol/mqtt/index.js';
import type { CertificateUser, MqttContext } from '../mqtt/context.js';
import type { BindTarget } from './bind.js';
import { escapeForLog } from '../protocol/log-escape.js';
import { formatAddress } from './context.js';
import { forwardedClientIp } from './forwarded-for.js';
import { bindListener, certificateLoginOf, logTlsFailure, startTls, type BoundMqtt, type MqttTls } from './mqtt-server.js';
import type { ConnectionGate } from './connection-gate.js';

export interface MqttWsOptions {
  /** URL path of the endpoint (`mqtt.ws_path`), exact match, query ignored. */
  readonly path: string;
  /** Allowed `Origin` values (`mqtt.ws_origins`); empty: any. Requests without Origin pass. */
  readonly origins: readonly string[];
  /** permessage-deflate (`mqtt.ws_deflate`); off by default: it costs CPU and memory per socket. */
  readonly deflate: boolean;
  /** Largest WebSocket message (one may hold several packets): `server.data_queue_bytes`, at least `mqtt.max_packet_size`. */
  readonly maxPayload: number;
  /**
   * Bytes a connection may send before its CONNECT is decoded (`mqtt.max_connect_size`), plus
   * FRAMING_ALLOWANCE: `ws` buffers a whole message before the MQTT decoder sees its first
   * byte, so the decoder's own CONNECT limit would only apply after maxPayload bytes.
   */
  readonly maxConnectBytes: number;
  /** Reverse proxies whose `X-Forwarded-For` names the client (`mqtt.ws_trusted_proxies`, normalised IPs). */
  readonly trustedProxies?: readonly string[];
}

/** WebSocket frame headers and control frames around a CONNECT (a legitimate one is one frame). */
const FRAMING_ALLOWANCE = 4096;

/** Above this many bytes queued in the socket, write() reports back-pressure (net's default). */
const HIGH_WATER = 16 * 1024;
/** WebSocket close code 1003: unsupported data (MQTT allows binary frames only). */
const CLOSE_UNSUPPORTED = 1003;
/** WebSocket subprotocols, preferred first: `mqtt` (3.1.1 and 5.0), `mqttv3.1` (MQTT 3.1 clients). */
const SUBPROTOCOLS = ['mqtt', 'mqttv3.1'] as const;

/**
 * Adapts a WebSocket to MqttTransport. Back-pressure without the private socket: every batch
 * is one `ws.send` whose callback runs once its bytes reach the kernel, in send order. When a
 * send leaves more than HIGH_WATER bytes buffered, write() returns false and the callback of
 * the LAST outstanding send (all earlier bytes are then written too) plays the socket's
 * 'drain': it calls conn.onWritable(). No polling, one counter per connection.
 */
export class WebSocketTransport implements MqttTransport {
  onWritable: () => void = () => undefined;
  private pending = 0;
  private needDrain = false;

  constructor(
    private readonly ws: WebSocket,
    readonly address: string,
    /** The peer's IP address (login budget per address). */
    readonly ip?: string | undefined,
  ) {}

  write(frames: readonly Buffer[], written?: () => void): boolean {
    if (this.ws.readyState !== this.ws.OPEN) {
      written?.();
      return true;
    }
    const data = frames.length === 1 ? (frames[0] as Buffer) : Buffer.concat(frames);
    this.pending++;
    // Compressed when the client negotiated permessage-deflate (mqtt.ws_deflate), as ws does by default.
    this.ws.send(data, { binary: true }, () => {
      this.pending--;
      written?.();
      if (this.pending === 0 && this.needDrain) {
        this.needDrain = false;
        this.onWritable();
      }
    });
    if (this.ws.bufferedAmount > HIGH_WATER) this.needDrain = true;
    return !this.needDrain;
  }

  destroy(): void {
    this.ws.terminate();
  }

  /**
   * Close handshake after what is queued; a peer that never answers is cut after 5 s (ws's own
   * close timeout is 30 s, all that time holding the MQTT session and delaying its will).
   */
  end(code = 1000, reason?: string): void {
    this.ws.close(code, reason);
    const killer = setTimeout(() => {
      this.ws.terminate();
    }, 5000);
    killer.unref();
    this.ws.once('close', () => {
      clearTimeout(killer);
    });
  }

  pauseReading(): void {
    this.ws.pause();
  }

  resumeReading(): void {
    this.ws.resume();
  }
}

/**
 * The close code `ws` sent when it ended a connection for `e` (1002 protocol error, 1007 bad
 * UTF-8, 1008 too many fragments, 1009 too big): ws keeps it on the error under a symbol it
 * does not export. Undefined when it is not there (a socket error: nothing was sent).
 */
function wsCloseCode(e: Error): number | undefined {
  for (const sym of Object.getOwnPropertySymbols(e)) {
    if (sym.description !== 'status-code') continue;
    const code: unknown = (e as unknown as Record<symbol, unknown>)[sym];
    return typeof code === 'number' ? code : undefined;
  }
  return undefined;
}

/** Ends an upgrade request that is refused before the handshake. */
function refuseUpgrade(socket: Duplex, status: string): void {
  // Destroyed once the answer is flushed: a peer that never closes its side holds nothing.
  socket.once('finish', () => {
    socket.destroy();
  });
  socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

function requestPath(url: string | undefined): string {
  const u = url ?? '/';
  const q = u.indexOf('?');
  return q < 0 ? u : u.slice(0, q);
}

function offersMqtt(header: string | undefined): boolean {
  if (header === undefined) return false;
  return header.split(',').some((p) => (SUBPROTOCOLS as readonly string[]).includes(p.trim()));
}

/** The subprotocol to answer: the offered one (`mqtt` when both are). Any version may follow either. */
function chooseSubprotocol(offered: Set<string>): string | false {
  return SUBPROTOCOLS.find((p) => offered.has(p)) ?? false;
}

export class MqttWsServer {
  /** Listening sockets (the HTTP server itself, or the TLS front of a wss listener). */
  private readonly servers: NetServer[] = [];
  private readonly httpServers: Server[] = [];
  private readonly unixPaths: string[] = [];
  private readonly sockets = new Set<WebSocket>();
  /**
   * The certificate login of each wss socket, taken when its first handshake was verified, not
   * when the upgrade arrives (a peer certificate read later could differ; renegotiation is
   * refused anyway, see tls.ts).
   */
  private readonly certificateLogins = new WeakMap<TLSSocket, CertificateUser | null>();
  private readonly wss: WebSocketServer;
  private readonly origins: ReadonlySet<string>;
  private readonly trustedProxies: ReadonlySet<string>;

  constructor(
    private readonly ctx: MqttContext,
    private readonly opts: MqttWsOptions,
    /** Shared by every listener: server.max_connections and the descriptor budget. */
    private readonly gate: ConnectionGate,
    private readonly tls: MqttTls | null,
  ) {
    this.origins = new Set(opts.origins.map((o) => o.toLowerCase()));
    this.trustedProxies = new Set(opts.trustedProxies ?? []);
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: opts.maxPayload,
      perMessageDeflate: opts.deflate,
      clientTracking: false,
      handleProtocols: chooseSubprotocol,
    });
  }

  async bind(plain: readonly BindTarget[], secure: readonly BindTarget[]): Promise<BoundMqtt[]> {
    const bound: BoundMqtt[] = [];
    for (const t of plain) bound.push(await this.bindOne(t, false));
    for (const t of secure) bound.push(await this.bindOne(t, true));
    return bound;
  }

  async close(): Promise<void> {
    for (const ws of this.sockets) ws.terminate();
    const closed = this.servers.map((srv) => new Promise<void>((resolve) => { srv.close(() => { resolve(); }); }));
    for (const http of this.httpServers) {
      http.closeAllConnections();
      // Stops the deadline checks of a wss HTTP server (it has no socket of its own to close).
      if (!http.listening) http.close();
    }
    await Promise.all(closed);
    this.wss.close();
    this.removeUnixFiles();
  }

  removeUnixFiles(): void {
    for (const p of this.unixPaths) rmSync(p, { force: true });
  }

  /**
   * The HTTP server answering upgrades. For `wss_bind` it listens on nothing itself: a plain TCP
   * server wraps each socket in TLS (startTls) and hands it over as a connection.
   */
  private createHttp(): Server {
    // Slowloris: the whole upgrade request must arrive within the CONNECT timeout, checked
    // every second (Node's default check interval is 30 s); after the upgrade the MQTT
    // connection's own CONNECT timer takes over.
    const timeouts = {
      headersTimeout: this.ctx.connectTimeoutMs,
      requestTimeout: this.ctx.connectTimeoutMs,
      connectionsCheckingInterval: 1000,
      keepAliveTimeout: 1000,
    };
    return createServer(timeouts, (_req: IncomingMessage, res: ServerResponse) => {
      res.writeHead(426, { upgrade: 'websocket', connection: 'close', 'content-type': 'text/plain' });
      res.end('MQTT over WebSocket: upgrade required\n');
    });
  }

  private tlsFront(http: Server): NetServer {
    const tlsConfig = this.tls;
    if (tlsConfig === null) throw new RangeError('mqtt.wss_bind needs a TLS identity (mqtt.tls_* or proto.tls_*)');
    return createNetServer((raw) => {
      if (!this.gate.admit(raw, 'MQTT WebSocket')) return;
      // Read now: a socket the handshake failed on may no longer know its peer.
      const address = formatAddress(raw.remoteAddress, raw.remotePort);
      startTls(raw, tlsConfig.identity, this.ctx.connectTimeoutMs, (secure) => {
        this.certificateLogins.set(secure, certificateLoginOf(tlsConfig, secure));
        http.emit('connection', secure);
      }, (why) => {
        logTlsFailure(this.ctx, 'WebSocket client', address, why);
      });
    });
  }

  private async bindOne(target: BindTarget, tls: boolean): Promise<BoundMqtt> {
    const http = this.createHttp();
    this.httpServers.push(http);
    const server: NetServer = tls ? this.tlsFront(http) : http;
    if (tls) {
      // Node starts the header/request deadline checks of an HTTP server when it emits
      // 'listening'; this one never listens itself (the TLS front does), so without this a
      // client could hold a wss connection open for ever by never finishing its upgrade request.
      server.once('listening', () => http.emit('listening'));
    } else {
      // Ahead of the HTTP server's own listener: a refused socket is destroyed before any
      // request parsing starts (that listener then only sees a closed socket).
      http.prependListener('connection', (socket: Socket) => {
        this.gate.admit(socket, 'MQTT WebSocket');
      });
    }
    http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      this.onUpgrade(req, socket, head, target);
    });
    http.on('clientError', (_e, socket: Duplex) => {
      socket.destroy();
    });
    this.servers.push(server);
    return bindListener(server, target, tls, tls ? 'MQTT WebSocket TLS' : 'MQTT WebSocket', this.ctx.log, this.unixPaths, {
      gate: this.gate,
      kind: 'MQTT WebSocket',
    });
  }

  /** Path, subprotocol and Origin are checked before `ws` answers the handshake. */
  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, target: BindTarget): void {
    socket.on('error', () => {
      /* a reset during the handshake only ends that socket */
    });
    if (requestPath(req.url) !== this.opts.path) {
      refuseUpgrade(socket, '404 Not Found');
      return;
    }
    if (!offersMqtt(req.headers['sec-websocket-protocol'])) {
      refuseUpgrade(socket, '400 Bad Request');
      return;
    }
    const origin = req.headers.origin;
    if (origin !== undefined && this.origins.size > 0 && !this.origins.has(origin.toLowerCase())) {
      this.ctx.log.warn(`mqtt: WebSocket from ${formatAddress(req.socket.remoteAddress, req.socket.remotePort)} refused: origin ${escapeForLog(origin)} not in mqtt.ws_origins`);
      refuseUpgrade(socket, '403 Forbidden');
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      this.accept(ws, req, target);
    });
  }

  private certificateLoginOf(socket: TLSSocket): CertificateUser | null {
    const login = this.certificateLogins.get(socket);
    if (login !== undefined) return login;
    return this.tls?.identityAsUsername === true ? { user: null, why: 'no verified client certificate' } : null;
  }

  private logForcedClose(address: string, e: Error & { code?: unknown }): void {
    if (!this.ctx.broker.logLimiter.line('mqtt: WebSocket client error').admit()) return;
    const code = wsCloseCode(e);
    const why = `${escapeForLog(e.message)}${typeof e.code === 'string' ? ` (${escapeForLog(e.code)})` : ''}`;
    this.ctx.log.error(`mqtt: WebSocket client ${address} error: ${why}, closed${code === undefined ? '' : ` with code ${code}`}`);
  }

  private accept(ws: WebSocket, req: IncomingMessage, target: BindTarget): void {
    this.sockets.add(ws);
    const peer = target.kind === 'unix' ? target.source : formatAddress(req.socket.remoteAddress, req.socket.remotePort);
    // Behind a trusted proxy the client's address is the one its proxy reports: in the log, in
    // /clients, and for the login budget (else all of the proxy's clients share one).
    const forwarded = forwardedClientIp(req.socket.remoteAddress, req.headers['x-forwarded-for'], this.trustedProxies);
    const address = forwarded === undefined ? peer : `${forwarded.includes(':') ? `[${forwarded}]` : forwarded} via ${peer}`;
    const transport = new WebSocketTransport(ws, address, forwarded ?? req.socket.remoteAddress);
    // A wss upgrade arrives on the TLSSocket the TLS front handed over and verified. One it did
    // not (cannot happen) gets no login by certificate rather than a password path around it.
    const certificate = req.socket instanceof TLSSocket ? this.certificateLoginOf(req.socket) : null;
    const conn = new MqttConnection(this.ctx, transport, address, certificate);
    transport.onWritable = () => {
      conn.onWritable();
    };
    limitBeforeConnect(req.socket, conn, this.opts.maxConnectBytes + FRAMING_ALLOWANCE);
    let refused = false;
    ws.on('message', (data, isBinary) => {
      if (refused) return;
      // MQTT over WebSocket is binary only: a text frame closes the connection.
      if (!isBinary) {
        refused = true;
        transport.end(CLOSE_UNSUPPORTED, 'MQTT needs binary frames');
        return;
      }
      // binaryType is 'nodebuffer' (the default): every message is one Buffer.
      conn.onData(data as Buffer);
    });
    ws.on('error', (e: Error) => {
      // `ws` closes the connection itself (oversize message, too many fragments, a frame that
      // breaks RFC 6455); 'close' follows. Without this line such closes left no trace.
      this.logForcedClose(address, e);
    });
    ws.once('close', () => {
      this.sockets.delete(ws);
      conn.closed();
    });
  }
}

/**
 * Counts the bytes read from `socket` (decrypted for wss) until `conn` has decoded its CONNECT,
 * and ends the connection when they pass `limit`: an unauthenticated peer cannot make `ws`
 * buffer a message of up to max_packet_size. The listener goes at the first read after CONNECT.
 */
function limitBeforeConnect(socket: Socket, conn: MqttConnection, limit: number): void {
  let received = 0;
  const count = (chunk: Buffer): void => {
    if (!conn.awaitingConnect) {
      socket.off('data', count);
      return;
    }
    received += chunk.length;
    if (received <= limit) return;
    socket.off('data', count);
    conn.fail(new MqttError(ReasonCode.PacketTooLarge, `more than ${limit} bytes before CONNECT`), false);
  };
  socket.on('data', count);
}
