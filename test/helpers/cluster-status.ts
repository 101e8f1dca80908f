/** What the cluster end-to-end suites read from a node: its /status counters, and a first delivery. */
import assert from 'node:assert/strict';
import type { PsrtPublisher, PsrtSubscriber } from './psrt-peers.js';
import type { Psrtd } from './psrtd.js';

export interface NodeCounters {
  queued: number;
  sent: number;
  not_required: number;
  dropped: number;
  lost: number;
}

export interface ClusterStatus {
  cluster: Record<string, string>;
  cluster_nodes: Record<string, NodeCounters>;
}

/** The node's /status (it must have been started with `bind_stats`). */
export async function clusterStatus(n: Psrtd): Promise<ClusterStatus> {
  const res = await fetch(`http://127.0.0.1:${String(n.statsPort)}/status`);
  return (await res.json()) as ClusterStatus;
}

/** Resolves once `cond` holds; checks every 50 ms, fails after `timeoutMs`. */
export async function until(what: string, cond: () => Promise<boolean> | boolean, timeoutMs = 15_000): Promise<void> {
  const t0 = performance.now();
  while (!(await cond())) {
    if (performance.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Publishes on `pub` every 200 ms until `sub` has one on `topic` (links come up asynchronously). */
export async function publishUntilDelivered(pub: PsrtPublisher, sub: PsrtSubscriber, topic: string): Promise<void> {
  let k = 0;
  await until(`a message on ${topic} delivered`, async () => {
    assert.equal(await pub.publish(topic, `m${String(k++)}`), 1);
    await new Promise((r) => setTimeout(r, 200));
    return sub.messages.some((m) => m.topic === topic);
  }, 30_000);
}
