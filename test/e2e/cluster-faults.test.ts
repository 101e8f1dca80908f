/**
 * Replication between real psrtd nodes when a neighbour misbehaves: our user is not a replicator
 * there, or its password is wrong (both fixed on the neighbour by SIGHUP); the neighbour is
 * stopped (SIGSTOP) and resumed. The node keeps serving its own clients, its queue for the
 * neighbour stays bounded (and at most 8 MiB of payload waits for its answers), every message is
 * counted once in /status.cluster_nodes, and messages flow again once the neighbour is back.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { hashSync } from '@node-rs/bcrypt';
import { clusterStatus as status, publishUntilDelivered, until, type NodeCounters } from '../helpers/cluster-status.js';
import { PsrtPublisher, PsrtSubscriber } from '../helpers/psrt-peers.js';
import { startPsrtd, type Psrtd } from '../helpers/psrtd.js';
import { PASSWORD, makePasswd } from '../helpers/users.js';

const OPEN = '_:\n  sub: ["#"]\n  pub: ["#"]\n';
const ACL = `${OPEN}repl:\n  replicator: true\n`;

async function countersOf(n: Psrtd, neighbour: Psrtd): Promise<NodeCounters> {
  const c = (await status(n)).cluster_nodes[`127.0.0.1:${String(neighbour.port)}`];
  assert.ok(c !== undefined, 'cluster_nodes lists the neighbour');
  return c;
}

function total(c: NodeCounters): number {
  return c.queued + c.sent + c.not_required + c.dropped + c.lost;
}

/** A node replicating to `neighbour` as `repl` with `password`. */
function nodeTo(neighbour: Psrtd, password: string, server: Record<string, number> = {}, timeout = 5): Promise<Psrtd> {
  return startPsrtd({
    server: { bind_stats: '127.0.0.1:0', ...server },
    proto: { timeout },
    cluster: `- path: 127.0.0.1:${String(neighbour.port)}\n  user: repl\n  password: ${password}\n`,
  });
}



describe('a neighbour where our user is not a replicator', () => {
  test('refuses: nothing is delivered there, the message is counted lost; fixed by SIGHUP there, the pipelined link comes up', async () => {
    const b = await startPsrtd({ acl: `${OPEN}repl:\n  sub: ["#"]\n`, passwd: makePasswd(), proto: { timeout: 10 } });
    const a = await nodeTo(b, PASSWORD);
    const sub = await PsrtSubscriber.open(b.port, ['t/#']);
    const pub = await PsrtPublisher.open(a.port);
    try {
      assert.equal(await pub.publish('t/x', 'one'), 1);
      await a.waitForLog(/refuses replication: the user is not a replicator/, 10_000);
      await b.waitForLog(/replication access deneid for t\/x to repl@/, 10_000);
      const c = await countersOf(a, b);
      assert.deepEqual(c, { queued: 0, sent: 0, not_required: 0, dropped: 0, lost: 1 });
      assert.equal((await status(a)).cluster[`127.0.0.1:${String(b.port)}`], 'unavailable');
      assert.equal(sub.messages.length, 0);
      // Steady traffic while it refuses: logged once, retried with a growing back-off.
      for (let i = 0; i < 30; i++) {
        assert.equal(await pub.publish('t/x', 'more'), 1);
        await new Promise((r) => setTimeout(r, 100));
      }
      // Once, not once per retry (it was retried every 250 ms, with 8 logins each time).
      assert.equal(a.output.filter((l) => l.includes('refuses replication')).length, 1, a.output.join('\n'));

      writeFileSync(join(b.dir, 'acl.yml'), ACL);
      b.proc.kill('SIGHUP');
      await b.waitForLog(/SIGHUP reload done in/, 10_000);
      await publishUntilDelivered(pub, sub, 't/y');
      // Probed again after the refusal: one pipelined link now, not 8 PUBLISH_REPL links for good.
      assert.ok(a.output.some((l) => l.includes('supports pipelined replication')), a.output.join('\n'));
    } finally {
      sub.close();
      pub.close();
      await a.stop();
      await b.stop();
    }
  });
});

describe('a neighbour that refuses our password', () => {
  test('nothing is delivered there; once its password file has ours (SIGHUP there), the waiting messages go', async () => {
    const b = await startPsrtd({ acl: ACL, passwd: makePasswd(), proto: { timeout: 10 } });
    const a = await nodeTo(b, 'wrong');
    const sub = await PsrtSubscriber.open(b.port, ['p/#']);
    const pub = await PsrtPublisher.open(a.port);
    try {
      assert.equal(await pub.publish('p/early', 'waits', 0x20), 1);
      await a.waitForLog(/refuses replication: login as "repl" refused/, 10_000);
      assert.equal((await status(a)).cluster[`127.0.0.1:${String(b.port)}`], 'unavailable');
      assert.deepEqual(await countersOf(a, b), { queued: 1, sent: 0, not_required: 0, dropped: 0, lost: 0 });
      assert.equal(sub.messages.length, 0);

      writeFileSync(join(b.dir, 'passwd'), `repl:${hashSync('wrong', 4)}\n`);
      b.proc.kill('SIGHUP');
      await b.waitForLog(/SIGHUP reload done in/, 10_000);
      await sub.waitFor(1, 30_000);
      assert.deepEqual(sub.messages[0], { topic: 'p/early', priority: 0x20, payload: Buffer.from('waits') });
      assert.equal(a.output.filter((l) => l.includes('refuses replication')).length, 1, a.output.join('\n'));
    } finally {
      sub.close();
      pub.close();
      await a.stop();
      await b.stop();
    }
  });
});

