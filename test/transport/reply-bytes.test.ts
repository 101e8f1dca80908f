/** ReplyBytes: the per-turn status bytes of a control connection. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ReplyBytes } from '../../src/transport/reply-bytes.js';

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
});
