/**
 * An MQTT session with more subscriptions than one slice ends (disconnect, takeover, expiry all
 * come to MqttRouter.endSession): its subscriptions leave the index a slice per turn.
 * Pass criteria: the subscription count drops at once; a message published meanwhile to one of
 * its filters is not delivered to it, and a shared group it belonged to hands the message to
 * another member; after the last slice no filter of it matches any more; a small session is
 * still removed at once.
 */
import assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, test } from 'node:test';
import { FULL_ACCESS } from '../../src/auth/acl.js';
import { Broker } from '../../src/broker/broker.js';
import { stampNow } from '../../src/broker/delivery.js';
import { nullLogger } from '../../src/log/logger.js';
import { MqttMessage } from '../../src/mqtt/message.js';
import { MqttRouter } from '../../src/mqtt/router.js';
import type { MqttSession } from '../../src/mqtt/session.js';

const OPTS = { qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0, identifier: 0 } as const;

function setup(): { broker: Broker; router: MqttRouter } {
  const broker = new Broker(
    { maxTopicDepth: 8, dataQueue: 1024, dataQueueBytes: 1 << 30, drainTimeoutMs: 1000, latencyWarnUs: 1e15, pingFloorMs: 100 },
    nullLogger,
  );
  const router = new MqttRouter(broker, { queue: { maxQueued: 100, maxQueuedBytes: 0, pauseAt: 50, drainTimeoutMs: 1000 }, retainedMaxCount: 10, retainedMaxBytes: 1e6, maxTopicDepth: 8 }, nullLogger);
  return { broker, router };
}

/** Counts what the router hands to `s`. */
function spy(s: MqttSession): string[] {
  const got: string[] = [];
  s.deliver = (msg: MqttMessage) => { got.push(msg.rawTopic); };
  return got;
}

function publish(router: MqttRouter, topic: string): void {
  router.publish(new MqttMessage(topic, Buffer.from('x'), 1, false, 0x7f, stampNow(), null, null), null);
}

describe('MqttRouter: a session with many subscriptions ends', () => {
  test('not delivered to while retiring, shared groups skip it, index empty after', async () => {
    const { router } = setup();
    const big = router.openSession('big', true, 'u', FULL_ACCESS).session;
    const other = router.openSession('other', true, 'u', FULL_ACCESS).session;
    for (let i = 0; i < 5000; i++) router.subscribe(big, `t/${i}/v`, OPTS);
    router.subscribe(big, '$share/g/s/#', OPTS);
    router.subscribe(other, '$share/g/s/#', OPTS);
    const toBig = spy(big);
    const toOther = spy(other);
    assert.equal(router.subscriptionCount, 5002);
    router.endSession(big, false);
    assert.equal(router.subscriptionCount, 1, 'counted off at once');
    assert.equal(router.sessions.has('big'), false);
    assert.ok(router.hasSubscribers('t/4999/v'), 'still in the index (retiring)');
    publish(router, 't/4999/v');
    for (let i = 0; i < 4; i++) publish(router, `s/${i}`);
    assert.deepEqual(toBig, [], 'an ended session gets nothing');
    assert.deepEqual(toOther, ['s/0', 's/1', 's/2', 's/3'], 'the shared group uses its live member');
    for (let turn = 0; turn < 10 && router.hasSubscribers('t/4999/v'); turn++) await nextTurn();
    assert.equal(router.hasSubscribers('t/4999/v'), false);
    assert.equal(router.hasSubscribers('t/0/v'), false);
    assert.equal(big.subscriptions.size, 0);
    assert.equal(router.subscriptionCount, 1);
    publish(router, 's/4');
    assert.deepEqual(toOther.length, 5);
  });

  test('a session with few subscriptions is removed at once', () => {
    const { router } = setup();
    const s = router.openSession('small', true, 'u', FULL_ACCESS).session;
    for (let i = 0; i < 10; i++) router.subscribe(s, `a/${i}`, OPTS);
    assert.equal(s.subscriptionChars, 'a/0'.length * 10);
    router.endSession(s, false);
    assert.equal(router.hasSubscribers('a/3'), false);
    assert.equal(s.subscriptions.size, 0);
    assert.equal(s.subscriptionChars, 0);
  });
});
