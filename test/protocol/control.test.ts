/** ControlDecoder (incl. two-stage PUBLISH_REPL), splitTopicList and parsePublishBody. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ByteQueue } from '../../src/protocol/byte-queue.js';
import {
  ControlDecoder,
  detachRequest,
  parsePublishBody,
  publishBody,
  publishRequest,
  publishTopicEnd,
  splitTopicList,
  type ControlRequest,
  type DetachedRequest,
  type PublishRequest,
} from '../../src/protocol/control.js';
import {
  CONTROL,
  DEFAULT_LIMITS,
  PUBLISH_BODIES,
  TOPIC_LISTS,
  type ControlVector,
} from '../fixtures/vectors/control.js';
import { hex } from '../fixtures/vectors/hex.js';
import { SPEC } from '../fixtures/vectors/spec-examples.js';
import { assertPsrtError, chunkings, runStream } from './helpers.js';

/** Decodes `chunks` with a fresh decoder; answers 02 (expectReplBody) to repl topics if asked. */
function decodeControl(v: ControlVector, chunks: readonly Buffer[]) {
  let decoder: ControlDecoder | null = null;
  return runStream<DetachedRequest>(
    chunks,
    (queue) => {
      decoder ??= new ControlDecoder(queue, v.limits ?? DEFAULT_LIMITS);
      const r = decoder.next();
      return r === null ? null : detachRequest(r);
    },
    (frame) => {
      if (frame.kind === 'repl-topic' && v.replWaiting === true) decoder?.expectReplBody();
    },
  );
}

/** The body bytes[start, end) of a decoded PUBLISH (without the chunked payload). */
function bodyView(r: PublishRequest): Buffer {
  return r.bytes.subarray(r.start, r.end);
}

describe('ControlDecoder vectors (whole, every split, byte by byte)', () => {
  for (const v of CONTROL) {
    it(`${v.ref} ${v.name}`, () => {
      for (const { label, chunks } of chunkings(hex(v.hex))) {
        const run = decodeControl(v, chunks);
        assert.deepEqual(run.frames, v.frames, label);
        assert.equal(run.error, v.error ?? null, label);
        if (v.error !== undefined) {
          assert.equal(run.errorAtChunk, chunks.length - 1, `${label}: thrown before the last byte`);
        } else {
          assert.equal(run.buffered > 0, v.pending === true, `${label}: pending bytes`);
        }
      }
    });
  }
});

describe('ControlDecoder behaviour', () => {
  it('hasPartial reports an unfinished request', () => {
    const queue = new ByteQueue();
    const decoder = new ControlDecoder(queue, DEFAULT_LIMITS);
    assert.equal(decoder.hasPartial, false);
    queue.push(hex('02 03 00'));
    assert.equal(decoder.next(), null);
    assert.equal(decoder.hasPartial, true);
    queue.push(hex('00 00 61 2F 62'));
    assert.deepEqual(decoder.next(), { kind: 'subscribe', topics: ['a/b'] });
    assert.equal(decoder.hasPartial, false);
  });

  it('§9.10 stage 2 is only read after expectReplBody (the server answered 02)', () => {
    const queue = new ByteQueue();
    const decoder = new ControlDecoder(queue, DEFAULT_LIMITS);
    queue.push(hex(SPEC.replTopic));
    assert.deepEqual(decoder.next(), { kind: 'repl-topic', topic: 'test/topic' });
    assert.equal(decoder.next(), null);
    decoder.expectReplBody();
    assert.equal(decoder.next(), null, 'nothing buffered yet');
    queue.push(hex(SPEC.replBody));
    const body = decoder.next();
    assert.deepEqual(body, {
      kind: 'repl-body',
      priority: 0x7f,
      timestampNs: 1700000000123456789n,
      payload: hex('68 65 6C 6C 6F'),
    });
    queue.push(hex(SPEC.nop));
    assert.deepEqual(decoder.next(), { kind: 'nop' }, 'back to op codes after stage 2');
  });

  it('without expectReplBody, stage-2 bytes are read as op codes (7F is unknown)', () => {
    const queue = new ByteQueue();
    const decoder = new ControlDecoder(queue, DEFAULT_LIMITS);
    queue.push(hex(`${SPEC.replTopic} ${SPEC.replBody}`));
    assert.equal(decoder.next()?.kind, 'repl-topic');
    assertPsrtError(() => decoder.next(), 'InvalidOperation');
  });

  it('a too-long LEN throws with only the header pushed, for every limited request', () => {
    const limits = { maxPubSize: 10, maxTopicLength: 5 };
    const cases: [string, boolean][] = [
      ['01 7F 0B 00 00 00', false],
      ['02 06 00 00 00', false],
      ['03 06 00 00 00', false],
      ['11 06 00 00 00', false],
      ['7F 00 00 00 00 00 00 00 00 0B 00 00 00', true],
    ];
    for (const [header, replBody] of cases) {
      const queue = new ByteQueue();
      const decoder = new ControlDecoder(queue, limits);
      if (replBody) decoder.expectReplBody();
      const bytes = hex(header);
      queue.push(bytes.subarray(0, -1));
      assert.equal(decoder.next(), null, `${header}: not before the last header byte`);
      queue.push(bytes.subarray(-1));
      assertPsrtError(() => decoder.next(), 'FrameTooLong');
    }
  });
});

