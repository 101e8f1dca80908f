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
import type { MessageMeta } from '../broker/ports.js';
import { DEFAULT_PRIORITY } from '../protocol/constants.js';
import { Backoff, Bridge } from './bridge.js';
import type { OutMessage } from './buffer.js';
import { independentMasks } from './masks.js';
import { maskToSubjects, subjectToTopic, topicToSubject } from './subject-mapping.js';

export const ORIGIN_HEADER = 'Psrt-Origin';
export const PRIORITY_HEADER = 'Psrt-Priority';
export const CONTENT_TYPE_HEADER = 'Content-Type';
/** One per MQTT user property: `percent-encoded name=percent-encoded value`. */
export const USER_PROPERTY_HEADER = 'Mqtt-User-Property';

/** Subject → local topic of imports, bounded (cleared when full). */
const TOPIC_CACHE_LIMIT = 10_000;
const CONNECT_TIMEOUT_MS = 5000;

export class NatsBridge extends Bridge {
  private nc: NatsConnection | null = null;
  private stopped = false;
  private readonly backoff = new Backoff();
  /** Headers of plain PSRT exports by priority: the same object serves every such message. */
  private readonly plainHeaders = new Map<number, { headers: MsgHdrs }>();
  private readonly topicOf = new Map<string, string>();

  remoteName(remoteTopic: string): string | null {
    return topicToSubject(remoteTopic);
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
    const opts: ConnectionOptions = {
      servers: [...c.servers],
      name: `psrtd-${this.nodeId}-${c.name}`,
      noEcho: true,
      maxReconnectAttempts: -1,
      reconnectDelayHandler: () => this.backoff.next(),
      timeout: CONNECT_TIMEOUT_MS,
      pingInterval: 10_000,
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
        this.backoff.reset();
        this.subscribe(nc);
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
        this.connected(nc.getServer());
      } else if (s.type === 'error') this.log.warn(`bridge ${this.config.name}: ${String(s.error)}`);
    }
    const err = await closed;
    if (this.nc === nc) this.nc = null;
    if (!this.stopped) this.disconnected(err instanceof Error ? err.message : 'connection closed');
  }

  private subscribe(nc: NatsConnection): void {
    const { remotePrefix } = this.config;
    const subjects = new Set<string>();
    for (const mask of independentMasks(this.config.in)) {
      const mapped = maskToSubjects(remotePrefix + mask);
      if (mapped === null) {
        this.log.error(`bridge ${this.config.name}: in mask ${JSON.stringify(mask)} cannot be mapped to a subject`);
        continue;
      }
      for (const subject of mapped) {
        if (subjects.has(subject)) continue; // `a/#` and `a` both need `a`: subscribed once
        subjects.add(subject);
        nc.subscribe(subject, {
          callback: (err, msg) => {
            if (err === null) this.onMessage(msg);
          },
        });
      }
    }
  }

  private onMessage(msg: Msg): void {
    const h = msg.headers;
    if (h?.get(ORIGIN_HEADER) === this.nodeId) {
      this.counters.echoes++;
      return;
    }
    let topic = this.topicOf.get(msg.subject);
    if (topic === undefined) {
      topic = subjectToTopic(msg.subject);
      if (this.topicOf.size >= TOPIC_CACHE_LIMIT) this.topicOf.clear();
      this.topicOf.set(msg.subject, topic);
    }
    const d = msg.data;
    const payload = Buffer.from(d.buffer, d.byteOffset, d.byteLength);
    const priority = h === undefined ? DEFAULT_PRIORITY : priorityOf(h.get(PRIORITY_HEADER));
    this.importMessage(topic, payload, priority, 0, h === undefined ? null : metaOf(h, topic));
  }

  protected send(subject: string, m: OutMessage): boolean {
    const nc = this.nc;
    if (nc === null || nc.isClosed()) return false;
    try {
      nc.publish(subject, m.payload, this.headersFor(m));
    } catch (e) {
      if (nc.isClosed()) return false;
      // Too large for the server, or a subject it refuses: this message can never be sent.
      this.unmappable(subject, `message (${e instanceof Error ? e.message : String(e)}) on subject`);
    }
    return true;
  }

  private headersFor(m: OutMessage): { headers: MsgHdrs } {
    if (m.contentType === undefined && m.userProperties === undefined) {
      let cached = this.plainHeaders.get(m.priority);
      if (cached === undefined) {
        cached = { headers: frozenEncoding(exportHeaders(this.nodeId, m)) };
        this.plainHeaders.set(m.priority, cached);
      }
      return cached;
    }
    return { headers: exportHeaders(this.nodeId, m) };
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

/**
 * The client encodes headers on every publish (a string build and a UTF-8 encode); headers that
 * never change are encoded once here and the bytes reused.
 */
function frozenEncoding(h: MsgHdrs): MsgHdrs {
  if (!(h instanceof MsgHdrsImpl)) return h;
  const bytes = h.encode();
  Object.defineProperty(h, 'encode', { value: () => bytes });
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
