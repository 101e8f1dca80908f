/**
 * The exports the bridges still have to send, as `mqtt.persistence_file` saves and loads them
 * (psrtd's persistence gets this object through a narrow interface; the bridges know nothing of
 * the file):
 *
 * - at start, the exports loaded from the file go into the buffer of the bridge of the same
 *   name before it connects and before any new export, as far as its current `out` masks and
 *   prefixes still export them (their remote names are derived again) and within its current
 *   buffer bounds (the oldest dropped, counted); those of names no longer configured are
 *   discarded, said once;
 * - an autosave takes what the buffers hold (the QoS 1 exports an MQTT bridge has in flight
 *   are left out: they change with every acknowledgement, and the client sends them again
 *   after a reconnect);
 * - at shutdown, each bridge hands over, once stopped, its unacknowledged QoS 1 exports and its
 *   buffer, in that order, for the final save.
 */
import type { BrokerLogger } from '../broker/ports.js';
import type { Bridge } from './bridge.js';
import type { OutMessage } from './buffer.js';

/** The exports one bridge had waiting, oldest first. */
export interface BridgeExports {
  readonly name: string;
  readonly exports: readonly OutMessage[];
}

export class WaitingExports {
  /** The file they are saved in; null without `mqtt.persistence_file` (nothing is kept). */
  private file: string | null = null;
  /** Loaded at start, until the bridges start (by bridge name). */
  private loaded = new Map<string, readonly OutMessage[]>();
  /** Taken from the bridges stopped at shutdown, for the final save. */
  private readonly kept = new Map<string, readonly OutMessage[]>();
  /** Changes of the loaded and kept exports, and of the buffers of bridges no longer running. */
  private ownChanges = 0;

  constructor(
    private readonly log: BrokerLogger,
    private readonly running: () => readonly Bridge[],
  ) {}

  /** Where the exports waiting at shutdown are saved (their bridges' stop lines say so). */
  get savedIn(): string | null {
    return this.file;
  }

  /** Moves whenever what a save would write changes. */
  get changes(): number {
    let n = this.ownChanges;
    for (const b of this.running()) n += b.waitingChanges;
    return n;
  }

  /** The exports a persistence file held; they wait for the bridges' start. */
  restore(saved: readonly BridgeExports[], file: string): void {
    this.file = file;
    this.loaded = new Map(saved.filter((b) => b.exports.length > 0).map((b) => [b.name, b.exports]));
  }

  /** What a save writes now: kept, loaded and buffered exports, by bridge name. */
  snapshot(): BridgeExports[] {
    const all = new Map<string, readonly OutMessage[]>([...this.loaded, ...this.kept]);
    for (const b of this.running()) {
      const waiting = b.waiting();
      if (waiting.length > 0 && !all.has(b.config.name)) all.set(b.config.name, waiting);
    }
    return [...all].map(([name, exports]) => ({ name, exports }));
  }

  /**
   * A new bridge about to start takes the exports loaded for its name; `remoteOf` is the
   * remote name of a local topic under its current configuration (null: no longer exported).
   */
  requeue(bridge: Bridge, remoteOf: (topic: string) => string | null): void {
    const name = bridge.config.name;
    const saved = this.loaded.get(name);
    if (saved === undefined) return;
    this.loaded.delete(name);
    this.ownChanges++;
    const droppedBefore = bridge.counters.dropped;
    let gone = 0;
    for (const m of saved) {
      const remote = remoteOf(m.topic);
      if (remote === null) gone++;
      else bridge.offer(remote, m);
    }
    const overBounds = bridge.counters.dropped - droppedBefore;
    const notes: string[] = [];
    if (gone > 0) notes.push(`${String(gone)} no longer exported by its out masks, dropped`);
    if (overBounds > 0) notes.push(`${String(overBounds)} over buffer_messages / buffer_bytes, oldest dropped`);
    const note = notes.length === 0 ? '' : ` (${notes.join('; ')})`;
    this.log.info(`bridge ${name}: ${String(saved.length - gone - overBounds)} saved exports from ${this.file ?? ''} queued${note}`);
  }

  /** After the first start: what was loaded for bridges no longer configured is discarded. */
  discardUnclaimed(): void {
    if (this.loaded.size === 0) return;
    let n = 0;
    for (const exports of this.loaded.values()) n += exports.length;
    const names = [...this.loaded.keys()].map((k) => JSON.stringify(k)).join(', ');
    this.log.warn(`bridges: ${String(n)} saved exports of bridges no longer configured (${names}) discarded`);
    this.loaded = new Map();
    this.ownChanges++;
  }

  /** A bridge leaves the running set: its buffer's changes stay counted. */
  retire(bridge: Bridge): void {
    this.ownChanges += bridge.waitingChanges + 1;
  }

  /** A bridge stopped at shutdown hands over what it still had to send. */
  keep(bridge: Bridge): void {
    const waiting = bridge.takeWaiting();
    if (waiting.length > 0) this.kept.set(bridge.config.name, waiting);
    this.ownChanges++;
  }
}
