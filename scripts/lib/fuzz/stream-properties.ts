/**
 * Fuzz properties of the stream decoders (control socket, data socket, limits), on top of the
 * codec properties in test/protocol/property.test.ts: whole sessions through a real Broker,
 * mutated valid streams, split independence, and LEN limits checked before any body arrives.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FULL_ACCESS, makeAclEntry } from '../../../src/auth/acl.js';
import { ByteQueue } from '../../../src/protocol/byte-queue.js';
import { MAX_LOGIN_FRAME } from '../../../src/protocol/constants.js';
import { ControlDecoder, type ControlLimits, type DetachedRequest } from '../../../src/protocol/control.js';
import { DataDecoder } from '../../../src/protocol/data-decoder.js';
import { readLoginFrame } from '../../../src/protocol/handshake.js';
import { hasWildcardChar, normalizeTopic, topicDepth } from '../../../src/topics/index.js';
import { cutAt, runOnce, runStream } from '../../../test/protocol/helpers.js';
import { defineProperty, type FuzzProperty } from './define.js';
import { applyMutations, cutsArb, mutationsArb } from './mutate.js';
import { runControlSession, type SessionOptions, type SessionRun } from './server-session.js';
import { controlSessionArb, dataStreamArb, type Request } from './streams.js';

const BIG_LIMITS: ControlLimits = { maxPubSize: 1 << 16, maxTopicLength: 1 << 16 };
const ROUNDTRIP: SessionOptions = { unix: false, acl: FULL_ACCESS, limits: BIG_LIMITS, maxTopicDepth: 4 };
const LIMITED_ACL = makeAclEntry({ sub: ['a/#', '+/temp'], pub: ['a/#', 'plant1/+/temp'] });
const REPLIES = new Set([0x01, 0x02, 0xe0, 0xfe, 0xff]);

const optionsArb: fc.Arbitrary<SessionOptions> = fc.record({
  unix: fc.boolean(),
  acl: fc.constantFrom(FULL_ACCESS, LIMITED_ACL, makeAclEntry({})),
  limits: fc.oneof(
    fc.constant(BIG_LIMITS),
    fc.record({ maxPubSize: fc.nat({ max: 256 }), maxTopicLength: fc.nat({ max: 64 }) }),
  ),
  maxTopicDepth: fc.integer({ min: 0, max: 8 }),
});

/** Every publish answered `01` reached the `#` watcher exactly once, in order, intact. */
function assertDelivery(run: SessionRun): void {
  assert.deepEqual(run.delivered, run.expected);
  for (const r of run.replies) assert.ok(REPLIES.has(r), `unexpected reply byte ${r}`);
}

/** The frames the decoder must produce for `requests`, up to the first one that closes. */
function expectedFrames(requests: readonly Request[], maxDepth: number): { frames: DetachedRequest[]; closes: boolean } {
  const frames: DetachedRequest[] = [];
  for (const r of requests) {
    switch (r.kind) {
      case 'nop':
      case 'bye':
        frames.push({ kind: r.kind });
        break;
      case 'subscribe':
      case 'unsubscribe':
        frames.push({ kind: r.kind, topics: r.topics.filter((t) => t !== '') });
        break;
      case 'repl':
        frames.push({ kind: 'repl-topic', topic: r.topic });
        frames.push({ kind: 'repl-body', priority: r.priority, timestampNs: r.timestampNs, payload: r.payload });
        break;
      case 'publish': {
        const body = Buffer.concat([Buffer.from(r.topic), Buffer.from([0]), r.payload]);
        frames.push({ kind: 'publish', priority: r.priority, body });
        const topic = normalizeTopic(r.topic);
        // Depth is checked before wildcards: a too-deep topic gets FF and the session goes on.
        if (r.topic === '' || (topicDepth(topic) <= maxDepth && hasWildcardChar(topic))) {
          return { frames, closes: true };
        }
      }
    }
  }
  return { frames, closes: false };
}

const controlRoundTrip = defineProperty('control-session-roundtrip', 500, () =>
  fc.property(controlSessionArb, cutsArb, (s, cuts) => {
    const run = runControlSession(cutAt(s.bytes, cuts), ROUNDTRIP);
    assertDelivery(run);
    const [, header, mode] = s.greeting;
    if (header === 0xab) {
      assert.equal(run.requests.length, 0); // a data socket: the rest is a (bad) token
      return;
    }
    if (mode !== 0) {
      assert.equal(run.end, mode === 1 ? 'tls' : 'bad-mode');
      return;
    }
    const { frames, closes } = expectedFrames(s.requests, ROUNDTRIP.maxTopicDepth);
    assert.deepEqual(run.requests, frames);
    if (closes) {
      assert.equal(run.end, 'error');
      assert.ok(run.error === 'EmptyTopic' || run.error === 'WildcardInPublish', String(run.error));
    } else {
      assert.equal(run.end, s.requests.at(-1)?.kind === 'bye' ? 'bye' : 'open');
    }
  }),
);

