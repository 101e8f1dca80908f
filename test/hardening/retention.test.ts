/**
 * Memory retention of ended sessions (issue 7 item 4; found by the net-fuzz soak). The broker
 * caches each published topic's subscriber list; a list cached for a topic that is not
 * published again used to keep its ended sessions (and through them their sockets and read
 * buffers) alive until the 10,000-entry topic table evicted the topic. Pass criteria: after
 * the session ends and a full GC runs, the session object is collected, for cached lists
 * (≤ 64 subscribers) and uncached ones (> 64) alike.
 */
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, test } from 'node:test';
import { FULL_ACCESS } from '../../src/auth/acl.js';
import { Broker } from '../../src/broker/broker.js';
import { stampNow } from '../../src/broker/delivery.js';
import type { DataPort } from '../../src/broker/ports.js';
import { nullLogger } from '../../src/log/logger.js';
import { publishRequest } from '../../src/protocol/control.js';
import { encodePublish } from '../../src/protocol/encode.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const control = { close: () => undefined };
const publisher = { blockedOn: 0, resume: () => undefined };
const port: DataPort = { write: () => true, destroy: () => undefined, end: () => undefined };

function broker(): Broker {
  return new Broker(
    { maxTopicDepth: 8, dataQueue: 1024, dataQueueBytes: 1 << 24, drainTimeoutMs: 1000, latencyWarnUs: 1e15, pingFloorMs: 100 },
    nullLogger,
  );
}

/** Subscribes `count` sessions to `t/#`, publishes once to `t/once`, ends them; returns weak refs. */
function subscribersOfOnePublish(b: Broker, count: number): WeakRef<object>[] {
  const refs: WeakRef<object>[] = [];
  const sessions = Array.from({ length: count }, () => b.createSession('u', 'addr', FULL_ACCESS, control));
  for (const s of sessions) {
    b.attachData(s.token, port, 255);
    b.subscribe(s, ['t/#']);
    refs.push(new WeakRef(s));
  }
  const pub = b.createSession('p', 'addr', FULL_ACCESS, control);
  b.publish(pub, publishRequest(0x7f, encodePublish(0x7f, 't/once', Buffer.from('x')).subarray(6)), publisher, stampNow());
  b.scheduler.flushNow();
  for (const s of sessions) b.endSession(s);
  b.endSession(pub);
  return refs;
}

async function collected(refs: readonly WeakRef<object>[]): Promise<number> {
  await new Promise((r) => setImmediate(r)); // WeakRef targets are kept until the job ends
  gc();
  gc();
  return refs.filter((r) => r.deref() === undefined).length;
}

describe('ended sessions are not retained', () => {
  for (const count of [3, 100]) {
    test(`${count} subscribers of a topic published once are collected after they end`, async () => {
      const b = broker();
      const refs = subscribersOfOnePublish(b, count);
      assert.equal(b.clientCount, 0);
      assert.equal(await collected(refs), count);
    });
  }
});
