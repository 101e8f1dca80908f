/**
 * The cluster module: hands every locally accepted message to each neighbour's queue after
 * local fan-out, asynchronously to the publisher's reply (Decision 1). Messages that arrived by
 * replication never reach this hook, so nothing is forwarded twice and there are no loops.
 */
import type { BrokerLogger, PublishHook } from '../broker/ports.js';
import type { NeighbourConfig } from './cluster-config.js';
import { Neighbour, type NeighbourStats, type NodeState, type QueueLimits } from './neighbour.js';

export interface ClusterNodeStatus {
  readonly path: string;
  readonly state: NodeState;
  readonly queued: number;
  readonly stats: Readonly<NeighbourStats>;
}

export class Replicator implements PublishHook {
  private readonly neighbours: Neighbour[];

  constructor(configs: readonly NeighbourConfig[], limits: QueueLimits, timeoutMs: number, log: BrokerLogger) {
    this.neighbours = configs.map((c) => new Neighbour(c, limits, timeoutMs, log));
  }

  onLocalPublish(priority: number, topic: string, payload: Buffer | readonly Buffer[], timestampUs: number): void {
    if (this.neighbours.length === 0) return;
    // The payload is a view into the publisher's read buffer: copy once, share between nodes.
    const message = {
      priority,
      topic,
      payload: Buffer.isBuffer(payload) ? Buffer.from(payload) : Buffer.concat(payload),
      timestampNs: BigInt(Math.round(timestampUs)) * 1000n,
    };
    for (const n of this.neighbours) n.offer(message);
  }

  /** `/status.cluster`: neighbour path → state. */
  statusMap(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const n of this.neighbours) out[n.config.path] = n.state;
    return out;
  }

  nodes(): ClusterNodeStatus[] {
    return this.neighbours.map((n) => ({ path: n.config.path, state: n.state, queued: n.queued, stats: n.stats }));
  }

  stop(): void {
    for (const n of this.neighbours) n.stop();
  }
}
