/** ControlDecoder (incl. two-stage PUBLISH_REPL), splitTopicList and parsePublishBody. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ByteQueue } from '../../src/protocol/byte-queue.js';
import {
  ControlDecoder,
  parsePublishBody,
  splitTopicList,
  type ControlRequest,
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
  return runStream<ControlRequest>(
    chunks,
    (queue) => {
      decoder ??= new ControlDecoder(queue, v.limits ?? DEFAULT_LIMITS);
      return decoder.next();
    },
    (frame) => {
      if (frame.kind === 'repl-topic' && v.replWaiting === true) decoder?.expectReplBody();
    },
  );
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
    const parsed = parsePublishBody(request.body);
    assert.equal(parsed.topic, 'test/topic');
    assert.equal(request.body.subarray(parsed.payloadOffset).toString(), 'hello');
  });
});
