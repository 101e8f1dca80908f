/**
 * The PSRT path end to end inside the broker (SUBSCRIBE/UNSUBSCRIBE lists, PUBLISH through the
 * real request decoder, data frames handed to the data sockets), over random histories with
 * ACLs: status bytes as PROTOCOL.md §5.4–5.6 (ACL on the topic as sent, then normalisation and
 * depth; partial application; unsubscribe of the exact normalised string, with the `a/#`/`a/#/b`
 * slot quirk of SERVER.md §9.2), and each session's bytes exactly the frames of the publishes
 * its slots match, once each, in order, under the normalised topic. Whatever the history, a
 * session never gets a topic that none of its `sub` masks grants (§6.2). Publishes share one
 * receive time, so consecutive ones take the broker's append-to-the-previous-entry path, and
 * the cached subscriber lists must follow every (un)subscribe.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { makeAclEntry } from '../../src/auth/acl.js';
import { Broker } from '../../src/broker/broker.js';
import type { DataPort } from '../../src/broker/ports.js';
import { stampNow } from '../../src/broker/delivery.js';
import { nullLogger } from '../../src/log/logger.js';
import { ByteQueue } from '../../src/protocol/byte-queue.js';
import { RESPONSE_ERR, RESPONSE_ERR_ACCESS, RESPONSE_OK } from '../../src/protocol/constants.js';
import { ControlDecoder } from '../../src/protocol/control.js';
import { encodeDataFrame, encodePublish } from '../../src/protocol/encode.js';
import { rawOf, specAclMatch, specNormalize, specPsrtMatch } from '../topics/spec-oracle.js';

class Port implements DataPort {
  readonly chunks: Buffer[] = [];
  write(frames: readonly Buffer[], written?: () => void): boolean {
    for (const f of frames) this.chunks.push(Buffer.from(f));
    written?.();
    return true;
  }
  destroy(): void {
    /* nothing to close */
  }
  end(): void {
    /* nothing to close */
  }
}

const MAX_DEPTH = 3;
const SESSIONS = 3;
const level = fc.constantFrom('a', 'b', '', '$', 'é');
const mask = fc.oneof(fc.constant('#'), rawOf(fc.oneof(level, fc.constantFrom('+', '#')), 4).filter((m) => m.length > 0));
const subRaw = rawOf(fc.oneof({ weight: 3, arbitrary: level }, { weight: 1, arbitrary: fc.constantFrom('+', '#') }), 6);
/** Few distinct topics, so that they repeat across (un)subscribes (cached subscriber lists). */
const pubRaw = rawOf(fc.constantFrom('a', 'b', '', '$'), 3).filter((t) => t.length > 0);
type Action =
  | { kind: 'sub' | 'unsub'; who: number; raws: string[] }
  | { kind: 'pub'; raw: string };
const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('sub' as const), who: fc.nat(SESSIONS - 1), raws: fc.array(subRaw, { minLength: 1, maxLength: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('unsub' as const), who: fc.nat(SESSIONS - 1), raws: fc.array(subRaw, { minLength: 1, maxLength: 3 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('pub' as const), raw: pubRaw }) },
);

/** What a session holds: the normalised strings, and the tree slots they landed in. */
interface Model { masks: string[]; held: Set<string>; slots: Set<string>; frames: Buffer[] }

const slotOf = (m: string): string => {
  const levels = m.split('/');
  const hash = levels.indexOf('#');
  return hash < 0 ? m : levels.slice(0, hash + 1).join('/');
};
const depth = (t: string): number => t.split('/').length - 1;

