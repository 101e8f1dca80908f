/**
 * All bridges of a node, seen by the broker as ONE publish hook. Per accepted message it does
 * one Map lookup (topic → the bridges exporting it, with the remote name on each); a topic seen
 * for the first time is matched against every bridge's `out` masks once. Topics no bridge
 * exports cost that lookup and nothing else; the payload is copied once, only when some bridge
 * takes it.
 *
 * Every import enters the broker with the manager as its source, so no bridge ever re-exports
 * what any bridge imported (while cluster replication and local MQTT still get it).
 */
import type { BrokerLogger, MessageMeta, PublishHook } from '../broker/ports.js';
import type { Bridge, BridgeStatus, ImportSink } from './bridge.js';
import type { Buffered, OutMessage } from './buffer.js';
import type { BridgeConfig, BridgesConfig } from './config.js';
import { MaskSet } from './masks.js';
import { loadBridgeKinds, type BridgeKinds } from './kinds.js';
import { WaitingExports } from './waiting-exports.js';

/** The broker calls the manager knows: import (publishExternal) and hook registration. */
export interface BridgeBroker {
  publishExternal(
    priority: number,
    topic: string,
    payload: Buffer,
    timestampUs: number,
    qos: 0 | 1 | 2,
    meta: MessageMeta | null,
    source: PublishHook | null,
  ): void;
  addPublishHook(hook: PublishHook): void;
  removePublishHook(hook: PublishHook): void;
}

interface Route {
  readonly bridge: Bridge;
  readonly remote: string;
}

interface Member {
  readonly bridge: Bridge;
  readonly out: MaskSet;
  readonly key: string;
}

const NO_ROUTES: readonly Route[] = [];
/** Topics remembered with their routes; the cache starts over when full. */
const ROUTE_CACHE_LIMIT = 50_000;

export class BridgeManager implements PublishHook {
  private members: Member[] = [];
  private routes = new Map<string, readonly Route[]>();
  private readonly sink: ImportSink;
  private hooked = false;
  /** Applies run one after another: each may first wait for its bridge kinds to load. */
  private applying: Promise<void> = Promise.resolve();
  /** Whether the first apply (the start) has run: exports loaded from a file go to it only. */
  private started = false;
  /** What the bridges still have to send, as `mqtt.persistence_file` saves and loads it. */
  readonly exports: WaitingExports;

  constructor(
    private readonly broker: BridgeBroker,
    private readonly log: BrokerLogger,
    private readonly maxTopicDepth: number,
    private readonly clock: () => number,
  ) {
    this.exports = new WaitingExports(log, () => this.members.map((m) => m.bridge));
    this.sink = (priority, topic, payload, qos, meta) => {
      this.broker.publishExternal(priority, topic, payload, this.clock(), qos, meta, this);
    };
  }

  /**
   * Starts the configured bridges: resolves once they exist (their client library loaded);
   * connections are made in the background.
   */
  start(config: BridgesConfig): Promise<void> {
    return this.apply(config);
  }

  /**
   * SIGHUP: bridges whose settings are unchanged keep running (their traffic is not touched);
   * changed ones are restarted, removed ones stopped, new ones started.
   */
  async reload(config: BridgesConfig | undefined): Promise<void> {
    await this.apply(config ?? { nodeId: '', bridges: [] });
  }

  /** Shutdown: with a persistence file, what the bridges still had to send is kept for it. */
  async stop(): Promise<void> {
    await this.apply({ nodeId: '', bridges: [] }, true);
  }

  private apply(config: BridgesConfig, shutdown = false): Promise<void> {
    const next = this.applying.then(async () => this.applyLoaded(config, await loadBridgeKinds(config.bridges), shutdown));
    // A failed apply (a client library that would not load) must not block the later ones.
    this.applying = next.catch(() => undefined);
    return next;
  }

