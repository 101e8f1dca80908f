/**
 * A bridge onto a NATS cluster (core NATS; a JetStream stream on the subjects captures them).
 *
 * Exports are published to the subject of the topic (see subject-mapping.ts) with this node's
 * id, the PSRT priority and the MQTT properties in headers. The connection is made with
 * `noEcho`, so the server never sends our own messages back; the origin header also catches
 * loops through other paths. Imports arrive through subscriptions for the `in` masks.
 *
 * Connecting: every URL is tried in turn, with back-off between rounds, until one answers; once
 * connected the client follows the cluster (it learns the other nodes) and reconnects on its
 * own with the same back-off, re-subscribing. Nothing here ever blocks the publish path.
 */
import { MsgHdrsImpl, connect, headers, type ConnectionOptions, type Msg, type MsgHdrs, type NatsConnection } from '@nats-io/transport-node';
import type { BrokerLogger, MessageMeta } from '../broker/ports.js';
import { DEFAULT_PRIORITY } from '../protocol/constants.js';
import { Backoff, Bridge, type ImportSink, type SendOutcome } from './bridge.js';
import type { OutMessage } from './buffer.js';
import type { BridgeConfig } from './config.js';
import { independentMasks } from './masks.js';
import { FailoverPicker } from './nats-failover.js';
import { FastImport, type FrameSink } from './nats-parse.js';
import { FastPublisher, socketOf, type ClientSocket } from './nats-publish.js';
import { ECHO, HeaderScanner, SLOW, rangeIs, rawOf, sameBytes, type RawMsg } from './nats-raw.js';
import { NATS_SYNTAX, Subscriptions } from './overlap.js';
import { maskToSubjects, subjectToTopic, topicToSubject } from './subject-mapping.js';

export const ORIGIN_HEADER = 'Psrt-Origin';
export const PRIORITY_HEADER = 'Psrt-Priority';
export const CONTENT_TYPE_HEADER = 'Content-Type';
/** One per MQTT user property: `percent-encoded name=percent-encoded value`. */
export const USER_PROPERTY_HEADER = 'Mqtt-User-Property';

/** Subjects remembered with what they import as; the map starts over when full. */
const TOPIC_CACHE_LIMIT = 10_000;

/** What messages on one subject import as. */
interface Imported {
  /** The topic in MQTT form (before the prefixes), for logs and properties. */
  readonly remote: string;
  /** The local topic; null when the subject has none (counted as unmappable). */
  readonly local: string | null;
  /** The first subscription matching the subject: only its copy is imported. */
  readonly owner: number;
}
/**
 * Longest subject exported, in bytes. nats-server closes a connection whose protocol line is
 * longer than its max_control_line (4096 bytes by default, not announced in INFO), losing what
 * was in flight on it; `HPUB <subject> <hlen> <total>` needs room for the rest of the line.
 */
export const MAX_SUBJECT_BYTES = 4096 - 64;
const utf8 = new TextDecoder();
/**
 * Bytes of publishes the client collects before writing them out (it also writes at the end of
 * each tick). Its default, 32 KiB, makes three or four socket writes of one PSRT read's worth of
 * small messages; a hidden client option, read by its protocol handler.
 */
const PENDING_LIMIT = 256 * 1024;

export class NatsBridge extends Bridge {
  private nc: NatsConnection | null = null;
  private stopped = false;
  private readonly backoff = new Backoff();
  private readonly failover = new FailoverPicker();
  /** Encoded headers of plain PSRT exports by priority: the same bytes serve every such message. */
  private readonly plainHeaders = new Map<number, Uint8Array>();
  private fast: FastPublisher | null = null;
  /** Subject → what it imports as; bounded (cleared when full). */
  private readonly imported = new Map<string, Imported>();
  private subs = new Subscriptions([], NATS_SYNTAX);
  private readonly scanner: HeaderScanner;
  /** The socket a 'drain' listener waits on (so there is one listener per socket). */
  private drainSocket: ClientSocket | null = null;

  constructor(config: BridgeConfig, nodeId: string, log: BrokerLogger, sink: ImportSink, maxTopicDepth: number) {
    super(config, nodeId, log, sink, maxTopicDepth);
    this.scanner = new HeaderScanner(ORIGIN_HEADER, PRIORITY_HEADER, nodeId, DEFAULT_PRIORITY);
  }