describe('splitTopicList', () => {
  for (const v of TOPIC_LISTS) {
    it(v.name, () => {
      if ('error' in v.expect) assertPsrtError(() => splitTopicList(hex(v.hex)), v.expect.error);
      else assert.deepEqual(splitTopicList(hex(v.hex)), v.expect.value);
    });
  }
});

describe('parsePublishBody', () => {
  for (const v of PUBLISH_BODIES) {
    it(`${v.ref} ${v.name}`, () => {
      if ('error' in v.expect) assertPsrtError(() => parsePublishBody(hex(v.hex)), v.expect.error);
      else assert.deepEqual(parsePublishBody(hex(v.hex)), v.expect.value);
    });
  }

  it('works on the body the decoder returns (§9.9)', () => {
    const queue = new ByteQueue();
    queue.push(hex(SPEC.publishHello));
    const request = new ControlDecoder(queue, DEFAULT_LIMITS).next();
    assert.ok(request?.kind === 'publish');
    const body = publishBody(request);
    const parsed = parsePublishBody(body);
    assert.equal(parsed.topic, 'test/topic');
    assert.equal(body.subarray(parsed.payloadOffset).toString(), 'hello');
  });
});

describe('ControlDecoder: small publishes are ranges of the read, in one reused object', () => {
  it('every PUBLISH of a read is the same object, pointing into the read', () => {
    const read = Buffer.concat([hex(SPEC.publishHello), hex('00'), hex(SPEC.publishEmpty)]);
    const queue = new ByteQueue();
    queue.push(read);
    const decoder = new ControlDecoder(queue, DEFAULT_LIMITS);
    const first = decoder.next();
    assert.ok(first?.kind === 'publish');
    assert.equal(first.bytes, read);
    assert.deepEqual([first.start, first.end, first.priority, first.chunked], [6, 22, 0x7f, null]);
    assert.deepEqual(decoder.next(), { kind: 'nop' });
    const second: ControlRequest | null = decoder.next();
    assert.equal(second, first, 'reused: valid until the next call of next()');
    assert.deepEqual(bodyView(first), hex('74 00'));
    assert.equal(first.start, 29);
  });

  it('publishTopicEnd looks for the 00 only inside the body, not in the bytes after it', () => {
    for (const topic of [Buffer.from('abc'), Buffer.alloc(100, 0x61)]) {
      // body = topic only (no 00), then a 00 right behind it in the same buffer
      const bytes = Buffer.concat([hex('AA BB'), topic, hex('00 01 02')]);
      assertPsrtError(() => publishTopicEnd(bytes, 2, 2 + topic.length), 'InvalidDataBlock');
      assert.equal(publishTopicEnd(bytes, 2, 3 + topic.length), 2 + topic.length, 'absolute index of the 00');
    }
    assertPsrtError(() => publishTopicEnd(hex('61 00 62'), 1, 3), 'EmptyTopic');
    assertPsrtError(() => publishTopicEnd(hex('61 62'), 1, 1), 'InvalidDataBlock');
  });

  it('publishRequest, publishBody and detachRequest give whole bodies', () => {
    const body = hex('74 00 68 69');
    const r = publishRequest(3, body);
    const copy = publishBody(r);
    assert.deepEqual(copy, body);
    body[3] = 0x6f;
    assert.equal(copy[3], 0x69, 'a copy, not a view');
    assert.deepEqual(detachRequest(r), { kind: 'publish', priority: 3, body: hex('74 00 68 6F') });
    const chunked = { ...r, chunked: { head: hex('01 03 05 00 00 00 74 00'), payload: [hex('68'), hex('69 6A')], payloadLength: 3 } };
    assert.deepEqual(publishBody({ ...chunked, bytes: hex('01 03 05 00 00 00 74 00'), start: 6, end: 8 }), hex('74 00 68 69 6A'));
  });
});