const controlMutated = defineProperty('control-session-mutated', 800, () =>
  fc.property(controlSessionArb, mutationsArb, cutsArb, optionsArb, (s, ms, cuts, opts) => {
    const bytes = applyMutations(s.bytes, ms);
    // runControlSession fails the property on any error that is not a catalogued PsrtError.
    const run = runControlSession(cutAt(bytes, cuts), opts);
    assertDelivery(run);
    for (const r of run.requests) {
      if (r.kind === 'publish') assert.ok(r.body.length <= opts.limits.maxPubSize);
      if (r.kind === 'subscribe' || r.kind === 'unsubscribe') {
        for (const t of r.topics) assert.ok(t !== '' && !t.includes('\0'));
      }
    }
    // How the bytes were split must not change anything.
    assert.deepEqual(runControlSession([bytes], opts), run);
  }),
);

const maxFrameArb = fc.oneof(fc.nat({ max: 64 }), fc.constant(4096), fc.constant(0xffffffff));

const dataStream = defineProperty('data-stream-mutated', 800, () =>
  fc.property(dataStreamArb, mutationsArb, cutsArb, maxFrameArb, (d, ms, cuts, maxFrame) => {
    const bytes = applyMutations(d.bytes, ms);
    const decode = (chunks: readonly Buffer[]) => {
      let decoder: DataDecoder | null = null;
      const run = runStream(chunks, (q) => (decoder ??= new DataDecoder(q, maxFrame)).next());
      return { frames: run.frames, error: run.error };
    };
    // runStream stops feeding at the first error, so only frames and the error are compared.
    const split = decode(cutAt(bytes, cuts));
    assert.deepEqual(split, decode([bytes]));
    if (ms.length === 0 && maxFrame === 0xffffffff) assert.deepEqual(split, { frames: d.events, error: null });
  }),
);

type LimitedKind = 'login' | 'publish' | 'subscribe' | 'unsubscribe' | 'repl-topic' | 'repl-body' | 'data';

/** The bytes before the body, with LEN at its place, and the limit it is checked against. */
function header(kind: LimitedKind, len: number, limit: number): { head: Buffer; limits: ControlLimits } {
  const u32 = Buffer.alloc(4);
  u32.writeUInt32LE(len);
  const limits = { maxPubSize: limit, maxTopicLength: limit };
  switch (kind) {
    case 'login':
      return { head: u32, limits };
    case 'publish':
    case 'data':
      return { head: Buffer.concat([Buffer.from([0x01, 0x7f]), u32]), limits };
    case 'subscribe':
    case 'unsubscribe':
    case 'repl-topic':
      return { head: Buffer.concat([Buffer.from([kind === 'subscribe' ? 2 : kind === 'unsubscribe' ? 3 : 0x11]), u32]), limits };
    case 'repl-body':
      return { head: Buffer.concat([Buffer.alloc(9, 0x42), u32]), limits };
  }
}

const limitsBeforeBody = defineProperty('limits-before-body', 500, () =>
  fc.property(
    fc.constantFrom<LimitedKind>('login', 'publish', 'subscribe', 'unsubscribe', 'repl-topic', 'repl-body', 'data'),
    fc.nat({ max: 4096 }),
    fc.oneof(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 0xffffffff })),
    fc.uint8Array({ maxLength: 32 }),
    cutsArb,
    (kind, rawLimit, excess, body, cuts) => {
      const limit = kind === 'login' ? MAX_LOGIN_FRAME : rawLimit;
      const len = Math.min(0xffffffff, limit + excess);
      const { head, limits } = header(kind, len, limit);
      // Fewer body bytes than LEN: a decoder that waited for the body would return null.
      const chunks = cutAt(Buffer.concat([head, body.subarray(0, Math.min(body.length, len - 1))]), cuts);
      if (kind === 'login') {
        assert.equal(runOnce(chunks, (q) => readLoginFrame(q)).error, 'FrameTooLong');
        return;
      }
      let next: (q: ByteQueue) => unknown;
      if (kind === 'data') {
        let d: DataDecoder | null = null;
        next = (q) => (d ??= new DataDecoder(q, limit)).next();
      } else {
        let c: ControlDecoder | null = null;
        next = (q) => {
          if (c === null) {
            c = new ControlDecoder(q, limits);
            if (kind === 'repl-body') c.expectReplBody();
          }
          return c.next();
        };
      }
      const run = runStream(chunks, next);
      assert.equal(run.error, 'FrameTooLong');
      assert.equal(run.frames.length, 0);
    },
  ),
);

export const STREAM_PROPERTIES: readonly FuzzProperty[] = [controlRoundTrip, controlMutated, dataStream, limitsBeforeBody];
