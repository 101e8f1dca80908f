import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { BoundedBuffer, type OutMessage } from '../../src/bridges/buffer.js';
import { independentMasks, MaskSet } from '../../src/bridges/masks.js';

const msg = (i: number, size = 10): OutMessage => ({
  priority: 0x7f, topic: `t/${i}`, payload: Buffer.alloc(size, i), qos: 0, contentType: undefined, userProperties: undefined,
});

describe('bridge buffer', () => {
  it('keeps order and drops the oldest beyond the message bound', () => {
    const b = new BoundedBuffer(3, 1 << 20);
    for (let i = 0; i < 5; i++) b.push({ remote: `r${i}`, m: msg(i) });
    assert.equal(b.length, 3);
    assert.equal(b.dropped, 2);
    assert.deepEqual([b.shift()?.remote, b.shift()?.remote, b.shift()?.remote, b.shift()], ['r2', 'r3', 'r4', undefined]);
    assert.equal(b.bytes, 0);
  });

  it('prepend puts older entries first, in their order, and then drops the oldest beyond the bounds', () => {
    const b = new BoundedBuffer(4, 1 << 20);
    for (let i = 0; i < 5; i++) b.shift(); // nothing to take: the head stays in place
    for (const i of [5, 6]) b.push({ remote: `r${i}`, m: msg(i) });
    b.shift(); // r5 left: the head moves on
    b.prepend([0, 1, 2, 3].map((i) => ({ remote: `r${i}`, m: msg(i) })));
    assert.equal(b.dropped, 1); // 5 entries for a bound of 4: r0, the oldest, went
    assert.equal(b.bytes, 4 * BoundedBuffer.sizeOf(msg(0)));
    assert.deepEqual([b.shift(), b.shift(), b.shift(), b.shift(), b.shift()].map((e) => e?.remote), ['r1', 'r2', 'r3', 'r6', undefined]);
  });

  it('drops the oldest beyond the byte bound; an entry larger than the bound is dropped itself', () => {
    const size = BoundedBuffer.sizeOf(msg(0, 100));
    const b = new BoundedBuffer(1000, size * 2);
    for (let i = 0; i < 4; i++) b.push({ remote: String(i), m: msg(i, 100) });
    assert.equal(b.length, 2);
    assert.equal(b.bytes, size * 2);
    assert.equal(b.dropped, 2);
    b.push({ remote: 'huge', m: msg(9, size * 3) });
    assert.equal(b.dropped, 5); // the two held ones made room in vain, then the huge one itself
    assert.equal(b.length, 0);
  });

  it('unshift puts an entry back first; long runs compact', () => {
    const b = new BoundedBuffer(100_000, 1 << 30);
    for (let i = 0; i < 5000; i++) b.push({ remote: String(i), m: msg(i) });
    for (let i = 0; i < 4000; i++) b.shift();
    const e = b.shift();
    assert.ok(e !== undefined);
    b.unshift(e);
    assert.equal(b.shift()?.remote, '4000');
    assert.equal(b.length, 999);
  });
});

describe('bridge masks', () => {
  it('subscribes only masks no other covers', () => {
    assert.deepEqual(independentMasks(['a/b', 'a/#', 'c/+', 'c/d', 'a/#', '+/x']), ['a/#', 'c/+', '+/x']);
    assert.deepEqual(independentMasks(['#', 'a']), ['#']);
  });

  it('matches with PSRT semantics, under a prefix', () => {
    const s = new MaskSet(['a/#', 'b/+'], 'site/');
    assert.ok(!s.matches('site/a')); // PSRT: `a/#` needs one more level (unlike MQTT)
    assert.ok(s.matches('site/a/x'));
    assert.ok(s.matches('site/a/x/y'));
    assert.ok(s.matches('site/b/1'));
    assert.ok(!s.matches('site/b/1/2'));
    assert.ok(!s.matches('a/x'));
    assert.ok(!new MaskSet([]).matches('x'));
  });
});