describe('ControlDecoder: large publishes are chunked, not joined', () => {
  const BIG_LIMITS = { ...DEFAULT_LIMITS, maxPubSize: 200_000 };
  /** `01 7F LEN topic 00 payload` with a payload of `n` bytes counting 0..255. */
  function largePublish(topic: string, n: number): { frame: Buffer; payload: Buffer } {
    const payload = Buffer.alloc(n);
    for (let i = 0; i < n; i++) payload[i] = i & 0xff;
    const body = Buffer.concat([Buffer.from(topic), Buffer.from([0]), payload]);
    const head = Buffer.from([0x01, 0x7f, 0, 0, 0, 0]);
    head.writeUInt32LE(body.length, 2);
    return { frame: Buffer.concat([head, body]), payload };
  }

  it('a 100 KB publish split into reads: head contiguous, payload as views of the reads', () => {
    const { frame, payload } = largePublish('plant/big', 100_000);
    const trailing = hex('00'); // a NOP right behind it in the last read
    for (const cut of [[7], [10, 16], [16, 30_000, 65_536], [frame.length - 1]]) {
      const reads: Buffer[] = [];
      let at = 0;
      for (const c of [...cut, frame.length]) {
        reads.push(Buffer.from(frame.subarray(at, c)));
        at = c;
      }
      const queue = new ByteQueue();
      const decoder = new ControlDecoder(queue, BIG_LIMITS);
      for (const r of reads.slice(0, -1)) {
        queue.push(r);
        assert.equal(decoder.next(), null, `cut ${cut.join(',')}: incomplete`);
      }
      queue.push(Buffer.concat([reads[reads.length - 1] as Buffer, trailing]));
      const request = decoder.next();
      assert.ok(request?.kind === 'publish' && request.chunked !== null, `cut ${cut.join(',')}`);
      const { head, payload: pieces, payloadLength } = request.chunked;
      assert.deepEqual(head, frame.subarray(0, 6 + 'plant/big'.length + 1));
      assert.deepEqual(bodyView(request), Buffer.from('plant/big\0'));
      assert.equal(payloadLength, payload.length);
      assert.deepEqual(Buffer.concat([...pieces]), payload);
      assert.deepEqual(Buffer.concat([head, ...pieces]), frame, 'head + pieces = the request bytes');
      assert.equal(decoder.next()?.kind, 'nop');
      assert.equal(queue.length, 0);
    }
  });

  it('a payload that trickled in as many small reads is joined into one piece', () => {
    const { frame, payload } = largePublish('slow/link', 100_000);
    const queue = new ByteQueue();
    const decoder = new ControlDecoder(queue, BIG_LIMITS);
    for (let at = 0; at < frame.length; at += 1448) queue.push(Buffer.from(frame.subarray(at, at + 1448))); // WAN segments
    const request = decoder.next();
    assert.ok(request?.kind === 'publish' && request.chunked !== null);
    assert.equal(request.chunked.payload.length, 1);
    assert.deepEqual(request.chunked.payload[0], payload);
    // 64 KB reads stay pieces: 100 KB arrives as 2–3 of them.
    const fast = new ByteQueue();
    for (let at = 0; at < frame.length; at += 65_536) fast.push(Buffer.from(frame.subarray(at, at + 65_536)));
    const r = new ControlDecoder(fast, BIG_LIMITS).next();
    assert.ok(r?.kind === 'publish' && r.chunked !== null);
    assert.equal(r.chunked.payload.length, 2);
  });

  it('16 KB is the threshold; smaller publishes stay one contiguous body', () => {
    const small = largePublish('t', 16 * 1024 - 3); // LEN = 16 KB - 1
    const big = largePublish('t', 16 * 1024 - 2); // LEN = 16 KB
    const queue = new ByteQueue();
    const decoder = new ControlDecoder(queue, BIG_LIMITS);
    queue.push(Buffer.concat([small.frame, big.frame]));
    const first = decoder.next();
    assert.ok(first?.kind === 'publish');
    const a = { ...first }; // the decoder reuses its PUBLISH object
    const b = decoder.next();
    assert.ok(b?.kind === 'publish');
    assert.equal(a.chunked, null);
    assert.equal(a.end - a.start, 16 * 1024 - 1);
    assert.notEqual(b.chunked, null);
  });

  it('a large body without 00, or with an empty topic, is joined for the broker to reject', () => {
    for (const body of [Buffer.alloc(20_000, 0x41), Buffer.concat([Buffer.from([0]), Buffer.alloc(20_000, 0x41)])]) {
      const head = Buffer.from([0x01, 0x7f, 0, 0, 0, 0]);
      head.writeUInt32LE(body.length, 2);
      const queue = new ByteQueue();
      queue.push(head);
      queue.push(Buffer.from(body.subarray(0, 9_000)));
      queue.push(Buffer.from(body.subarray(9_000)));
      const request = new ControlDecoder(queue, BIG_LIMITS).next();
      assert.ok(request?.kind === 'publish');
      assert.equal(request.chunked, null);
      assert.deepEqual(bodyView(request), body);
      assert.throws(() => parsePublishBody(bodyView(request)));
    }
  });
});
