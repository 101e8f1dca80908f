/**
 * A minimal PSRT server written only from PROTOCOL.md, used to test the client against "any
 * server that follows the spec" and to inject faults (refused logins, FE/FF replies, silence,
 * dropped connections, bad data frames). It reuses the protocol decoders of src/protocol.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';
import {
  ByteQueue,
  ControlDecoder,
  CONTROL_GREETING_REPLY,
  DATA_GREETING_REPLY,
  encodeDataFrame,
  readDataHandshake,
  readGreeting,
  readLoginFrame,
  detachRequest,
  type DetachedRequest,
} from '../../src/protocol/index.js';

/** A reply byte, `'close'` (drop the connection) or `'silent'` (never answer). */
export type FakeReply = number | 'close' | 'silent';

export interface FakeServerOptions {
  /** Decides the reply of each control request; default `01` (and the pub/sub behaviour). */
  reply?: (req: DetachedRequest, session: FakeSession) => FakeReply;
  /** Login check; default: anything accepted. */
  login?: (login: string, password: string) => boolean;
  /** STARTTLS identity. */
  tls?: { key: Buffer; cert: Buffer };
  /** Listen on this Unix socket path instead of TCP. */
  path?: string;
  /** Refuse every data socket with `FF`. */
  denyData?: boolean;
}

export interface FakeSession {
  readonly id: number;
  readonly login: string;
  readonly token: Buffer;
  readonly control: Duplex;
  data: Duplex | null;
  timeoutByte: number;
  readonly subscriptions: Set<string>;
}

export class FakeServer {
  readonly sessions: FakeSession[] = [];
  /** Every control request received, in order. */
  readonly requests: DetachedRequest[] = [];
  private readonly sockets = new Set<Duplex>();
  private nextId = 1;
  private held: { stream: Duplex; bytes: Buffer }[] | null = null;

  private constructor(
    private readonly server: Server,
    private readonly options: FakeServerOptions,
  ) {}

  static async start(options: FakeServerOptions = {}): Promise<FakeServer> {
    const server = createServer();
    const fake = new FakeServer(server, options);
    server.on('connection', (s) => {
      fake.accept(s);
    });
    await new Promise<void>((resolve) => {
      if (options.path !== undefined) server.listen(options.path, resolve);
      else server.listen(0, '127.0.0.1', resolve);
    });
    return fake;
  }

  /** `127.0.0.1:port` or the socket path. */
  get address(): string {
    const a = this.server.address();
    if (typeof a === 'string') return a;
    if (a === null) throw new Error('not listening');
    return `127.0.0.1:${a.port}`;
  }

  /** Writes a message frame to every data socket subscribed to `topic` (exact or `#`). */
  deliver(topic: string, payload: Buffer | string, priority = 0x7f): number {
    const frame = encodeDataFrame(priority, topic, Buffer.from(payload));
    let n = 0;
    for (const s of this.sessions) {
      if (s.data === null || !(s.subscriptions.has(topic) || s.subscriptions.has('#'))) continue;
      s.data.write(frame);
      n++;
    }
    return n;
  }

  /** Raw bytes on every data socket (for protocol-violation tests). */
  writeData(bytes: Buffer): void {
    for (const s of this.sessions) s.data?.write(bytes);
  }

  /** Keeps control replies back until releaseReplies() (simulates a slow server). */
  holdReplies(): void {
    this.held ??= [];
  }

  releaseReplies(): void {
    const held = this.held ?? [];
    this.held = null;
    for (const h of held) h.stream.write(h.bytes);
  }

  /** Drops every connection (simulates a server restart without closing the listener). */
  dropAll(): void {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    this.sessions.length = 0;
  }

  async close(): Promise<void> {
    this.dropAll();
    await new Promise<void>((resolve) => this.server.close(() => {
      resolve();
    }));
  }

