/**
 * fast-check properties (fixed seed, bounded runs): encoder → decoder round trips split at random
 * offsets, and random/mutated bytes that may only ever yield frames, null or a PsrtError.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ByteQueue } from '../../src/protocol/byte-queue.js';
import {
  ControlDecoder,
  detachRequest,
  parsePublishBody,
  publishBody,
  splitTopicList,
  type DetachedRequest,
} from '../../src/protocol/control.js';
import { DataDecoder, type DataEvent } from '../../src/protocol/data-decoder.js';
import {
  encodeBye,
  encodeDataFrame,
  encodeDataHandshake,
  encodeGreeting,
  encodeLogin,
  encodeNop,
  encodePublish,
  encodeReplBody,
  encodeReplTopic,
  encodeSubscribe,
  encodeUnsubscribe,
} from '../../src/protocol/encode.js';
import { readDataHandshake, readGreeting, readLoginFrame } from '../../src/protocol/handshake.js';
import { hex } from '../fixtures/vectors/hex.js';
import { SPEC } from '../fixtures/vectors/spec-examples.js';
import { FC_PARAMS, cutAt, onlyPsrtErrors, runOnce, runStream, unicodeText } from './helpers.js';

const LIMITS = { maxPubSize: 1 << 20, maxTopicLength: 1 << 16 };
const bytes = (max: number) => fc.uint8Array({ maxLength: max }).map((a) => Buffer.from(a));
/** Valid Unicode text without NUL. */
const text = (min: number, max: number) => unicodeText(min, max);
const byte = fc.integer({ min: 0, max: 255 });
const offsets = fc.array(fc.nat(), { maxLength: 6 });

/** A request plus the frames the decoder must return for it. */
interface Encoded {
  readonly bytes: Buffer;
  readonly frames: DetachedRequest[];
}

const requestArb: fc.Arbitrary<Encoded> = fc.oneof(
  fc.constant<Encoded>({ bytes: encodeNop(), frames: [{ kind: 'nop' }] }),
  fc.constant<Encoded>({ bytes: encodeBye(), frames: [{ kind: 'bye' }] }),
  fc.tuple(byte, text(1, 10), bytes(30)).map(([priority, topic, payload]): Encoded => ({
    bytes: encodePublish(priority, topic, payload),
    frames: [{ kind: 'publish', priority, body: Buffer.concat([Buffer.from(topic), Buffer.from([0]), payload]) }],
  })),
  fc.tuple(fc.boolean(), fc.array(text(1, 8), { maxLength: 4 })).map(([isSub, topics]): Encoded => ({
    bytes: isSub ? encodeSubscribe(topics) : encodeUnsubscribe(topics),
    frames: [{ kind: isSub ? 'subscribe' : 'unsubscribe', topics }],
  })),
  fc.tuple(text(0, 10), byte, fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), bytes(30)).map(
    ([topic, priority, timestampNs, payload]): Encoded => ({
      bytes: Buffer.concat([encodeReplTopic(topic), encodeReplBody(priority, timestampNs, payload)]),
      frames: [
        { kind: 'repl-topic', topic },
        { kind: 'repl-body', priority, timestampNs, payload },
      ],
    }),
  ),
);

interface EncodedEvent {
  readonly bytes: Buffer;
  readonly event: DataEvent;
}

const dataArb: fc.Arbitrary<EncodedEvent> = fc.oneof(
  fc.constant<EncodedEvent>({ bytes: Buffer.from([0]), event: { kind: 'ping' } }),
  fc.tuple(byte, text(0, 10), bytes(30)).map(([priority, topic, payload]): EncodedEvent => ({
    bytes: encodeDataFrame(priority, topic, payload),
    event: { kind: 'message', priority, topic, payload },
  })),
);

