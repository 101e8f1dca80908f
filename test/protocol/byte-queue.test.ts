/** ByteQueue: zero-copy views inside one chunk, correct copies across chunks, bookkeeping. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ByteQueue } from '../../src/protocol/byte-queue.js';
import { ControlDecoder } from '../../src/protocol/control.js';
import { DataDecoder } from '../../src/protocol/data-decoder.js';
import { DEFAULT_LIMITS } from '../fixtures/vectors/control.js';
import { hex } from '../fixtures/vectors/hex.js';
import { SPEC } from '../fixtures/vectors/spec-examples.js';

/** True when `view` lies inside `chunk`'s memory (same ArrayBuffer, offset within). */
function sharesMemory(view: Buffer, chunk: Buffer): boolean {
  return (
    view.buffer === chunk.buffer &&
    view.byteOffset >= chunk.byteOffset &&
    view.byteOffset + view.length <= chunk.byteOffset + chunk.length
  );
}

/** A chunk with its own ArrayBuffer (small Buffer.from results share Node's pool). */
function ownChunk(hexText: string): Buffer {
  const bytes = hex(hexText);
  const chunk = Buffer.alloc(bytes.length);
  bytes.copy(chunk);
  return chunk;
}

describe('ByteQueue', () => {
  it('frames inside one chunk are views of it (no copy)', () => {
    const chunk = ownChunk(`${SPEC.publishHello} ${SPEC.publishEmpty} ${SPEC.publishHello}`);
    const queue = new ByteQueue();
    queue.push(chunk);
    const decoder = new ControlDecoder(queue, DEFAULT_LIMITS);
    const bodies: Buffer[] = [];
    for (let r = decoder.next(); r !== null; r = decoder.next()) {
      assert.ok(r.kind === 'publish');
      assert.equal(r.bytes, chunk, 'the body is a range of the received chunk itself');
      bodies.push(r.bytes.subarray(r.start, r.end));
    }
    assert.equal(bodies.length, 3);
    const [first, second] = bodies;
    assert.ok(first && second);
    assert.ok(bodies.every((b) => sharesMemory(b, chunk)));
    assert.equal(first.byteOffset, chunk.byteOffset + 6);
    chunk[6] = 0x54; // 't' -> 'T' in the chunk shows through the view
    assert.equal(first.subarray(0, 4).toString(), 'Test');
    assert.deepEqual(second, hex('74 00'));
  });

  it('a body wholly inside the next chunk is a view of that chunk', () => {
    const header = ownChunk('01 7F 10 00 00 00');
    const body = ownChunk('74 65 73 74 2F 74 6F 70 69 63 00 68 65 6C 6C 6F');
    const queue = new ByteQueue();
    queue.push(header);
    queue.push(body);
    const r = new ControlDecoder(queue, DEFAULT_LIMITS).next();
    assert.ok(r?.kind === 'publish');
    assert.ok(r.bytes === body && r.start === 0 && r.end === body.length);
  });

  it('a frame across chunks is copied correctly and does not alias the chunks', () => {
    const bytes = hex(SPEC.dataFrameHello);
    const chunks = [ownChunk('01 7F 10'), ownChunk('00 00 00 74 65 73'), ownChunk('74 2F 74 6F 70 69 63 00 68 65 6C'), ownChunk('6C 6F')];
    const queue = new ByteQueue();
    for (const c of chunks) queue.push(c);
    assert.equal(queue.length, bytes.length);
    const event = new DataDecoder(queue).next();
    assert.ok(event?.kind === 'message');
    assert.equal(event.topic, 'test/topic');
    for (const c of chunks) c.fill(0xaa);
    assert.deepEqual(event.payload, hex('68 65 6C 6C 6F'));
    assert.equal(queue.length, 0);
  });

  it('byteAt and u32At read across chunk boundaries, unsigned', () => {
    const queue = new ByteQueue();
    for (const b of [0x00, 0xff, 0x00, 0x00, 0x80, 0x12]) queue.push(Buffer.from([b]));
    assert.equal(queue.byteAt(1), 0xff);
    assert.equal(queue.u32At(1), 0x800000ff);
    assert.equal(queue.u32At(2), 0x12800000);
    queue.skip(1);
    assert.equal(queue.u32At(0), 0x800000ff, 'after skip, positions are relative');
    const big = new ByteQueue();
    big.push(hex('FF FF'));
    big.push(hex('FF FF'));
    assert.equal(big.u32At(0), 0xffffffff);
  });

  it('u32At inside one chunk honours the read offset', () => {
    const queue = new ByteQueue();
    queue.push(hex('AA BB 01 02 03 04'));
    queue.skip(2);
    assert.equal(queue.u32At(0), 0x04030201);
  });

  it('skip, take and drain keep length consistent; empty chunks are ignored', () => {
    const queue = new ByteQueue();
    queue.push(Buffer.alloc(0));
    assert.equal(queue.length, 0);
    assert.deepEqual(queue.take(0), Buffer.alloc(0));
    queue.push(hex('01 02 03'));
    queue.push(Buffer.alloc(0));
    queue.push(hex('04 05'));
    queue.push(hex('06'));
    queue.skip(2);
    assert.equal(queue.length, 4);
    assert.deepEqual(queue.take(2), hex('03 04'));
    assert.deepEqual(queue.drain(), hex('05 06'));
    assert.equal(queue.length, 0);
    assert.deepEqual(queue.drain(), Buffer.alloc(0));
    queue.push(hex('07'));
    assert.deepEqual(queue.take(1), hex('07'));
  });

  it('skip across several chunks', () => {
    const queue = new ByteQueue();
    for (const h of ['01', '02 03', '04 05 06', '07']) queue.push(hex(h));
    queue.skip(5);
    assert.equal(queue.length, 2);
    assert.equal(queue.byteAt(0), 0x06);
    assert.deepEqual(queue.drain(), hex('06 07'));
  });

  it('takeViews returns the next bytes as views of the chunks, in order, without copying', () => {
    const chunks = [ownChunk('01 02 03'), ownChunk('04 05'), ownChunk('06 07 08 09')];
    const queue = new ByteQueue();
    for (const c of chunks) queue.push(c);
    queue.skip(1);
    const views = queue.takeViews(6);
    assert.deepEqual(views, [hex('02 03'), hex('04 05'), hex('06 07')]);
    assert.ok(sharesMemory(views[0] as Buffer, chunks[0] as Buffer));
    assert.ok(sharesMemory(views[2] as Buffer, chunks[2] as Buffer));
    assert.equal(queue.length, 2);
    assert.deepEqual(queue.drain(), hex('08 09'));
    assert.deepEqual(queue.takeViews(0), []);
  });

  it('takeRange returns the chunk itself and where the bytes start, or a joined copy', () => {
    const chunks = [ownChunk('01 02 03 04'), ownChunk('05 06'), ownChunk('07 08 09')];
    const queue = new ByteQueue();
    for (const c of chunks) queue.push(c);
    queue.skip(1);
    assert.equal(queue.takeRange(2), chunks[0], 'inside one chunk: no view, no copy');
    assert.equal(queue.takenStart, 1);
    assert.equal(queue.takeRange(1), chunks[0], 'up to the end of the chunk');
    assert.equal(queue.takenStart, 3);
    const joined = queue.takeRange(3); // 05 06 | 07
    assert.deepEqual(joined, hex('05 06 07'));
    assert.equal(queue.takenStart, 0);
    assert.ok(!sharesMemory(joined, chunks[1] as Buffer) && !sharesMemory(joined, chunks[2] as Buffer));
    queue.takeRange(0);
    assert.equal(queue.length, 2, 'taking 0 bytes takes nothing');
    assert.equal(queue.takeRange(2), chunks[2]);
    assert.equal(queue.takenStart, 1);
    assert.equal(queue.length, 0);
  });

  it('indexOf finds a byte across chunks, relative to the read offset, within [from, to)', () => {
    const queue = new ByteQueue();
    for (const h of ['AA 00 BB', 'CC', 'DD 00', '00 EE']) queue.push(hex(h));
    assert.equal(queue.indexOf(0, 0, queue.length), 1);
    assert.equal(queue.indexOf(0, 2, queue.length), 5);
    assert.equal(queue.indexOf(0, 2, 5), -1, 'to is exclusive');
    assert.equal(queue.indexOf(0xee, 0, queue.length), 7);
    assert.equal(queue.indexOf(0x11, 0, queue.length), -1);
    queue.skip(2);
    assert.equal(queue.indexOf(0, 0, queue.length), 3, 'positions follow skip');
    assert.equal(queue.indexOf(0xbb, 0, 1), 0);
    assert.equal(queue.indexOf(0xcc, 0, 1), -1);
  });

  it('releaseIfEmpty keeps buffered bytes and lets go only of an empty queue', () => {
    const queue = new ByteQueue();
    const chunks = (q: ByteQueue): Buffer[] => (q as unknown as { chunks: Buffer[] }).chunks;
    queue.push(hex('01 02 03'));
    queue.releaseIfEmpty();
    assert.equal(queue.length, 3, 'buffered bytes survive');
    assert.deepEqual(queue.take(2), hex('01 02'));
    queue.releaseIfEmpty();
    assert.deepEqual(queue.take(1), hex('03'));
    const used = chunks(queue);
    queue.releaseIfEmpty();
    assert.notEqual(chunks(queue), used, 'the empty queue gave its array back');
    assert.equal(chunks(queue).length, 0);
    queue.push(hex('04 05'));
    queue.push(hex('06'));
    assert.deepEqual(queue.take(3), hex('04 05 06'), 'usable again after release');
    const fresh = new ByteQueue();
    fresh.push(hex('07'));
    assert.equal(chunks(new ByteQueue()).length, 0, 'the shared empty array is never written to');
  });
});