  private accept(raw: Socket): void {
    this.sockets.add(raw);
    raw.on('error', () => undefined);
    raw.on('close', () => this.sockets.delete(raw));
    const q = new ByteQueue();
    const onData = (chunk: Buffer): void => {
      q.push(chunk);
      const g = readGreeting(q);
      if (g === null) return;
      raw.off('data', onData);
      let stream: Duplex = raw;
      if (g.mode === 1 && this.options.tls !== undefined && this.options.path === undefined) {
        raw.pause(); // unshifted bytes must stay buffered for the TLS layer to pick up
        if (q.length > 0) raw.unshift(q.drain()); // the ClientHello may have come along
        const tls = new TLSSocket(raw, { isServer: true, ...this.options.tls });
        tls.on('error', () => undefined);
        this.sockets.add(tls);
        stream = tls;
      } else if (g.mode !== 0 && this.options.path === undefined) {
        raw.destroy();
        return;
      }
      stream.write(g.kind === 'control' ? CONTROL_GREETING_REPLY : DATA_GREETING_REPLY);
      const rest = stream === raw ? q : new ByteQueue();
      if (g.kind === 'control') this.control(stream, rest);
      else this.data(stream, rest);
    };
    raw.on('data', onData);
  }

  private control(stream: Duplex, q: ByteQueue): void {
    let session: FakeSession | null = null;
    const decoder = new ControlDecoder(q, { maxPubSize: 2_000_000, maxTopicLength: 2_000_000 });
    const onData = (chunk?: Buffer): void => {
      if (chunk !== undefined) q.push(chunk);
      if (session === null) {
        const frame = readLoginFrame(q);
        if (frame === null) return;
        const ok = this.options.login?.(frame.login, frame.password) ?? true;
        if (!ok) {
          stream.destroy();
          return;
        }
        session = this.newSession(frame.login, stream);
        stream.write(session.token);
      }
      this.serve(session, decoder, stream);
    };
    stream.on('data', onData);
    stream.on('close', () => {
      if (session !== null) session.data?.destroy();
    });
    if (q.length > 0) onData();
  }

  private newSession(login: string, control: Duplex): FakeSession {
    const s: FakeSession = {
      id: this.nextId++,
      login,
      token: randomBytes(32),
      control,
      data: null,
      timeoutByte: -1,
      subscriptions: new Set(),
    };
    this.sessions.push(s);
    return s;
  }

  private serve(session: FakeSession, decoder: ControlDecoder, stream: Duplex): void {
    const replies: number[] = [];
    for (let next = decoder.next(); next !== null; next = decoder.next()) {
      const req = detachRequest(next);
      this.requests.push(req);
      const r = this.options.reply?.(req, session) ?? this.defaultReply(req, session);
      if (r === 'close') {
        if (replies.length > 0) stream.write(Buffer.from(replies));
        stream.destroy();
        return;
      }
      if (r === 'silent') continue;
      replies.push(r);
      if (req.kind === 'repl-topic' && r === 2) decoder.expectReplBody();
      if (req.kind === 'bye') {
        stream.end(Buffer.from(replies));
        session.data?.end();
        return;
      }
    }
    if (replies.length === 0) return;
    if (this.held !== null) this.held.push({ stream, bytes: Buffer.from(replies) });
    else stream.write(Buffer.from(replies));
  }

  private defaultReply(req: DetachedRequest, s: FakeSession): number {
    if (req.kind === 'subscribe') for (const t of req.topics) s.subscriptions.add(t);
    if (req.kind === 'unsubscribe') for (const t of req.topics) s.subscriptions.delete(t);
    if (req.kind === 'publish') {
      const sep = req.body.indexOf(0);
      this.deliver(req.body.subarray(0, sep).toString(), req.body.subarray(sep + 1), req.priority);
    }
    return 1;
  }

  private data(stream: Duplex, q: ByteQueue): void {
    const onData = (chunk?: Buffer): void => {
      if (chunk !== undefined) q.push(chunk);
      const h = readDataHandshake(q);
      if (h === null) return;
      stream.off('data', onData);
      stream.on('data', () => undefined); // the server never reads the data socket again
      const s = this.sessions.find((x) => x.token.equals(h.token));
      if (s?.data !== null || this.options.denyData === true) {
        stream.end(Buffer.from([0xff]));
        return;
      }
      s.data = stream;
      s.timeoutByte = h.timeoutSeconds;
      stream.write(Buffer.from([1]));
    };
    stream.on('data', onData);
    if (q.length > 0) onData();
  }
}