describe('round trips, split at random offsets', () => {
  it('requests → ControlDecoder (PUBLISH_REPL via expectReplBody)', () => {
    fc.assert(
      fc.property(fc.array(requestArb, { minLength: 1, maxLength: 8 }), offsets, (requests, cuts) => {
        const stream = Buffer.concat(requests.map((r) => r.bytes));
        let decoder: ControlDecoder | null = null;
        const run = runStream(
          cutAt(stream, cuts),
          (q) => {
            const r = (decoder ??= new ControlDecoder(q, LIMITS)).next();
            return r === null ? null : detachRequest(r);
          },
          (frame) => {
            if (frame.kind === 'repl-topic') decoder?.expectReplBody();
          },
        );
        assert.equal(run.error, null);
        assert.equal(run.buffered, 0);
        assert.deepEqual(run.frames, requests.flatMap((r) => r.frames));
      }),
      FC_PARAMS,
    );
  });

  it('publish bodies → parsePublishBody', () => {
    fc.assert(
      fc.property(text(1, 10), bytes(20), (topic, payload) => {
        const body = encodePublish(0x7f, topic, payload).subarray(6);
        const parsed = parsePublishBody(body);
        assert.equal(parsed.topic, topic);
        assert.deepEqual(body.subarray(parsed.payloadOffset), payload);
      }),
      FC_PARAMS,
    );
  });

  it('data frames and pings → DataDecoder', () => {
    fc.assert(
      fc.property(fc.array(dataArb, { minLength: 1, maxLength: 10 }), offsets, (events, cuts) => {
        const stream = Buffer.concat(events.map((e) => e.bytes));
        let decoder: DataDecoder | null = null;
        const run = runStream(cutAt(stream, cuts), (q) => (decoder ??= new DataDecoder(q)).next());
        assert.equal(run.error, null);
        assert.deepEqual(run.frames, events.map((e) => e.event));
      }),
      FC_PARAMS,
    );
  });

  it('greeting + login + surplus → readGreeting, readLoginFrame', () => {
    const login = text(0, 20);
    const password = unicodeText(0, 20, true);
    fc.assert(
      fc.property(fc.constantFrom('control' as const, 'data' as const), fc.boolean(), login, password, bytes(5), offsets,
        (kind, tls, user, pass, surplus, cuts) => {
          const chunks = cutAt(Buffer.concat([encodeGreeting(kind, tls), encodeLogin(user, pass), surplus]), cuts);
          const queue = new ByteQueue();
          const greeting = runOnce(chunks, readGreeting);
          assert.deepEqual(greeting.value, { kind, mode: tls ? 1 : 0 });
          queue.push(greeting.surplus);
          assert.deepEqual(readLoginFrame(queue), { login: user, password: pass });
          assert.deepEqual(queue.drain(), surplus);
        }),
      FC_PARAMS,
    );
  });

  it('token + timeout → readDataHandshake', () => {
    const token = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((a) => Buffer.from(a));
    fc.assert(
      fc.property(token, byte, offsets, (t, timeout, cuts) => {
        const run = runOnce(cutAt(encodeDataHandshake(t, timeout), cuts), readDataHandshake);
        assert.deepEqual(run.value, { token: t, timeoutSeconds: timeout });
      }),
      FC_PARAMS,
    );
  });
});

/** A §9 example with a few bytes overwritten, then truncated or extended with random bytes. */
const mutated = fc
  .tuple(
    fc.constantFrom(...Object.values(SPEC)),
    fc.array(fc.tuple(fc.nat(), byte), { maxLength: 3 }),
    fc.nat(),
    bytes(16),
  )
  .map(([text, edits, cut, tail]) => {
    const b = Buffer.from(hex(text));
    if (b.length > 0) for (const [at, value] of edits) b[at % b.length] = value;
    return Buffer.concat([b.subarray(0, cut % (b.length + 1)), cut % 2 === 0 ? tail : Buffer.alloc(0)]);
  });
const input = fc.oneof(bytes(64), mutated, fc.array(mutated, { maxLength: 4 }).map((a) => Buffer.concat(a)));
const smallLimit = fc.oneof(fc.integer({ min: 0, max: 64 }), fc.constant(0xffffffff));

describe('garbage only yields frames, null or a PsrtError', () => {
  it('ControlDecoder (with and without a pending repl body, random limits)', () => {
    fc.assert(
      fc.property(input, offsets, smallLimit, smallLimit, fc.boolean(), (b, cuts, maxPubSize, maxTopicLength, repl) => {
        let decoder: ControlDecoder | null = null;
        const make = (q: ByteQueue): ControlDecoder => {
          const d = new ControlDecoder(q, { maxPubSize, maxTopicLength });
          if (repl) d.expectReplBody();
          return d;
        };
        // runStream fails the property on any non-PsrtError (errorKey asserts the type).
        runStream(cutAt(b, cuts), (q) => (decoder ??= make(q)).next(), (frame) => {
          if (frame.kind === 'publish') onlyPsrtErrors(() => parsePublishBody(publishBody(frame)));
          if (frame.kind === 'repl-topic' && repl) decoder?.expectReplBody();
        });
      }),
      FC_PARAMS,
    );
  });

  it('DataDecoder (random maxFrame)', () => {
    fc.assert(
      fc.property(input, offsets, smallLimit, (b, cuts, maxFrame) => {
        let decoder: DataDecoder | null = null;
        runStream(cutAt(b, cuts), (q) => (decoder ??= new DataDecoder(q, maxFrame)).next());
      }),
      FC_PARAMS,
    );
  });

  it('one-shot readers and body parsers', () => {
    fc.assert(
      fc.property(input, offsets, (b, cuts) => {
        const chunks = cutAt(b, cuts);
        runOnce(chunks, readGreeting);
        runOnce(chunks, (q) => readLoginFrame(q));
        runOnce(chunks, (q) => readLoginFrame(q, true));
        runOnce(chunks, readDataHandshake);
        onlyPsrtErrors(() => splitTopicList(b));
        onlyPsrtErrors(() => parsePublishBody(b));
      }),
      FC_PARAMS,
    );
  });
});
