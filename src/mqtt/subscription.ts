/**
 * MQTT subscriptions as entries of the shared topic index (mqtt semantics): one entry per
 * (session, filter), so a publish reports every matching subscription of a client and the
 * router can apply the spec's overlap rule (one delivery, the highest granted QoS, every
 * subscription identifier). A shared subscription (`$share/group/filter`) is one SharedGroup
 * entry in the index whose members take turns.
 */
import type { Subscriber } from '../topics/index.js';
import type { QoS } from './message.js';

export interface SubscriptionOptions {
  readonly qos: QoS;
  readonly noLocal: boolean;
  readonly retainAsPublished: boolean;
  readonly retainHandling: 0 | 1 | 2;
  /** v5 subscription identifier; 0 for none. */
  readonly identifier: number;
}

/** The option sets without a subscription identifier, shared by every entry that has one. */
const COMMON_OPTIONS = new Map<number, SubscriptionOptions>();

/**
 * The shared object for `o` when it has no subscription identifier (there are only 24 such
 * sets), else `o`: a million entries then hold pointers, not a million option objects.
 */
export function internOptions(o: SubscriptionOptions): SubscriptionOptions {
  if (o.identifier !== 0) return o;
  const key = o.qos | (o.noLocal ? 4 : 0) | (o.retainAsPublished ? 8 : 0) | (o.retainHandling << 4);
  let shared = COMMON_OPTIONS.get(key);
  if (shared === undefined) {
    shared = Object.freeze({ qos: o.qos, noLocal: o.noLocal, retainAsPublished: o.retainAsPublished, retainHandling: o.retainHandling, identifier: 0 });
    COMMON_OPTIONS.set(key, shared);
  }
  return shared;
}

/** What an entry needs of its session (src/mqtt/session.ts implements it). */
export interface SubscriberSession {
  readonly connected: boolean;
  /** Ended: its subscriptions may still be leaving the index, but it takes no message. */
  readonly ended: boolean;
}

export class SubscriptionEntry<S extends SubscriberSession = SubscriberSession> implements Subscriber {
  matchStamp = 0;

  constructor(
    readonly session: S,
    /** The filter as subscribed, `$share/…` prefix included: the session's key for it. */
    readonly key: string,
    public options: SubscriptionOptions,
    /** Set for a member of a shared subscription. */
    readonly group: SharedGroup<S> | null,
  ) {}

  /** The filter matched against topics (without a `$share/group/` prefix). */
  get filter(): string {
    return this.group === null ? this.key : this.group.filter;
  }
}

export class SharedGroup<S extends SubscriberSession = SubscriberSession> implements Subscriber {
  matchStamp = 0;
  readonly members: SubscriptionEntry<S>[] = [];
  private next = 0;

  constructor(
    readonly name: string,
    readonly filter: string,
  ) {}

  /**
   * Round robin over the members, preferring connected sessions (a message is not parked),
   * never an ended one (see MqttRouter.endSession).
   */
  pick(): SubscriptionEntry<S> | undefined {
    const n = this.members.length;
    for (let i = 0; i < n; i++) {
      const m = this.members[(this.next + i) % n];
      if (m?.session.connected === true) {
        this.next = (this.next + i + 1) % n;
        return m;
      }
    }
    for (let i = 0; i < n; i++) {
      const m = this.members[(this.next + i) % n];
      if (m !== undefined && !m.session.ended) {
        this.next = (this.next + i + 1) % n;
        return m;
      }
    }
    return undefined;
  }

  remove(entry: SubscriptionEntry<S>): void {
    const i = this.members.indexOf(entry);
    if (i >= 0) this.members.splice(i, 1);
  }
}

/** `$share/{group}/{filter}` split; null when `key` is not a shared subscription. */
export function splitShared(key: string): { group: string; filter: string } | null {
  if (!key.startsWith('$share/')) return null;
  const slash = key.indexOf('/', 7);
  if (slash < 0) return { group: key.slice(7), filter: '' };
  return { group: key.slice(7, slash), filter: key.slice(slash + 1) };
}