  remoteName(remoteTopic: string): string | null {
    const subject = topicToSubject(remoteTopic);
    return subject !== null && Buffer.byteLength(subject) <= MAX_SUBJECT_BYTES ? subject : null;
  }

  start(): void {
    void this.connectLoop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.state = 'stopped';
    const nc = this.nc;
    this.nc = null;
    if (nc !== null) await nc.close().catch(() => undefined);
  }

  /** A method, not the field: it changes while the loop awaits. */
  private isStopped(): boolean {
    return this.stopped;
  }

  private options(): ConnectionOptions {
    const c = this.config;
    const opts: ConnectionOptions & { pendingLimit: number } = {
      servers: [...c.servers],
      name: `psrtd-${this.nodeId}-${c.name}`,
      noEcho: true,
      maxReconnectAttempts: -1,
      reconnectDelayHandler: () => this.backoff.next(),
      reconnectToServer: (pool) => this.failover.pick(pool),
      // A stalled server is found by pings only: given up when maxPingOut are unanswered at the next.
      timeout: c.connectTimeout * 1000,
      pingInterval: c.pingInterval * 1000,
      maxPingOut: c.maxPingsOut,
      pendingLimit: PENDING_LIMIT,
    };
    if (c.user !== undefined) opts.user = c.user;
    if (c.password !== undefined) opts.pass = c.password;
    if (c.token !== undefined) opts.token = c.token;
    if (c.tls !== undefined) {
      const tls: NonNullable<ConnectionOptions['tls']> = {};
      if (c.tls.ca !== undefined) tls.ca = c.tls.ca;
      if (c.tls.cert !== undefined) tls.cert = c.tls.cert;
      if (c.tls.key !== undefined) tls.key = c.tls.key;
      opts.tls = tls;
    }
    return opts;
  }

  /** First connection (and again should the client ever give up): retried with back-off. */
  private async connectLoop(): Promise<void> {
    while (!this.isStopped()) {
      try {
        const nc = await connect(this.options());
        if (this.isStopped()) {
          await nc.close();
          return;
        }
        this.nc = nc;
        this.fast = new FastPublisher(nc);
        this.backoff.reset();
        this.subscribe(nc);
        this.failover.connectedTo(nc.getServer());
        this.connected(nc.getServer());
        await this.watch(nc);
      } catch (e) {
        this.disconnected(e instanceof Error ? e.message : String(e));
      }
      if (!this.isStopped()) await new Promise((r) => setTimeout(r, this.backoff.next()));
    }
  }

  /** Follows the connection's status until it closes. */
  private async watch(nc: NatsConnection): Promise<void> {
    const closed = nc.closed();
    for await (const s of nc.status()) {
      if (this.stopped) break;
      if (s.type === 'disconnect') this.disconnected(`disconnected from ${s.server}`);
      else if (s.type === 'reconnect') {
        this.backoff.reset();
        this.failover.connectedTo(nc.getServer());
        this.connected(nc.getServer());
      } else if (s.type === 'staleConnection') this.dropStale(nc);
      else if (s.type === 'error') this.log.warn(`bridge ${this.config.name}: ${String(s.error)}`);
    }
    const err = await closed;
    if (this.nc === nc) this.nc = null;
    if (!this.stopped) this.disconnected(err instanceof Error ? err.message : 'connection closed');
  }

  /**
   * Pings went unanswered. The client ends such a connection only once what it wrote has been
   * flushed, which a stalled server never lets happen while the socket holds unsent bytes (our
   * exports): the bridge would hang on it until the server resumed, instead of failing over. The
   * socket is closed at once; what it held is lost, like anything written to a dead connection.
   */
  private dropStale(nc: NatsConnection): void {
    const socket = socketOf(nc);
    if (socket !== null && socket.writableLength > 0) socket.destroy();
  }

  /** The subjects of the `in` masks, in order (their index decides which copy is kept). */
  private subjects(): Subscriptions {
    const { remotePrefix } = this.config;
    const subjects = new Set<string>();
    for (const mask of independentMasks(this.config.in)) {
      const mapped = maskToSubjects(remotePrefix + mask);
      if (mapped === null) {
        this.log.error(`bridge ${this.config.name}: in mask ${JSON.stringify(mask)} cannot be mapped to a subject`);
        continue;
      }
      for (const subject of mapped) subjects.add(subject); // `a/#` and `a` both need `a`: once
    }
    return new Subscriptions([...subjects], NATS_SYNTAX);
  }

