/**
 * One MQTT network connection: CONNECT and authentication, then the packet loop, keep alive
 * and the end of the connection. Socket-free: bytes come in through onData(); what goes out is
 * the base class's (connection-output.ts), through a DataChannel whose port is the transport.
 */
import { sinceMs, stampNow, wrapMs, type DataChannel, type DeadlineWheel, type PublisherPort } from '../broker/index.js';
import { MqttDecoder, MqttError, ReasonCode, encodeDisconnect, type ConnectPacket, type MqttPacket } from '../protocol/mqtt/index.js';
import { escapeForLog } from '../protocol/log-escape.js';
import { acceptance, decideConnect, loginRefusal, refusal, type AcceptedConnect } from './connect.js';
import { MqttOutput, NO_STAMP, type MqttTransport } from './connection-output.js';
import type { AuthResult } from '../auth/auth-store.js';
import type { CertificateUser, MqttContext } from './context.js';
import type { InboundState, PacketHandler } from './packet-handler.js';
import { peerLimits, sharedOf } from './peer-limits.js';
import { resumeRetained } from './retained-pacer.js';
import type { MqttLink, MqttSession } from './session.js';

export type { MqttTransport } from './connection-output.js';

type State = 'connect' | 'authenticating' | 'ready' | 'closed';

/** connectedSince is kept relative to this (a small integer, not a boxed number, per connection). */
const BASE_MS = Date.now();

/**
 * A CONNECT with a user name and no password: refused as Mosquitto refuses it, whatever the
 * password file holds (a hash of the empty password included). No hash is computed, for any
 * user, so the answer time tells nothing about who exists.
 */
function withoutPassword(login: string): AuthResult {
  return { ok: false, code: 'LoginFailed', message: `login failed for ${escapeForLog(login)} (no password)` };
}

/**
 * A WheelNode itself: the CONNECT deadline, then the keep-alive one, on the broker's shared
 * wheel without a Deadline object per connection.
 */
export class MqttConnection extends MqttOutput implements MqttLink, PublisherPort {
  blockedOn = 0;
  /** Receive time of the current read, shared by its publishes (one clock call per read). */
  readStamp = NO_STAMP;
  inbound: InboundState | null = null;
  private state: State = 'connect';
  /** Made for a read, dropped once nothing is buffered (an idle connection has none). */
  private decoder: MqttDecoder | null = null;
  private keepAliveMs = 0;
  /** wrapMs() of the last read (a small integer: a double field would box a number). */
  private lastReadMs = wrapMs();
  private reading = true;
  /** A deferred resume() is pending (see resume). */
  private resumeQueued = false;
  private connectedSince = 0;
  /** DISCONNECT 0x00 received: no will. */
  private normalEnd = false;
  expiryZeroAtConnect = true;
  /** The client speaks MQTT 3.1 ("MQIsdp"): version 4 but for CONNECT, CONNACK and SUBACK. */
  mqtt31 = false;

  /**
   * `transport` null: the connection is its own transport, a subclass implementing MqttTransport
   * (src/transport/mqtt-server.ts: one object per TCP connection instead of two).
   */
  constructor(
    ctx: MqttContext,
    transport: MqttTransport | null,
    address: string,
    /** Set on a TLS listener with mqtt.use_identity_as_username: the login is the certificate's. */
    private readonly certificate: CertificateUser | null = null,
  ) {
    super(ctx, transport, address);
    this.wheel.arm(this, ctx.connectTimeoutMs);
  }

  private get wheel(): DeadlineWheel {
    return this.ctx.broker.wheel;
  }

  /** For the stats client list: who, since when, what it has subscribed and queued. */
  describe(): { clientId: string; user: string; subscriptions: number; queue: number | null; connectedSince: number } | null {
    const session = this.session;
    if (session === null || this.state !== 'ready') return null;
    const queue = (this.channel?.pending ?? 0) + session.queuedCount;
    return { clientId: session.clientId, user: session.user === '_' ? 'anonymous' : session.user, subscriptions: session.subscriptions.size, queue, connectedSince: BASE_MS + this.connectedSince };
  }

  // ---- input ------------------------------------------------------------------------------

