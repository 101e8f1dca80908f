/**
 * Retained messages, one per topic, bounded by count and by bytes (topic + payload). A retained
 * PUBLISH with an empty payload deletes the topic's message. When full, a message for a new
 * topic is refused (counted, logged at most once a second) while replacements still work: the
 * store never grows past its bounds, and what is already retained is never silently evicted.
 */
import type { MqttMessage } from './message.js';
import { isSystemTopic, mqttTopicMatches } from '../topics/index.js';

export interface RetainedStats {
  readonly count: number;
  readonly bytes: number;
  readonly refused: number;
}

function sizeOf(msg: MqttMessage): number {
  return Buffer.byteLength(msg.rawTopic) + msg.payload.length;
}

export class RetainedStore implements RetainedStats {
  private readonly messages = new Map<string, MqttMessage>();
  private total = 0;
  refused = 0;
  /**
   * Stores, replacements and deletions so far: `mqtt.persistence_file` saves only when it moved.
   * A message dropped on expiry does not count (a load skips expired messages anyway), nor
   * does the broker's own `$SYS` tree: it is not saved (sys-tree.ts publishes it afresh at
   * start), so its updates every `sys_interval` must not rewrite the file.
   */
  changes = 0;
  /** The `$SYS` messages among `messages` and their bytes (outside the limits, see put). */
  private systemCount = 0;
  private systemBytes = 0;

  constructor(
    readonly maxCount: number,
    readonly maxBytes: number,
  ) {}

  get count(): number {
    return this.messages.size;
  }

  get bytes(): number {
    return this.total;
  }

  /**
   * Stores (or, for an empty payload, deletes) the retained message; false when refused. The
   * broker's own `$SYS` tree (a few dozen topics, sys-tree.ts) is stored outside the limits, so
   * it never takes the place of a device's message; `count` and `bytes` still include it.
   */
  put(msg: MqttMessage): boolean {
    const system = isSystemTopic(msg.rawTopic);
    const old = this.messages.get(msg.rawTopic);
    const oldSize = old === undefined ? 0 : sizeOf(old);
    if (msg.payload.length === 0) {
      if (old !== undefined) this.remove(msg.rawTopic, oldSize, system);
      return true;
    }
    const size = sizeOf(msg);
    const added = old === undefined ? 1 : 0;
    if (!system && this.overLimits(added, size - oldSize)) {
      this.refused++;
      return false;
    }
    this.messages.set(msg.rawTopic, msg.own());
    this.total += size - oldSize;
    if (system) {
      this.systemCount += added;
      this.systemBytes += size - oldSize;
    } else {
      this.changes++;
    }
    return true;
  }

  private overLimits(added: number, grown: number): boolean {
    const count = this.messages.size - this.systemCount + added;
    return count > this.maxCount || this.total - this.systemBytes + grown > this.maxBytes;
  }

  private remove(topic: string, size: number, system: boolean): void {
    this.messages.delete(topic);
    this.total -= size;
    if (system) {
      this.systemCount--;
      this.systemBytes -= size;
    } else {
      this.changes++;
    }
  }

  /** The live messages but `$SYS`, oldest topic first (what `mqtt.persistence_file` saves). */
  snapshot(nowMs: number): MqttMessage[] {
    const out: MqttMessage[] = [];
    for (const m of this.messages.values()) if (!m.expired(nowMs) && !isSystemTopic(m.rawTopic)) out.push(m);
    return out;
  }

  /** Whether `msg` (as returned by match) is still its topic's retained message. */
  holds(msg: MqttMessage): boolean {
    return this.messages.get(msg.rawTopic) === msg;
  }

  /** Retained messages whose topic matches `filter` (MQTT rules), expired ones dropped. */
  match(filter: string, nowMs: number): MqttMessage[] {
    const out: MqttMessage[] = [];
    const exact = !filter.includes('+') && !filter.includes('#');
    if (exact) {
      const m = this.messages.get(filter);
      if (m !== undefined) this.keepIfLive(m, nowMs, out);
      return out;
    }
    for (const m of this.messages.values()) {
      if (mqttTopicMatches(filter, m.rawTopic)) this.keepIfLive(m, nowMs, out);
    }
    return out;
  }

  private keepIfLive(m: MqttMessage, nowMs: number, out: MqttMessage[]): void {
    if (!m.expired(nowMs)) {
      out.push(m);
      return;
    }
    this.messages.delete(m.rawTopic);
    this.total -= sizeOf(m);
  }
}
