/**
 * Takes the subscriptions of ended sessions out of the subscription index, a slice per
 * event-loop turn. A session may hold up to server.max_subscriptions (100,000 by default)
 * masks; removing 80,000 in one go stalled every other client for ~50 ms when such a client
 * disconnected. Sessions with few subscriptions (nearly all) are still removed at once by the
 * caller; only large ones come here.
 *
 * Until its last slice is done an ended session may still be matched by a publish: the broker
 * skips ended sessions when it enqueues, so this costs a lookup, never a delivery. The MQTT
 * router (src/mqtt/router.ts) retires its sessions' filters the same way.
 */
/** Index removals per turn: ~0.6 µs each, so about a millisecond. */
export const RETIRE_PER_TURN = 2048;

/** A session's subscriptions by key (a PSRT session's Set of masks, an MQTT session's filters). */
export interface RetiringSession<K = string> {
  readonly subscriptions: { keys(): Iterable<K>; clear(): void };
}

export class SubscriptionRetirer<S extends RetiringSession<K>, K = string> {
  private readonly pending: { readonly session: S; readonly masks: Iterator<K> }[] = [];
  private scheduled = false;

  /**
   * @param remove  takes one mask of one session out of the index
   * @param changed called after each slice (cached subscriber lists are outdated)
   */
  constructor(
    private readonly remove: (mask: K, session: S) => void,
    private readonly changed: () => void,
    readonly perTurn: number,
  ) {}

  /** Sessions whose subscriptions are still being removed. */
  get backlog(): number {
    return this.pending.length;
  }

  /** The session has ended: its subscriptions leave the index over the next turns. */
  retire(session: S): void {
    this.pending.push({ session, masks: session.subscriptions.keys()[Symbol.iterator]() });
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.step();
    });
  }

  private step(): void {
    const head = this.pending[0];
    if (head === undefined) return;
    for (let n = 0; n < this.perTurn; n++) {
      const next = head.masks.next();
      if (next.done === true) {
        head.session.subscriptions.clear();
        this.pending.shift();
        break;
      }
      this.remove(next.value, head.session);
    }
    this.changed();
    if (this.pending.length > 0) this.schedule();
  }
}
