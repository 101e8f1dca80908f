/** ClientRegistry.oldest: the same rows as sorting everything and cutting, without the sort. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ClientRegistry, type ClientInfo, type ClientProtocol } from '../../src/broker/client-registry.js';

function row(id: string, connectedSince: number, protocol: ClientProtocol = 'psrt'): ClientInfo {
  return { id, protocol, address: '127.0.0.1:1', user: 'u', subscriptions: 0, queue: null, connectedSince };
}

/** What oldest() must return: everything sorted (time, then id by code units), cut. */
function reference(rows: readonly ClientInfo[], limit: number): { ids: string[]; total: number; replication: string[] } {
  const sorted = [...rows].sort((a, b) => a.connectedSince - b.connectedSince || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const clients = sorted.filter((r) => r.protocol !== 'replication');
  return {
    ids: clients.slice(0, limit).map((r) => r.id),
    total: clients.length,
    replication: sorted.filter((r) => r.protocol === 'replication').map((r) => r.id),
  };
}

describe('ClientRegistry.oldest', () => {
  it('equals a full sort cut to the limit, over several providers, ties broken by id', () => {
    const protocols: ClientProtocol[] = ['psrt', 'mqtt', 'replication', 'bridge'];
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.tuple(fc.integer({ min: 0, max: 20 }), fc.constantFrom(...protocols)), { maxLength: 60 }), { maxLength: 4 }),
        fc.integer({ min: 0, max: 70 }),
        (groups, limit) => {
          const registry = new ClientRegistry();
          const all: ClientInfo[] = [];
          groups.forEach((group, g) => {
            const rows = group.map(([t, protocol], i) => row(`${protocol}-${String(g)}-${String(i)}`, t, protocol));
            all.push(...rows);
            registry.add(() => rows);
          });
          const got = registry.oldest(limit);
          const want = reference(all, limit);
          assert.deepEqual(
            { ids: got.rows.map((r) => r.id), total: got.total, replication: got.replication.map((r) => r.id) },
            want,
          );
        },
      ),
      { numRuns: 300, seed: 19 },
    );
  });

  it('keeps the oldest of 100,000 rows without sorting them all', () => {
    const registry = new ClientRegistry();
    const n = 100_000;
    registry.add(function* () {
      for (let i = 0; i < n; i++) yield row(`psrt-${String(i)}`, (i * 7919) % n);
    });
    const { rows, total } = registry.oldest(1000);
    assert.equal(total, n);
    assert.deepEqual(rows.map((r) => r.connectedSince), Array.from({ length: 1000 }, (_, i) => i));
  });
});
