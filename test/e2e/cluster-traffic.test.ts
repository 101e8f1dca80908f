/**
 * What crosses between two real psrtd nodes, and how it is counted: many topics, MB payloads and
 * their priorities arrive intact and once; the payload crosses only where a subscriber wants it
 * (sent vs not_required in /status.cluster_nodes and /metrics); a local subscriber gets only what
 * its ACL let it subscribe to; a message larger than the neighbour's max_pub_size is lost (and
 * counted), not retried, and the link comes back. SIGHUP does not reload the cluster file.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { PsrtPublisher, PsrtSubscriber } from '../helpers/psrt-peers.js';
import { startPsrtd, type Psrtd } from '../helpers/psrtd.js';
import { login, topicsFrame } from '../helpers/raw.js';
import { clusterStatus, publishUntilDelivered, until } from '../helpers/cluster-status.js';
import { plain } from '../helpers/udp-fixture.js';
import { ACK_OK, UdpPeer } from '../helpers/udp-peer.js';
import { PASSWORD, TEST_ACL, makePasswd } from '../helpers/users.js';



function clusterEntry(neighbour: Psrtd): string {
  return `- path: 127.0.0.1:${String(neighbour.port)}\n  user: repl\n  password: ${PASSWORD}\n`;
}



describe('traffic between two nodes', () => {
  test('many topics and MB payloads arrive once with their priority; sent and not_required are counted', async () => {
    const server = { max_pub_size: 5_000_000, bind_stats: '127.0.0.1:0' };
    const b = await startPsrtd({ acl: TEST_ACL, passwd: makePasswd(), server, proto: { timeout: 10 } });
    const a = await startPsrtd({ server, proto: { timeout: 10 }, cluster: clusterEntry(b) });
    const wide = await PsrtSubscriber.open(b.port, ['m/#']);
    const limited = await PsrtSubscriber.open(b.port, ['allowed/#'], 'limited', PASSWORD);
    const pub = await PsrtPublisher.open(a.port);
    const node = `127.0.0.1:${String(b.port)}`;
    try {
      // The ACL applies to replicated messages as to local ones: `limited` may not subscribe to m/#.
      const denied = (await login(b.port, 'limited', PASSWORD)).ctl;
      denied.send(topicsFrame(2, ['m/#']));
      assert.equal((await denied.read(1))[0], 0xfe);
      denied.destroy();

      const big = [0x01, 0x40, 0xff].map((prio, i) => ({ prio, payload: Buffer.alloc(4_000_000 + i, 0x61 + i) }));
      for (let i = 0; i < 500; i++) assert.equal(await pub.publish(`m/t${String(i)}`, String(i), i % 256), 1);
      for (let i = 0; i < 200; i++) assert.equal(await pub.publish('nobody/here', String(i)), 1);
      for (const m of big) assert.equal(await pub.publish('m/big', m.payload, m.prio), 1);
      assert.equal(await pub.publish('allowed/x', 'for limited'), 1);
      await wide.waitFor(503, 30_000);
      await limited.waitFor(1, 10_000);
      await until('all counted', async () => (await clusterStatus(a)).cluster_nodes[node]?.queued === 0);
      await new Promise((r) => setTimeout(r, 300)); // duplicates would arrive late

      assert.equal(wide.messages.length, 503);
      const small = wide.messages.filter((m) => m.topic !== 'm/big');
      assert.deepEqual(small.map((m) => [m.topic, m.payload.toString(), m.priority]), Array.from({ length: 500 }, (_, i) => [`m/t${String(i)}`, String(i), i % 256]));
      const bigGot = wide.messages.filter((m) => m.topic === 'm/big');
      assert.deepEqual(bigGot.map((m) => m.priority), big.map((m) => m.prio));
      assert.ok(bigGot.every((m, i) => m.payload.equals(big[i]?.payload ?? Buffer.alloc(0))), 'MB payloads intact');
      assert.deepEqual(limited.messages.map((m) => m.topic), ['allowed/x']);

      const counters = (await clusterStatus(a)).cluster_nodes[node];
      assert.deepEqual(counters, { queued: 0, sent: 504, not_required: 200, dropped: 0, lost: 0 });
      const metrics = await (await fetch(`http://127.0.0.1:${String(a.statsPort)}/metrics`)).text();
      assert.match(metrics, new RegExp(`psrt_cluster_messages_total\\{node="${node}",result="sent"\\} 504\\n`));
      assert.match(metrics, new RegExp(`psrt_cluster_messages_total\\{node="${node}",result="not_required"\\} 200\\n`));
      assert.match(metrics, new RegExp(`psrt_cluster_node_state\\{node="${node}",state="online"\\} 1\\n`));
    } finally {
      for (const c of [wide, limited, pub]) c.close();
      await a.stop();
      await b.stop();
    }
  });

  test("a message over the neighbour's max_pub_size is lost and counted; the link comes back", async () => {
    const b = await startPsrtd({ passwd: makePasswd(), acl: TEST_ACL, server: { max_pub_size: 1_000_000 }, proto: { timeout: 10 } });
    const a = await startPsrtd({ server: { max_pub_size: 3_000_000, bind_stats: '127.0.0.1:0' }, proto: { timeout: 10 }, cluster: clusterEntry(b) });
    const sub = await PsrtSubscriber.open(b.port, ['#']);
    const pub = await PsrtPublisher.open(a.port);
    const node = `127.0.0.1:${String(b.port)}`;
    try {
      await publishUntilDelivered(pub, sub, 'warm');
      assert.equal(await pub.publish('too/big', Buffer.alloc(2_000_000, 1)), 1);
      await a.waitForLog(/cluster: \S+ link lost/, 10_000);
      await publishUntilDelivered(pub, sub, 'after');
      assert.ok(!sub.messages.some((m) => m.topic === 'too/big'));
      const c = (await clusterStatus(a)).cluster_nodes[node];
      assert.equal(c?.lost, 1);
    } finally {
      sub.close();
      pub.close();
      await a.stop();
      await b.stop();
    }
  });
});

describe('a neighbour on a unix socket', () => {
  test('is reached by its socket path, named by it in /status.cluster; UDP publishes are replicated too', async () => {
    const b = await startPsrtd({ acl: TEST_ACL, passwd: makePasswd(), unix: true, proto: { timeout: 10 } });
    const path = b.unixPath ?? '';
    const a = await startPsrtd({
      server: { bind_stats: '127.0.0.1:0' },
      proto: { timeout: 10 },
      udp: true,
      cluster: `- path: ${path}\n  user: repl\n  password: ${PASSWORD}\n`,
    });
    const sub = await PsrtSubscriber.open(b.port, ['u/#']);
    const pub = await PsrtPublisher.open(a.port);
    try {
      await publishUntilDelivered(pub, sub, 'u/x');
      assert.deepEqual((await clusterStatus(a)).cluster, { [path]: 'online' });
      const udp = await UdpPeer.open(a.udpPort);
      await udp.send(plain('', '', 'u/udp', 'by datagram', true, 0x33));
      assert.deepEqual(await udp.next(), ACK_OK);
      udp.close();
      await until('the UDP publish replicated', () => sub.messages.some((m) => m.topic === 'u/udp'));
      assert.deepEqual(sub.messages.find((m) => m.topic === 'u/udp'), { topic: 'u/udp', priority: 0x33, payload: Buffer.from('by datagram') });
    } finally {
      sub.close();
      pub.close();
      await a.stop();
      await b.stop();
    }
  });
});

describe('SIGHUP and the cluster file', () => {
  test('the cluster file is read at start only: a neighbour added or removed by a reload is not used', async () => {
    const b = await startPsrtd({ acl: TEST_ACL, passwd: makePasswd(), proto: { timeout: 10 } });
    const c = await startPsrtd({ acl: TEST_ACL, passwd: makePasswd(), proto: { timeout: 10 } });
    const a = await startPsrtd({ server: { bind_stats: '127.0.0.1:0' }, proto: { timeout: 10 }, cluster: clusterEntry(b) });
    const subB = await PsrtSubscriber.open(b.port, ['#']);
    const subC = await PsrtSubscriber.open(c.port, ['#']);
    const pub = await PsrtPublisher.open(a.port);
    try {
      await publishUntilDelivered(pub, subB, 'before');
      writeFileSync(join(a.dir, 'cluster.yml'), clusterEntry(c));
      a.proc.kill('SIGHUP');
      await a.waitForLog(/SIGHUP reload done in/, 10_000);
      await publishUntilDelivered(pub, subB, 'after');
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(subC.messages.length, 0, 'the neighbour added by the reload gets nothing');
      assert.deepEqual((await clusterStatus(a)).cluster, { [`127.0.0.1:${String(b.port)}`]: 'online' });
    } finally {
      for (const x of [subB, subC, pub]) x.close();
      await a.stop();
      await b.stop();
      await c.stop();
    }
  });
});
