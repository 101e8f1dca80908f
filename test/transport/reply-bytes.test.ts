/** ReplyBytes: the per-turn status bytes of a control connection. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ReplyBytes, statusBuffer } from '../../src/transport/reply-bytes.js';

describe('ReplyBytes', () => {
  it('collects bytes in order across growth and hands them over in a buffer of their own', () => {
    const r = new ReplyBytes();
    const sent: number[] = [];
    for (let i = 0; i < 1000; i++) {
      const status = [0x01, 0xfe, 0xff, 0x02][i % 4] ?? 0;
      r.push(status);
      sent.push(status);
    }
    assert.equal(r.length, 1000);
    const first = r.take();
    assert.deepEqual(first, Buffer.from(sent));
    assert.equal(r.length, 0);
    r.push(0xe0);
    const second = r.take();
    assert.deepEqual(second, Buffer.from([0xe0]));
    assert.deepEqual(first, Buffer.from(sent), 'a later turn does not change an earlier buffer');
    assert.equal(r.take().length, 0);
  });

  it('a large backlog is released after it was taken, and collecting goes on', () => {
    const r = new ReplyBytes();
    for (let i = 0; i < 20_000; i++) r.push(i & 1 ? 0x01 : 0xff);
    assert.equal(r.take().length, 20_000);
    for (let i = 0; i < 3; i++) r.push(0x01);
    r.clear();
    assert.equal(r.length, 0);
    r.push(0x02);
    assert.deepEqual(r.take(), Buffer.from([0x02]));
  });

  it('a single byte comes as a shared one-byte buffer; every count from 0 to 200 keeps its bytes and order', () => {
    const r = new ReplyBytes();
    r.push(0x01);
    const a = r.take();
    r.push(0x01);
    const b = r.take();
    assert.deepEqual(a, Buffer.from([0x01]));
    assert.equal(a, b, 'one shared buffer per status value');
    assert.equal(statusBuffer(0x01), a, 'the data socket writes the same shared buffer');
    for (let s = 0; s < 256; s++) assert.deepEqual(statusBuffer(s), Buffer.from([s]));
    r.push(0xfe);
    assert.deepEqual(r.take(), Buffer.from([0xfe]));
    assert.deepEqual(a, Buffer.from([0x01]), 'the shared buffer is never written to');
    for (let n = 0; n <= 200; n++) {
      const sent: number[] = [];
      for (let i = 0; i < n; i++) {
        const status = (n * 31 + i * 7) & 0xff;
        r.push(status);
        sent.push(status);
      }
      assert.equal(r.length, n);
      assert.deepEqual(r.take(), Buffer.from(sent), `${n} bytes`);
      assert.equal(r.length, 0);
    }
  });

  it('a pending single byte survives clear() only as far as clear() says: it is dropped', () => {
    const r = new ReplyBytes();
    r.push(0x02);
    r.clear();
    assert.equal(r.length, 0);
    r.push(0x03);
    r.push(0x04);
    assert.deepEqual(r.take(), Buffer.from([0x03, 0x04]));
  });
});
