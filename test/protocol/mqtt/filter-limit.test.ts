/**
 * server.max_topics_per_subscribe in the MQTT decoder: a SUBSCRIBE/UNSUBSCRIBE with more
 * filters than the limit is only counted (`tooMany`, empty list); at the limit it decodes as
 * before; a filter length running past the packet is still malformed; without a limit nothing
 * changes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MqttDecoder, MqttError, ReasonCode, type MqttVersion } from '../../../src/protocol/mqtt/index.js';

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

function framed(first: number, body: Buffer): Buffer {
  const len: number[] = [];
  let n = body.length;
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    len.push(b);
  } while (n > 0);
  return Buffer.concat([Buffer.from([first, ...len]), body]);
}

function entries(count: number, options: boolean): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const f = Buffer.from(`f/${i}`);
    parts.push(u16(f.length), f);
    if (options) parts.push(Buffer.from([1]));
  }
  return Buffer.concat(parts);
}

function subscribe(count: number, v: MqttVersion): Buffer {
  return framed(0x82, Buffer.concat([u16(9), v === 5 ? Buffer.from([0]) : Buffer.alloc(0), entries(count, true)]));
}

function unsubscribe(count: number, v: MqttVersion): Buffer {
  return framed(0xa2, Buffer.concat([u16(9), v === 5 ? Buffer.from([0]) : Buffer.alloc(0), entries(count, false)]));
}

function decoder(v: MqttVersion, max?: number): MqttDecoder {
  const d = new MqttDecoder(max === undefined ? { maxPacketSize: 1 << 20 } : { maxPacketSize: 1 << 20, maxFiltersPerPacket: max });
  d.version = v;
  return d;
}

describe('MQTT decoder: filters per packet', () => {
  for (const v of [4, 5] as const) {
    it(`v${v}: SUBSCRIBE at the limit is decoded, one past it only counted`, () => {
      const d = decoder(v, 100);
      d.push(subscribe(100, v));
      const ok = d.next();
      assert.ok(ok?.type === 'subscribe');
      assert.equal(ok.tooMany, undefined);
      assert.equal(ok.subscriptions.length, 100);
      assert.equal(ok.subscriptions[99]?.filter, 'f/99');
      d.push(subscribe(101, v));
      d.push(Buffer.from([0xc0, 0x00]));
      const refused = d.next();
      assert.ok(refused?.type === 'subscribe');
      assert.deepEqual([refused.packetId, refused.tooMany, refused.subscriptions.length], [9, 101, 0]);
      assert.equal(d.next()?.type, 'pingreq', 'the stream goes on after a refused packet');
    });

    it(`v${v}: UNSUBSCRIBE past the limit only counted`, () => {
      const d = decoder(v, 3);
      d.push(unsubscribe(3, v));
      d.push(unsubscribe(50, v));
      const ok = d.next();
      assert.ok(ok?.type === 'unsubscribe');
      assert.deepEqual([ok.tooMany, ok.filters], [undefined, ['f/0', 'f/1', 'f/2']]);
      const refused = d.next();
      assert.ok(refused?.type === 'unsubscribe');
      assert.deepEqual([refused.tooMany, refused.filters.length], [50, 0]);
    });

    it(`v${v}: a filter length past the end is malformed while counting`, () => {
      const d = decoder(v, 1);
      const good = entries(5, true);
      // The last filter claims 200 bytes.
      const bad = Buffer.concat([good, u16(200), Buffer.from('x')]);
      d.push(framed(0x82, Buffer.concat([u16(9), v === 5 ? Buffer.from([0]) : Buffer.alloc(0), bad])));
      assert.throws(() => d.next(), (e: unknown) => e instanceof MqttError && e.reasonCode === ReasonCode.MalformedPacket);
    });
  }

  it('without a limit every filter is decoded', () => {
    const d = decoder(5);
    d.push(subscribe(20_000, 5));
    const p = d.next();
    assert.ok(p?.type === 'subscribe');
    assert.deepEqual([p.tooMany, p.subscriptions.length], [undefined, 20_000]);
  });
});