  private subscribe(nc: NatsConnection): void {
    this.subs = this.subjects();
    const fast = FastImport.install(nc);
    this.subs.patterns.forEach((subject, index) => {
      const sub = nc.subscribe(subject, { callback: this.handler(index) });
      fast?.add(sub, this.frameSink(index));
    });
  }

  /**
   * The import hot path (see nats-parse.ts): subscription `index`'s messages as offsets into
   * the bytes read, decided as handler() decides; false leaves a message whose headers need the
   * client's decoding to the client (and then to handler()).
   */
  private frameSink(index: number): FrameSink {
    let lastSubject: Uint8Array | null = null;
    let last: Imported | null = null;
    return (f) => {
      const b = f.buf;
      let entry = last;
      if (entry === null || lastSubject === null || !rangeIs(b, f.subjectStart, f.subjectEnd, lastSubject)) {
        lastSubject = new Uint8Array(b.subarray(f.subjectStart, f.subjectEnd)); // a copy: the read is not kept
        entry = this.importedAs(utf8.decode(lastSubject));
        last = entry;
      }
      if (entry.owner < index) return true; // an earlier subscription delivers this message too
      let priority = DEFAULT_PRIORITY;
      if (f.hdr > 0) {
        priority = this.scanner.scan(b, f.dataStart + f.hdr, f.dataStart);
        if (priority === SLOW) return false;
        if (priority === ECHO) {
          this.counters.echoes++;
          return true;
        }
      }
      if (entry.local === null) this.unmappable(entry.remote, 'remote topic');
      else this.deliver(entry.local, b.subarray(f.dataStart + f.hdr, f.dataEnd), priority, 0, null);
      return true;
    };
  }

  /**
   * The callback of subscription `index`. It remembers the last subject's bytes and what they
   * map to, so a stream on one subject is neither decoded nor looked up per message.
   */
  private handler(index: number): (err: Error | null, msg: Msg) => void {
    let lastSubject: Uint8Array | null = null;
    let last: Imported | null = null;
    return (err, msg) => {
      if (err !== null) return;
      const raw = rawOf(msg);
      let entry = last;
      if (raw === null || entry === null || lastSubject === null || !sameBytes(raw._msg.subject, lastSubject)) {
        entry = this.importedAs(msg.subject);
        if (raw !== null) {
          lastSubject = raw._msg.subject.slice(); // a copy: the client's bytes are not ours to keep
          last = entry;
        }
      }
      if (entry.owner < index) return; // an earlier subscription delivers this message too
      if (raw !== null) this.onRaw(raw, msg, entry);
      else this.onMessage(msg, entry);
    };
  }

  /** What a subject maps to, remembered in a bounded map. */
  private importedAs(subject: string): Imported {
    let entry = this.imported.get(subject);
    if (entry === undefined) {
      const remote = subjectToTopic(subject);
      entry = { remote, local: this.localTopic(remote), owner: this.subs.owner(subject) };
      if (this.imported.size >= TOPIC_CACHE_LIMIT) this.imported.clear();
      this.imported.set(subject, entry);
    }
    return entry;
  }

  /** The usual import: headers of another psrtd (or none) read in place, payload not copied. */
  private onRaw(raw: RawMsg, msg: Msg, entry: Imported): void {
    const hdr = raw._msg.hdr;
    const data = raw._rdata;
    let priority = DEFAULT_PRIORITY;
    if (hdr > 0) {
      priority = this.scanner.scan(data, hdr);
      if (priority === SLOW) {
        this.onMessage(msg, entry);
        return;
      }
      if (priority === ECHO) {
        this.counters.echoes++;
        return;
      }
    }
    if (entry.local === null) {
      this.unmappable(entry.remote, 'remote topic');
      return;
    }
    const skip = hdr > 0 ? hdr : 0;
    this.deliver(entry.local, Buffer.from(data.buffer, data.byteOffset + skip, data.byteLength - skip), priority, 0, null);
  }

