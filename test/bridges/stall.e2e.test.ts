/**
 * An upstream that stalls (SIGSTOP: its sockets stay open, it reads nothing) is not noticed
 * until pings go unanswered, 20 to 30 s with NATS. Meanwhile the socket congests, and exports
 * must then wait in the bridge's bounded buffer (as documented), not pile up in the client
 * without bound, counted as exported and lost when the connection is finally dropped.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { NatsCluster, until } from '../helpers/engines.js';
import type { Psrtd } from '../helpers/psrtd.js';
import { bridgeStatus, publishAll, startBridged } from './util.js';

const COUNT = 600;
const SIZE = 64 * 1024;
const BUFFER_BYTES = 4 * 1024 * 1024;

function payload(seq: number): Buffer {
  const b = Buffer.alloc(SIZE, 7);
  b.writeUInt32BE(seq, 0);
  return b;
}

describe('NATS bridge: a stalled upstream', () => {
  let cluster: NatsCluster;
  let node: Psrtd;
  let nc: NatsConnection;
  const seqs: number[] = [];

  before(async () => {
    cluster = await NatsCluster.start(1);
    node = await startBridged('stall-n', [{ name: 'n', type: 'nats', servers: cluster.urls, out: ['#'], extra: { buffer_bytes: BUFFER_BYTES } }], { max_pub_size: 2 * SIZE });
    await until(async () => (await bridgeStatus(node, 'n')).state === 'online', 15_000, 'bridge online');
    nc = await connect({ servers: cluster.urls });
    nc.subscribe('stall.seq', { callback: (_e, m) => { seqs.push(Buffer.from(m.data).readUInt32BE(0)); } });
    await nc.flush();
  });

  after(async () => {
    cluster.nodes[0]?.signal('SIGCONT');
    await nc.close();
    await node.stop();
    await cluster.stop();
  });

  test('exports to a congested socket wait in the bounded buffer and are sent in order once it drains', async () => {
    const victim = cluster.nodes[0];
    assert.ok(victim !== undefined);
    victim.signal('SIGSTOP');
    try {
      for (let i = 0; i < COUNT; i += 50) {
        await publishAll(node.port, 'stall/seq', Array.from({ length: 50 }, (_, j) => payload(i + j)));
      }
      await until(async () => {
        const s = await bridgeStatus(node, 'n');
        return s.exported + s.buffered + s.dropped === COUNT;
      }, 10_000, 'every export handed over, buffered or dropped');
      const s = await bridgeStatus(node, 'n');
      assert.ok(s.exported < COUNT / 2, `exported ${String(s.exported)} of ${String(COUNT)} into a stalled socket`);
      assert.ok(s.buffered > 0 && s.buffered_bytes <= BUFFER_BYTES, `buffered ${String(s.buffered)} (${String(s.buffered_bytes)} bytes)`);
    } finally {
      victim.signal('SIGCONT');
    }
    await until(async () => {
      const s = await bridgeStatus(node, 'n');
      return s.buffered === 0 && seqs.length === s.exported;
    }, 20_000, 'the buffer sent and received');
    const s = await bridgeStatus(node, 'n');
    assert.equal(s.state, 'online');
    assert.equal(s.exported + s.dropped, COUNT);
    assert.ok(seqs.every((v, i) => i === 0 || v > (seqs[i - 1] ?? -1)), 'in order');
  });
});
