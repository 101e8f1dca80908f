/**
 * The hooks that see accepted messages after local PSRT fan-out: cluster replication, the MQTT
 * side, bridges. Kept as an immutable array swapped on change, so the per-publish loop needs no
 * copy and a hook may be added or removed while messages flow.
 */
import type { MessageMeta, PublishHook, PublishSource, PublisherPort } from './ports.js';

export class PublishHooks {
  private list: readonly PublishHook[] = [];

  get size(): number {
    return this.list.length;
  }

  add(hook: PublishHook): void {
    this.list = [...this.list, hook];
  }

  remove(hook: PublishHook): void {
    this.list = this.list.filter((h) => h !== hook);
  }

  /** Every hook but the one the message came from (no hook sees its own messages again). */
  notify(
    priority: number,
    topic: string,
    payload: Buffer | readonly Buffer[],
    timestampUs: number,
    qos: 0 | 1 | 2,
    meta: MessageMeta | null,
    source: PublishSource,
    publisher: PublisherPort | null,
  ): void {
    for (const hook of this.list) {
      if (hook !== source) hook.onLocalPublish(priority, topic, payload, timestampUs, qos, meta, publisher);
    }
  }

  /**
   * A message that arrived by cluster replication: only local-delivery hooks (MQTT) see it, so
   * forwarders never send it onwards again.
   */
  notifyLocal(priority: number, topic: string, payload: Buffer, timestampUs: number, publisher: PublisherPort): void {
    for (const hook of this.list) {
      if (hook.forwardsMessages === false) hook.onLocalPublish(priority, topic, payload, timestampUs, 1, null, publisher);
    }
  }

  /** Does a local-delivery hook have a subscriber for a replicated message on `topic`? */
  localWants(topic: string): boolean {
    for (const hook of this.list) {
      if (hook.forwardsMessages === false && hook.hasSubscribers?.(topic) === true) return true;
    }
    return false;
  }
}