/** §5.4/§5.5 applied to the model: the status byte it expects. */
function apply(model: Model, kind: 'sub' | 'unsub', raws: readonly string[], allowed: (raw: string) => boolean): number {
  for (const raw of raws) {
    if (kind === 'sub' && !allowed(raw)) return RESPONSE_ERR_ACCESS;
    const m = specNormalize(raw);
    if (depth(m) > MAX_DEPTH) return RESPONSE_ERR;
    if (kind === 'sub' && !model.held.has(m)) {
      model.held.add(m);
      model.slots.add(slotOf(m));
    } else if (kind === 'unsub' && model.held.delete(m)) model.slots.delete(slotOf(m));
  }
  return RESPONSE_OK;
}

test('property: PSRT sessions get exactly the frames their subscriptions match, once, in order, never past the ACL', () => {
  fc.assert(
    fc.property(fc.array(fc.array(mask, { minLength: 1, maxLength: 3 }), { minLength: SESSIONS, maxLength: SESSIONS }), fc.array(mask, { minLength: 1, maxLength: 3 }), fc.array(action, { maxLength: 50 }), (subMasks, pubMasks, actions) => {
      const broker = new Broker({ maxTopicDepth: MAX_DEPTH, dataQueue: 1 << 20, dataQueueBytes: 1 << 30, drainTimeoutMs: 1000, latencyWarnUs: 1e15, pingFloorMs: 100 }, nullLogger);
      const control = { close: () => undefined };
      const models: Model[] = subMasks.map((masks) => ({ masks, held: new Set(), slots: new Set(), frames: [] }));
      const ports = subMasks.map(() => new Port());
      const sessions = subMasks.map((masks, i) => {
        const s = broker.createSession(`s${i}`, 'addr', makeAclEntry({ sub: masks }), control);
        assert.ok(broker.attachData(s.token, ports[i]!, 255) !== null);
        return s;
      });
      const pub = broker.createSession('pub', 'addr', makeAclEntry({ pub: pubMasks }), control);
      const received = stampNow();
      try {
        let n = 0;
        for (const a of actions) {
          if (a.kind === 'pub') {
            const payload = Buffer.from(`m${n++}`);
            const queue = new ByteQueue();
            queue.push(encodePublish(0x7f, a.raw, payload));
            const req = new ControlDecoder(queue, { maxPubSize: 1 << 16, maxTopicLength: 1000 }).next();
            assert.ok(req?.kind === 'publish');
            const topic = specNormalize(a.raw);
            const expected = depth(topic) > MAX_DEPTH ? RESPONSE_ERR : pubMasks.some((m) => specAclMatch(m, topic)) ? RESPONSE_OK : RESPONSE_ERR_ACCESS;
            assert.equal(broker.publish(pub, req, { blockedOn: 0, resume: () => undefined }, received), expected, `publish ${a.raw}`);
            if (expected !== RESPONSE_OK) continue;
            for (const m of models) if ([...m.slots].some((s) => specPsrtMatch(s, topic))) m.frames.push(encodeDataFrame(0x7f, topic, payload));
          } else {
            const session = sessions[a.who]!;
            const expected = apply(models[a.who]!, a.kind, a.raws, (raw) => session.acl.canSubscribe(raw));
            const got = a.kind === 'sub' ? broker.subscribe(session, a.raws) : broker.unsubscribe(session, a.raws);
            assert.equal(got, expected, `${a.kind} ${JSON.stringify(a.raws)}`);
          }
        }
        broker.scheduler.flushNow();
        models.forEach((m, i) => {
          assert.deepEqual(Buffer.concat(ports[i]!.chunks), Buffer.concat(m.frames), `session ${i}`);
          // Independent of the model and of canSubscribe: every topic that reached the session
          // is granted by one of its masks (frame: 01, priority, u32 length, topic, 00, message).
          for (const f of m.frames) {
            const topic = f.subarray(6, f.indexOf(0, 6)).toString();
            assert.ok(m.masks.some((mk) => specAclMatch(mk, topic)), `session ${i} got ${topic} past ${JSON.stringify(m.masks)}`);
          }
        });
      } finally {
        broker.closeAll();
      }
    }),
    { seed: 0x5e55, numRuns: 300 },
  );
});