  private async applyLoaded(config: BridgesConfig, kinds: BridgeKinds, shutdown: boolean): Promise<void> {
    const wanted = new Map(config.bridges.map((b) => [b.name, b]));
    const keep: Member[] = [];
    const stopping: Promise<void>[] = [];
    const replaced = new Map<string, { old: Member; stopped: Promise<void> }>();
    for (const m of this.members) {
      const c = wanted.get(m.bridge.config.name);
      if (c !== undefined && settingsKey(c, config.nodeId) === m.key) {
        keep.push(m);
        wanted.delete(c.name);
        continue;
      }
      const stopped = shutdown && this.exports.savedIn !== null ? this.stopKeeping(m.bridge) : this.stopDropping(m.bridge, c === undefined);
      if (c !== undefined) replaced.set(c.name, { old: m, stopped });
      stopping.push(stopped);
    }
    for (const c of wanted.values()) {
      const member = this.create(c, config.nodeId, kinds);
      const was = replaced.get(c.name);
      if (was === undefined) this.startNew(member);
      else this.succeed(was.old, member, was.stopped);
      keep.push(member);
    }
    if (!this.started) this.exports.discardUnclaimed();
    this.started = true;
    for (const m of this.members) if (!keep.includes(m)) this.exports.retire(m.bridge);
    this.members = keep;
    this.routes = new Map();
    this.hook(keep.length > 0);
    await Promise.all(stopping);
  }

  /** A removed bridge's buffered exports are dropped (a replaced one's go to its successor). */
  private stopDropping(bridge: Bridge, removed: boolean): Promise<void> {
    const waiting = removed ? bridge.takeBuffered().length : 0;
    if (!removed) bridge.keptIn = 'handed to the new bridge';
    this.log.info(`bridge ${bridge.config.name}: stopping${waiting > 0 ? `, ${waiting} buffered exports dropped` : ''}`);
    return bridge.stop().catch(() => undefined);
  }

  /** Shutdown with a persistence file: once stopped, the bridge hands its exports over for the final save. */
  private stopKeeping(bridge: Bridge): Promise<void> {
    const file = this.exports.savedIn ?? '';
    bridge.keptIn = `saved in ${file}`;
    const waiting = bridge.status().buffered;
    this.log.info(`bridge ${bridge.config.name}: stopping${waiting > 0 ? `, ${waiting} buffered exports saved in ${file}` : ''}`);
    return bridge.stop().catch(() => undefined).then(() => { this.exports.keep(bridge); });
  }

  /** A new bridge (not replacing one): at psrtd's start it first takes the exports saved for it. */
  private startNew(member: Member): void {
    const bridge = member.bridge;
    if (!this.started) this.exports.requeue(bridge, (topic) => this.remoteOf(member, topic));
    bridge.start();
  }

  private create(c: BridgeConfig, nodeId: string, kinds: BridgeKinds): Member {
    const bridge = kinds.construct(c, nodeId, this.log, this.sink, this.maxTopicDepth);
    this.log.info(`bridge ${c.name}: ${c.type} ${c.servers.join(', ')}, out ${JSON.stringify(c.out)}, in ${JSON.stringify(c.in)}`);
    return { bridge, out: new MaskSet(c.out, c.localPrefix), key: settingsKey(c, nodeId) };
  }

  /**
   * A changed bridge takes over from its predecessor: the exports it buffered, and (an MQTT
   * persistent session) what it subscribed. The successor connects only once the predecessor has
   * ended its connection (its QoS 1 exports in flight acknowledged): two connections with the
   * same client id would take the session from each other.
   */
  private succeed(from: Member, to: Member, stopped: Promise<void>): void {
    this.handOver(from, to);
    to.bridge.succeed?.(from.bridge);
    void stopped.then(() => {
      this.handOverUnacked(from, to);
      if (to.bridge.state !== 'stopped') to.bridge.start(); // not removed by a later reload meanwhile
    });
  }