  onData(chunk: Buffer): void {
    if (this.state === 'closed') return;
    this.lastReadMs = wrapMs();
    this.readStamp = stampNow();
    (this.decoder ??= this.newDecoder()).push(chunk);
    this.process();
  }

  private newDecoder(): MqttDecoder {
    const d = new MqttDecoder(this.ctx.limits);
    if (this.state !== 'connect') {
      d.version = this.version;
      d.mqtt31 = this.mqtt31;
    }
    return d;
  }

  private process(): void {
    const decoder = this.decoder;
    if (decoder === null) return;
    let handler: PacketHandler | null = null;
    try {
      while (this.state === 'connect' || this.state === 'ready') {
        if (this.blockedOn > 0) {
          // Waiting for congested queues: leave the rest in the kernel (TCP backpressure), not the decoder.
          this.stopReading();
          return;
        }
        const packet = decoder.next();
        if (packet === null) {
          // Neither is kept by an idle connection (the messages of the read hold the stamp).
          if (decoder.buffered === 0) {
            this.decoder = null;
            this.readStamp = NO_STAMP;
          }
          return;
        }
        if (this.state === 'connect') this.onConnect(packet, decoder);
        else (handler ??= sharedOf(this.ctx).handler).handle(this, this.session as MqttSession, packet);
      }
    } catch (e) {
      this.fail(e, true);
    }
  }

  /**
   * Deferred to a microtask: resume() is called when a congested channel drains or closes, which
   * may happen inside a fan-out (a slow subscriber dropped at its hard limit); processing this
   * connection's buffered PUBLISHes there would start a fan-out inside the fan-out.
   */
  resume(): void {
    if (this.resumeQueued || this.state === 'closed') return;
    this.resumeQueued = true;
    queueMicrotask(() => {
      this.resumeQueued = false;
      this.resumeNow();
    });
  }

  private resumeNow(): void {
    if (this.state === 'closed' || this.blockedOn > 0) return;
    if (!this.reading) {
      this.reading = true;
      this.transport.resumeReading();
    }
    this.process();
  }

  /** Stops reading while a login is checked (resume() reads on). */
  private stopReading(): void {
    if (this.reading) {
      this.reading = false;
      this.transport.pauseReading();
    }
  }

  protected answersCongested(channel: DataChannel): void {
    channel.addWaiter(this);
  }

  /** Reads no further packet until release(): a packet is worked off over several turns. */
  hold(): void {
    this.blockedOn++;
    this.stopReading();
  }

  release(): void {
    if (--this.blockedOn === 0) this.resume();
  }

  get open(): boolean {
    return this.state === 'ready';
  }

  /** No CONNECT decoded yet: the peer is not authenticated (pre-CONNECT size bound). */
  get awaitingConnect(): boolean {
    return this.state === 'connect';
  }

  /** The socket drained after a full write. */
  onWritable(): void {
    this.channel?.onWritable();
  }

  // ---- CONNECT ----------------------------------------------------------------------------

  private onConnect(packet: MqttPacket, decoder: MqttDecoder): void {
    if (packet.type !== 'connect') throw new MqttError(ReasonCode.ProtocolError, `${packet.type} before CONNECT`);
    const version = decoder.version ?? 4;
    this.version = version;
    this.mqtt31 = decoder.mqtt31;
    const decision = decideConnect(packet, version, this.ctx.limits);
    if (!decision.ok) {
      this.refuse(decision.reason, decision.text, packet.properties?.maximumPacketSize);
      return;
    }
    if (this.certificate !== null) {
      // Mosquitto's use_identity_as_username: the CONNECT username and password are not used.
      const cert = this.certificate;
      const result: AuthResult = cert.user === null ? { ok: false, code: 'NoAcl', message: cert.why } : this.ctx.auth.authenticateCertificate(cert.user);
      this.loginDecided(packet, decision.accepted, result);
      return;
    }
    const login = packet.username ?? '';
    if (login !== '' && packet.password === undefined) {
      this.loginDecided(packet, decision.accepted, withoutPassword(login));
      return;
    }
    // Binary data: verified as the bytes received (Mosquitto hashes them so, UTF-8 or not).
    const password = packet.password ?? '';
    const now = this.ctx.auth.authenticateNow(login, password);
    if (now !== undefined) {
      // Anonymous or a remembered password: decided in this read, packets after CONNECT follow.
      this.loginDecided(packet, decision.accepted, now);
      return;
    }
    this.state = 'authenticating';
    this.stopReading();
    this.ctx.auth.authenticate(login, password, this.transport.ip ?? this.address).then(
      (result) => {
        if (this.state !== 'authenticating') return;
        if (this.loginDecided(packet, decision.accepted, result)) this.resume();
      },
      (e: unknown) => {
        this.fail(e, false);
      },
    );
  }

