/**
 * Who is connected, for the stats page and `/clients`: every protocol front end (PSRT sessions,
 * MQTT, replication links, bridges) contributes rows through a provider. Providers are called
 * only when the list is requested, never on the publish path.
 */
import type { Broker } from './broker.js';

export type ClientProtocol = 'psrt' | 'mqtt' | 'replication' | 'bridge';

export interface ClientInfo {
  /** Unique within its protocol (e.g. `psrt-12`); never a credential. */
  readonly id: string;
  readonly protocol: ClientProtocol;
  /** `ip:port` or the unix socket path. */
  readonly address: string;
  /** Login name, `anonymous`, or the MQTT client id's user. */
  readonly user: string;
  /** Number of subscriptions (distinct normalised masks). */
  readonly subscriptions: number;
  /** Messages queued for delivery now; null without a delivery queue (e.g. no data socket). */
  readonly queue: number | null;
  /** Login time, ms since the Unix epoch. */
  readonly connectedSince: number;
}

/** Returns the rows of one front end; called on request. */
export type ClientProvider = () => Iterable<ClientInfo>;

export class ClientRegistry {
  private readonly providers = new Set<ClientProvider>();

  /** Adds a provider; the returned function removes it. */
  add(provider: ClientProvider): () => void {
    this.providers.add(provider);
    return () => {
      this.providers.delete(provider);
    };
  }

  /**
   * The `limit` oldest rows that are not replication links, oldest first, how many such rows
   * there are, and every replication link. Selected with a bounded heap: sorting all rows took
   * tens of milliseconds of the event loop at 100,000 clients, for a page that shows 1,000.
   */
  oldest(limit: number): { rows: ClientInfo[]; total: number; replication: ClientInfo[] } {
    const heap = new NewestOnTop(limit);
    const replication: ClientInfo[] = [];
    let total = 0;
    for (const p of this.providers) {
      for (const row of p()) {
        if (row.protocol === 'replication') replication.push(row);
        else {
          total++;
          heap.offer(row);
        }
      }
    }
    return { rows: heap.drain(), total, replication: replication.sort(olderFirst) };
  }
}

/** Ties by code unit order: localeCompare (ICU collation) took ~60 ms for 1,000 long client ids. */
function olderFirst(a: ClientInfo, b: ClientInfo): number {
  return a.connectedSince - b.connectedSince || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** At most `capacity` rows, the newest of them at the root (a max-heap by olderFirst). */
class NewestOnTop {
  private readonly heap: ClientInfo[] = [];

  constructor(private readonly capacity: number) {}

  offer(row: ClientInfo): void {
    const h = this.heap;
    if (h.length < this.capacity) {
      h.push(row);
      this.siftUp(h.length - 1);
    } else if (h.length > 0 && olderFirst(row, h[0] as ClientInfo) < 0) {
      h[0] = row;
      this.siftDown(0);
    }
  }

  /** The rows kept, oldest first. */
  drain(): ClientInfo[] {
    return this.heap.sort(olderFirst);
  }

  private siftUp(from: number): void {
    const h = this.heap;
    for (let i = from; i > 0; ) {
      const parent = (i - 1) >> 1;
      if (olderFirst(h[i] as ClientInfo, h[parent] as ClientInfo) <= 0) return;
      this.swap(i, parent);
      i = parent;
    }
  }

  private siftDown(from: number): void {
    const h = this.heap;
    for (let i = from; ; ) {
      const left = 2 * i + 1;
      let newest = i;
      if (left < h.length && olderFirst(h[left] as ClientInfo, h[newest] as ClientInfo) > 0) newest = left;
      if (left + 1 < h.length && olderFirst(h[left + 1] as ClientInfo, h[newest] as ClientInfo) > 0) newest = left + 1;
      if (newest === i) return;
      this.swap(i, newest);
      i = newest;
    }
  }

  private swap(i: number, j: number): void {
    const h = this.heap;
    const t = h[i] as ClientInfo;
    h[i] = h[j] as ClientInfo;
    h[j] = t;
  }
}

/**
 * The PSRT broker's sessions as rows. A session whose ACL entry has `replicator: true` is a
 * neighbour's replication link, listed as protocol `replication`.
 */
export function psrtSessionClients(broker: Broker): ClientProvider {
  return function* () {
    for (const s of broker.sessionList()) {
      yield {
        id: `psrt-${s.id}`,
        protocol: s.acl.replicator ? 'replication' : 'psrt',
        address: s.address,
        user: s.user,
        subscriptions: s.subscriptions.size,
        queue: s.data === null ? null : s.data.pending,
        connectedSince: s.connectedSince,
      };
    }
  };
}
