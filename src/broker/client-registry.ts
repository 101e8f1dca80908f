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

  /** Every row of every provider, oldest connection first. */
  list(): ClientInfo[] {
    const rows: ClientInfo[] = [];
    for (const p of this.providers) for (const row of p()) rows.push(row);
    // Ties by code unit order: localeCompare (ICU collation) took ~60 ms for 1,000 long client ids.
    return rows.sort((a, b) => a.connectedSince - b.connectedSince || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
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