  /**
   * A changed bridge is a new one under the same name: the exports its predecessor still held
   * (an upstream that was away) go to it, in order, as far as its masks still export them.
   * Dropping them would lose data because of an unrelated edit (a buffer bound, a server).
   */
  private handOver(from: Member, to: Member): void {
    const all = from.bridge.takeBuffered();
    const { routed, gone } = this.remap(to, all.map((e) => e.m));
    for (const { remote, m } of routed) to.bridge.offer(remote, m);
    if (all.length > 0) {
      const note = gone > 0 ? ` (${gone} no longer exported, dropped)` : '';
      this.log.info(`bridge ${to.bridge.config.name}: ${all.length - gone} buffered exports carried over from before the reload${note}`);
    }
  }

  /**
   * What the predecessor still held once stopped: QoS 1 exports its upstream did not acknowledge
   * within the stop grace (the successor's client never sends them again by itself). They are
   * older than anything the successor has buffered, so they go first (at least once: the
   * upstream may have received them).
   */
  private handOverUnacked(from: Member, to: Member): void {
    const { routed, gone } = this.remap(to, from.bridge.takeWaiting());
    if (routed.length + gone === 0) return;
    to.bridge.requeueFirst(routed);
    const note = gone > 0 ? ` (${String(gone)} no longer exported, dropped)` : '';
    this.log.info(`bridge ${to.bridge.config.name}: ${String(routed.length)} exports the upstream had not acknowledged before the reload queued again${note}`);
  }

  /** The remote name of a local topic on `member` as configured now; null: it no longer exports it. */
  private remoteOf(member: Member, topic: string): string | null {
    return member.out.matches(topic) ? member.bridge.route(topic) : null;
  }

  /** `messages` with their remote names on `to`, and how many it no longer exports. */
  private remap(to: Member, messages: readonly OutMessage[]): { routed: Buffered[]; gone: number } {
    const routed: Buffered[] = [];
    for (const m of messages) {
      const remote = this.remoteOf(to, m.topic);
      if (remote !== null) routed.push({ remote, m });
    }
    return { routed, gone: messages.length - routed.length };
  }

  /** Registered only while there are bridges: a node without any pays nothing at all. */
  private hook(on: boolean): void {
    if (on && !this.hooked) this.broker.addPublishHook(this);
    else if (!on && this.hooked) this.broker.removePublishHook(this);
    this.hooked = on;
  }

  onLocalPublish(
    priority: number,
    topic: string,
    payload: Buffer | readonly Buffer[],
    _timestampUs: number,
    qos: 0 | 1 | 2,
    meta: MessageMeta | null,
  ): void {
    const routes = this.routes.get(topic) ?? this.routesOf(topic);
    if (routes.length === 0) return;
    const m: OutMessage = {
      priority,
      topic,
      payload: Buffer.isBuffer(payload) ? Buffer.from(payload) : Buffer.concat(payload),
      qos,
      contentType: meta?.contentType,
      userProperties: meta?.userProperties,
    };
    for (const r of routes) r.bridge.offer(r.remote, m);
  }

  private routesOf(topic: string): readonly Route[] {
    const found: Route[] = [];
    for (const { bridge, out } of this.members) {
      if (!out.matches(topic)) continue;
      const remote = bridge.route(topic);
      if (remote !== null) found.push({ bridge, remote });
    }
    const routes = found.length === 0 ? NO_ROUTES : found;
    // Unmappable topics are not cached, so each of their messages is counted.
    if (found.length === 0 && this.members.some((m) => m.out.matches(topic))) return routes;
    if (this.routes.size >= ROUTE_CACHE_LIMIT) this.routes.clear();
    this.routes.set(topic, routes);
    return routes;
  }

  status(): BridgeStatus[] {
    return this.members.map((m) => m.bridge.status());
  }
}

function settingsKey(c: BridgeConfig, nodeId: string): string {
  return JSON.stringify([nodeId, c]);
}