  /** Opens the session or refuses the CONNECT; true when the session is open. */
  private loginDecided(packet: ConnectPacket, accepted: AcceptedConnect, result: AuthResult): boolean {
    if (!result.ok) {
      // Every refused login is logged (the audit trail); the connection rate bounds these lines.
      // result.message is log-safe already (AuthStore escapes the login it names).
      this.ctx.log.error(`mqtt: client ${this.address} (${escapeForLog(accepted.clientId)}): ${result.message}`);
      this.refuse(loginRefusal(result), result.message, packet.properties?.maximumPacketSize);
      return false;
    }
    this.established(packet, accepted, result.user, result.acl.forClient(result.user, accepted.clientId));
    return true;
  }

  /** `maxPacket`: the client's Maximum Packet Size (v5), which the reason string must fit. */
  private refuse(reason: number, text: string, maxPacket?: number): void {
    this.ctx.router.counters.rejectedConnects++;
    this.ctx.broker.counters.rejectedLogins++;
    this.state = 'closed';
    this.clearTimer();
    this.writeDirect(refusal(reason, text, this.version, maxPacket));
    this.transport.end();
  }

  private established(p: ConnectPacket, a: AcceptedConnect, user: string, acl: Parameters<MqttContext['router']['openSession']>[3]): void {
    const ctx = this.ctx;
    this.clearTimer();
    const old = ctx.router.sessions.get(a.clientId)?.link;
    if (old instanceof MqttConnection) old.takenOver();
    const { session, present } = ctx.router.openSession(a.clientId, p.cleanStart, user, acl);
    ctx.router.setExpiry(session, a.expiryInterval);
    ctx.router.setWill(session, a.will);
    this.session = session;
    const props = p.properties;
    this.expiryZeroAtConnect = (props?.sessionExpiryInterval ?? 0) === 0;
    this.peer = peerLimits(ctx, this.version, props);
    this.state = 'ready';
    this.connectedSince = Math.trunc(Date.now() - BASE_MS); // a small integer (a difference would be boxed)
    ctx.router.counters.connects++;
    ctx.registry.add(this);
    this.send(acceptance(p, a, present, this.version, ctx.limits));
    this.startKeepAlive(a.keepAlive);
    session.resume(this);
    resumeRetained(session);
    ctx.log.info(`mqtt: client connected: ${this.label}, v${this.version === 5 ? '5.0' : this.mqtt31 ? '3.1' : '3.1.1'}`);
  }

  /** Another connection with the same client id took the session. */
  takenOver(): void {
    if (this.state !== 'ready') return;
    this.ctx.router.counters.takeovers++;
    this.disconnectWith(ReasonCode.SessionTakenOver, false);
  }

  // ---- keep alive -------------------------------------------------------------------------

  private startKeepAlive(seconds: number): void {
    if (seconds === 0) return;
    this.keepAliveMs = seconds * 1500; // 1.5 × keep alive, as the spec says
    this.armKeepAlive(this.keepAliveMs);
  }

  private armKeepAlive(ms: number): void {
    this.wheel.arm(this, ms);
  }

