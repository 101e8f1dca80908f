/**
 * Ended sessions with many subscriptions leave the index a slice per event-loop turn
 * (SubscriptionRetirer), and the broker neither delivers to them nor counts their messages as
 * undeliverable meanwhile.
 */
import assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, test } from 'node:test';
import { FULL_ACCESS } from '../../src/auth/acl.js';
import { Broker } from '../../src/broker/broker.js';
import { stampNow } from '../../src/broker/delivery.js';
import { SubscriptionRetirer } from '../../src/broker/subscription-retirer.js';
import { nullLogger } from '../../src/log/logger.js';
import { ByteQueue } from '../../src/protocol/byte-queue.js';
import { ControlDecoder } from '../../src/protocol/control.js';
import { encodePublish } from '../../src/protocol/encode.js';
import { SubscriptionIndex } from '../../src/topics/index.js';

interface FakeSession {
  matchStamp: number;
  readonly subscriptions: Set<string>;
}

function sessionWith(index: SubscriptionIndex<FakeSession>, masks: readonly string[]): FakeSession {
  const s: FakeSession = { matchStamp: 0, subscriptions: new Set(masks) };
  for (const m of masks) index.subscribe(m, s);
  return s;
}

const masks = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}/${i}/v`);

describe('SubscriptionRetirer', () => {
  test('removes perTurn masks per turn, in order of retirement, and reports each slice', async () => {
    const index = new SubscriptionIndex<FakeSession>();
    let slices = 0;
    const retirer = new SubscriptionRetirer<FakeSession>((m, s) => { index.unsubscribe(m, s); }, () => { slices++; }, 100);
    const a = sessionWith(index, masks('a', 250));
    const b = sessionWith(index, masks('b', 40));
    retirer.retire(a);
    retirer.retire(b);
    const out: FakeSession[] = [];
    assert.equal(index.match('a/0/v', out), 1, 'nothing is removed in the turn of retirement');
    await nextTurn();
    assert.equal(slices, 1);
    assert.equal(index.match('a/0/v', (out.length = 0, out)), 0, 'the first slice is gone');
    assert.equal(index.match('a/100/v', (out.length = 0, out)), 1, 'the rest is not yet');
    await nextTurn();
    await nextTurn();
    assert.equal(a.subscriptions.size, 0, 'the set is cleared when the last mask is out');
    assert.equal(retirer.backlog, 1);
    assert.equal(index.match('b/0/v', (out.length = 0, out)), 1, 'b waits for a');
    await nextTurn();
    assert.equal(retirer.backlog, 0);
    assert.equal(b.subscriptions.size, 0);
    assert.equal(index.nodeCount, 0, 'every node pruned');
    assert.equal(slices, 4);
  });

  test('another session on the same masks keeps its subscriptions', async () => {
    const index = new SubscriptionIndex<FakeSession>();
    const retirer = new SubscriptionRetirer<FakeSession>((m, s) => { index.unsubscribe(m, s); }, () => undefined, 64);
    const gone = sessionWith(index, masks('x', 300));
    const stays = sessionWith(index, ['x/7/v', 'x/+/v']);
    retirer.retire(gone);
    while (retirer.backlog > 0) await nextTurn();
    const out: FakeSession[] = [];
    assert.equal(index.match('x/7/v', out), 1);
    assert.equal(out[0], stays);
  });
});

describe('Broker: a session with more subscriptions than one slice ends', () => {
  test('its masks are not delivered to nor counted undeliverable while they retire; /status counts 0 at once', async () => {
    const broker = new Broker(
      { maxTopicDepth: 8, dataQueue: 1024, dataQueueBytes: 1 << 30, drainTimeoutMs: 1000, latencyWarnUs: 1e15, pingFloorMs: 100 },
      nullLogger,
    );
    try {
      const control = { close: () => undefined };
      const big = broker.createSession('big', 'addr', FULL_ACCESS, control);
      assert.equal(broker.subscribe(big, masks('t', 5000)), 1);
      assert.equal(broker.subscriptionCount, 5000);
      broker.endSession(big);
      assert.equal(broker.subscriptionCount, 0);
      const pub = broker.createSession('pub', 'addr', FULL_ACCESS, control);
      const queue = new ByteQueue();
      queue.push(encodePublish(0x7f, 't/4999/v', Buffer.from('late')));
      const req = new ControlDecoder(queue, { maxPubSize: 1000, maxTopicLength: 1000 }).next();
      assert.ok(req?.kind === 'publish');
      const before = broker.counters.undeliverable;
      assert.equal(broker.publish(pub, req, { blockedOn: 0, resume: () => undefined }, stampNow()), 1);
      assert.equal(broker.counters.undeliverable, before, 'an ended session is not an undeliverable subscriber');
      for (let i = 0; i < 10 && big.subscriptions.size > 0; i++) await nextTurn();
      assert.equal(big.subscriptions.size, 0, 'retired within a few turns');
    } finally {
      broker.closeAll();
    }
  });
});