describe('a neighbour stopped by SIGSTOP', () => {
  test('local clients are served, the queue stays bounded, every message is counted once; delivery resumes after SIGCONT', async () => {
    // T is 2 s on both nodes, so a stop is noticed quickly; the subscribers' sessions send NOPs.
    const b = await startPsrtd({ acl: ACL, passwd: makePasswd(), proto: { timeout: 2 } });
    const a = await nodeTo(b, PASSWORD, { data_queue: 20 }, 2);
    const farSub = await PsrtSubscriber.open(b.port, ['s/#']);
    const nearSub = await PsrtSubscriber.open(a.port, ['s/#']);
    const keepAlive = setInterval(() => {
      for (const sub of [farSub, nearSub]) sub.ctl.send('00');
    }, 500);
    const node = `127.0.0.1:${String(b.port)}`;
    const onTopic = (sub: PsrtSubscriber, topic: string): number => sub.messages.filter((m) => m.topic === topic).length;
    /** Publishes on A with a fresh session (one idle for T is closed); A's own subscriber gets each at once. */
    const burst = async (topic: string, count: number): Promise<void> => {
      const pub = await PsrtPublisher.open(a.port);
      for (let i = 0; i < count; i++) assert.equal(await pub.publish(topic, String(i)), 1);
      pub.close();
      await until(`local delivery on ${topic}`, () => onTopic(nearSub, topic) === count, 3000);
    };
    /** Every message published on A is accounted for exactly once, and nothing waits any more. */
    const settled = (): Promise<void> =>
      until('every message counted', async () => {
        const c = await countersOf(a, b);
        return c.queued === 0 && total(c) === nearSub.messages.length;
      }, 30_000);
    try {
      const pub = await PsrtPublisher.open(a.port);
      await publishUntilDelivered(pub, farSub, 's/warm');
      pub.close();
      await settled();

      b.proc.kill('SIGSTOP');
      // Idle: the keep-alive goes unanswered and the link is dropped; no message was lost.
      await until('the neighbour offline', async () => (await status(a)).cluster[node] !== 'online');
      assert.equal((await countersOf(a, b)).lost, 0, 'an unanswered keep-alive is not a lost message');
      await burst('s/while', 100);
      const during = await countersOf(a, b);
      assert.equal(during.queued, 20, 'data_queue messages wait for the neighbour');
      assert.equal(during.dropped, 80, 'the rest is dropped and counted');
      b.proc.kill('SIGCONT');
      await settled();
      assert.equal(onTopic(farSub, 's/while'), 20, 'the queued messages are delivered after SIGCONT');

      // Stopped while online: what is in flight on the link is lost (and counted) when it breaks.
      await until('the neighbour online', async () => (await status(a)).cluster[node] === 'online');
      b.proc.kill('SIGSTOP');
      await burst('s/inflight', 10);
      await until('the neighbour offline', async () => (await status(a)).cluster[node] !== 'online');
      b.proc.kill('SIGCONT');
      await settled();
      const after = await countersOf(a, b);
      assert.equal(after.lost, 10);
      assert.equal(onTopic(farSub, 's/inflight'), 0);
      assert.equal(farSub.messages.length, after.sent, 'each message sent is delivered there once');
      // And the link works again.
      const again = await PsrtPublisher.open(a.port);
      await publishUntilDelivered(again, farSub, 's/again');
      again.close();
    } finally {
      clearInterval(keepAlive);
      b.proc.kill('SIGCONT');
      farSub.close();
      nearSub.close();
      await a.stop();
      await b.stop();
    }
  });

  test('while it does not answer, at most 8 MiB of payload leaves the queue for it', async () => {
    const big = { max_pub_size: 1_100_000 };
    const b = await startPsrtd({ acl: ACL, passwd: makePasswd(), server: big, proto: { timeout: 10 } });
    const a = await nodeTo(b, PASSWORD, { ...big, data_queue_bytes: 100_000_000 }, 10);
    const farSub = await PsrtSubscriber.open(b.port, ['#']);
    const pub = await PsrtPublisher.open(a.port);
    try {
      await publishUntilDelivered(pub, farSub, 'warm');
      b.proc.kill('SIGSTOP');
      for (let i = 0; i < 40; i++) assert.equal(await pub.publish('big', Buffer.alloc(1_000_000, i)), 1);
      const c = await countersOf(a, b);
      // 8 MiB taken off the queue (9 messages: the bound is checked before each one), the rest waits.
      assert.equal(c.queued, 31, JSON.stringify(c));
    } finally {
      b.proc.kill('SIGCONT');
      farSub.close();
      pub.close();
      await a.stop();
      await b.stop();
    }
  });
});