  /** The deadline: CONNECT not received in time, or keep alive (re-armed from the last read). */
  onExpired(): void {
    if (this.state === 'connect') {
      this.fail(new MqttError(ReasonCode.MaximumConnectTime, 'CONNECT not received in time'), false);
      return;
    }
    if (this.state !== 'ready' || this.keepAliveMs === 0) return;
    const idle = sinceMs(this.lastReadMs);
    if (idle >= this.keepAliveMs) {
      this.ctx.log.info(`mqtt: keep alive timeout: ${this.label}`);
      this.disconnectWith(ReasonCode.KeepAliveTimeout, true);
    } else {
      // A keep-alive check comes about once per keep-alive period: the moment to give back what
      // only a busy connection needs (a subscriber's channel kept for its messages).
      if (this.channel?.isIdle() === true) this.channel = null;
      this.armKeepAlive(this.keepAliveMs - idle);
    }
  }

  private clearTimer(): void {
    this.wheel.disarm(this);
  }

  // ---- ending -----------------------------------------------------------------------------

  /**
   * DISCONNECT from the client: only 0x00 (3.1.1: every DISCONNECT) discards the will
   * [MQTT-3.14.4-3]; v5 0x04 asks for it and an error code (0x80 …) ends abnormally, so it is
   * published [MQTT-3.1.2-8], as EMQX and HiveMQ do (Mosquitto publishes it for 0x04 only).
   */
  clientDisconnected(reason: number, expiry: number | undefined): void {
    if (expiry !== undefined && this.session !== null) this.ctx.router.setExpiry(this.session, expiry);
    this.normalEnd = reason === ReasonCode.NormalDisconnection;
    this.state = 'closed';
    this.transport.end();
  }

  /** Server-side DISCONNECT (v5 only carries a reason), then close. */
  disconnectWith(reason: number, withWill: boolean, text?: string): void {
    if (this.state === 'closed') return;
    this.normalEnd = !withWill;
    if (this.version === 5 && this.state === 'ready') this.send(disconnectPacket(reason, text, this.peer.maxPacket));
    this.channel?.flush();
    this.state = 'closed';
    this.transport.end();
  }

  /** A protocol error: v5 clients get DISCONNECT (or CONNACK) with the reason, then close. */
  fail(e: unknown, reply: boolean): void {
    if (this.state === 'closed') return;
    const reason = e instanceof MqttError ? e.reasonCode : ReasonCode.UnspecifiedError;
    if (e instanceof MqttError) this.ctx.router.counters.protocolErrors++;
    if (this.ctx.broker.logLimiter.line('mqtt: client error').admit()) this.ctx.log.error(`mqtt: client ${this.label} error: ${escapeForLog(e instanceof Error ? e.message : String(e))}`);
    if (reply && this.state === 'connect' && reason === ReasonCode.UnsupportedProtocolVersion) {
      this.refuse(reason, 'unsupported protocol version');
      return;
    }
    if (reply && this.state === 'ready') {
      this.disconnectWith(reason, true, e instanceof Error ? e.message : undefined);
      return;
    }
    this.state = 'closed';
    this.transport.destroy();
  }

  /** The transport's socket closed (any reason). */
  closed(): void {
    this.state = 'closed';
    this.clearTimer();
    this.channel?.close();
    this.ctx.registry.delete(this);
    const session = this.session;
    this.session = null;
    if (session?.link === this) this.ctx.router.connectionLost(session, !this.normalEnd);
  }
}

/**
 * Characters of an error message a DISCONNECT carries as its reason string: the message may
 * quote what the client sent (a topic of 65,000 characters), and a string field holds at most
 * 65,535 bytes (encoding a longer one threw and stopped the server).
 */
const MAX_REASON_CHARS = 256;

function reasonText(text: string): string {
  if (text.length <= MAX_REASON_CHARS) return text;
  const high = text.charCodeAt(MAX_REASON_CHARS - 1);
  const cut = high >= 0xd800 && high <= 0xdbff ? MAX_REASON_CHARS - 1 : MAX_REASON_CHARS; // not half a surrogate pair
  return `${text.slice(0, cut)}…`;
}

/** A DISCONNECT without its reason string when that would pass the client's Maximum Packet Size [MQTT-3.14.2-3]. */
function disconnectPacket(reason: number, text: string | undefined, maxPacket: number): Buffer {
  if (text !== undefined) {
    const full = encodeDisconnect(reason, { reasonString: reasonText(text) });
    if (full.length <= maxPacket) return full;
  }
  return encodeDisconnect(reason, undefined);
}