  /** Any import, through the client's public API. */
  private onMessage(msg: Msg, entry: Imported): void {
    const h = msg.headers;
    if (h?.get(ORIGIN_HEADER) === this.nodeId) {
      this.counters.echoes++;
      return;
    }
    if (entry.local === null) {
      this.unmappable(entry.remote, 'remote topic');
      return;
    }
    const d = msg.data;
    const payload = Buffer.from(d.buffer, d.byteOffset, d.byteLength);
    const priority = h === undefined ? DEFAULT_PRIORITY : priorityOf(h.get(PRIORITY_HEADER));
    this.deliver(entry.local, payload, priority, 0, h === undefined ? null : metaOf(h, entry.remote));
  }

  protected send(subject: string, m: OutMessage): SendOutcome {
    const nc = this.nc;
    if (nc === null || nc.isClosed()) return 'later';
    // The client would queue without bound while the socket is congested (or the server stalled
    // and not yet found dead by pings): exports wait in our bounded buffer instead.
    const socket = socketOf(nc);
    if (socket?.writableNeedDrain === true) {
      this.flushOnDrain(nc, socket);
      return 'later';
    }
    try {
      const hdr = this.headerBytes(m);
      if (hdr === null || this.fast?.publish(subject, hdr, m.payload) !== true) {
        nc.publish(subject, m.payload, { headers: exportHeaders(this.nodeId, m) });
      }
    } catch (e) {
      if (nc.isClosed()) return 'later';
      // Too large for the server, or a subject it refuses: this message can never be sent.
      this.unmappable(subject, `message (${e instanceof Error ? e.message : String(e)}) on subject`);
      return 'refused';
    }
    return 'sent';
  }

  private flushOnDrain(nc: NatsConnection, socket: ClientSocket): void {
    if (this.drainSocket === socket) return;
    this.drainSocket = socket;
    socket.once('drain', () => {
      if (this.drainSocket === socket) this.drainSocket = null;
      if (this.nc === nc) this.flush();
    });
  }

  /** The encoded headers of an export; those of plain PSRT messages are encoded once per priority. */
  private headerBytes(m: OutMessage): Uint8Array | null {
    const plain = m.contentType === undefined && m.userProperties === undefined;
    const cached = plain ? this.plainHeaders.get(m.priority) : undefined;
    if (cached !== undefined) return cached;
    const h = exportHeaders(this.nodeId, m);
    if (!(h instanceof MsgHdrsImpl)) return null;
    const bytes = h.encode();
    if (plain) this.plainHeaders.set(m.priority, bytes);
    return bytes;
  }
}

/** The headers of one export: origin, priority, and the MQTT properties it came with. */
export function exportHeaders(nodeId: string, m: Pick<OutMessage, 'priority' | 'contentType' | 'userProperties'>): MsgHdrs {
  const h = headers();
  h.set(ORIGIN_HEADER, nodeId);
  h.set(PRIORITY_HEADER, String(m.priority));
  if (m.contentType !== undefined) h.set(CONTENT_TYPE_HEADER, m.contentType);
  for (const [k, v] of m.userProperties ?? []) {
    h.append(USER_PROPERTY_HEADER, `${encodeURIComponent(k)}=${encodeURIComponent(v)}`);
  }
  return h;
}

function priorityOf(v: string): number {
  const n = Number(v);
  return v !== '' && Number.isInteger(n) && n >= 0 && n <= 255 ? n : DEFAULT_PRIORITY;
}

/** MQTT properties carried in headers, for local MQTT subscribers; null when there are none. */
export function metaOf(h: MsgHdrs, topic: string): MessageMeta | null {
  const contentType = h.get(CONTENT_TYPE_HEADER);
  const props = h.values(USER_PROPERTY_HEADER);
  if (contentType === '' && props.length === 0) return null;
  const userProperties: [string, string][] = [];
  for (const p of props) {
    const eq = p.indexOf('=');
    if (eq < 0) continue;
    try {
      userProperties.push([decodeURIComponent(p.slice(0, eq)), decodeURIComponent(p.slice(eq + 1))]);
    } catch {
      // malformed escape: skip the property, keep the message
    }
  }
  return {
    qos: 0,
    retain: false,
    rawTopic: topic,
    contentType: contentType === '' ? undefined : contentType,
    userProperties: userProperties.length === 0 ? undefined : userProperties,
  };
}
