/**
 * Which NATS server a bridge dials first after losing its connection.
 *
 * The NATS client retries the server it lost before moving down its list. After a crash that
 * costs a refused connection; after a stall (a hung process or a link that drops everything)
 * it costs a whole `connect_timeout`, spent on the one node known to be unwell while the rest
 * of the cluster is fine. A bridge has no reason to prefer one node of a cluster (the cluster
 * routes every subject), so its first attempt after a loss goes to another server of the pool;
 * later attempts follow the client's own rotation, which comes back to the lost one in turn.
 */
import type { Server } from '@nats-io/transport-node';

export class FailoverPicker {
  /** `listen` (host:port) of the server of the last established connection, until it is lost. */
  private current: string | null = null;

  /** The connection to `listen` (as `nc.getServer()` names it) is established. */
  connectedTo(listen: string): void {
    this.current = listen;
  }

  /**
   * The client's `reconnectToServer` hook: `pool[0]` is what the client would dial. Null keeps
   * its choice (the first connection, and every attempt after the first one after a loss).
   */
  pick(pool: readonly Server[]): Server | null {
    const lost = this.current;
    this.current = null;
    if (lost === null || pool[0]?.listen !== lost) return null;
    return pool.find((s) => s.listen !== lost) ?? null;
  }
}
