import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { MsgHdrsImpl, headers, type MsgHdrs } from '@nats-io/transport-node';
import { ECHO, HeaderScanner, SLOW } from '../../src/bridges/nats-raw.js';
import { exportHeaders, metaOf } from '../../src/bridges/nats-bridge.js';
import { MQTT_SYNTAX, NATS_SYNTAX, Subscriptions, firstSubscriptionId, patternsIntersect } from '../../src/bridges/overlap.js';

describe('overlapping import subscriptions', () => {
  it('tells which NATS subjects can share a message', () => {
    assert.equal(patternsIntersect('a.*.c', 'a.b.*', NATS_SYNTAX), true);
    assert.equal(patternsIntersect('a.>', 'a', NATS_SYNTAX), false, '> needs one token or more');
    assert.equal(patternsIntersect('*', 'a', NATS_SYNTAX), true);
    assert.equal(patternsIntersect('a.>', '*.b', NATS_SYNTAX), true);
    assert.equal(patternsIntersect('a.b', 'a.c', NATS_SYNTAX), false);
    assert.equal(patternsIntersect('a.*', 'a.b.c', NATS_SYNTAX), false);
  });

  it('tells which MQTT filters can share a message (# also matches the parent level)', () => {
    assert.equal(patternsIntersect('a/#', 'a', MQTT_SYNTAX), true);
    assert.equal(patternsIntersect('a/+/c', 'a/b/+', MQTT_SYNTAX), true);
    assert.equal(patternsIntersect('a/+', 'b/#', MQTT_SYNTAX), false);
    assert.equal(patternsIntersect('a/+', 'a/b/c', MQTT_SYNTAX), false);
  });

  it('keeps the copy of the first matching subscription only', () => {
    const s = new Subscriptions(['a.*.c', 'a.b.*', '*', 'x.>', 'x'], NATS_SYNTAX);
    assert.equal(s.overlapping, true);
    assert.equal(s.owner('a.b.c'), 0);
    assert.equal(s.isDuplicate('a.b.c', 1), true);
    assert.equal(s.isDuplicate('a.b.c', 0), false);
    assert.equal(s.isDuplicate('a.b.d', 1), false);
    assert.equal(s.isDuplicate('x', 4), true, '* caught it first');
    assert.equal(s.isDuplicate('x.y', 3), false);
    assert.equal(s.owner('nothing.matches.this.one'), 5, 'no match by our reckoning: every copy kept');
  });

  it('checks nothing when no two subscriptions overlap', () => {
    const s = new Subscriptions(['a.>', 'a', 'b.>', 'b'], NATS_SYNTAX);
    assert.equal(s.overlapping, false);
    assert.equal(s.isDuplicate('b.x', 2), false);
    assert.equal(new Subscriptions(['>'], NATS_SYNTAX).isDuplicate('a', 0), false);
  });

  it('MQTT: wildcards do not match a first level starting with $', () => {
    const s = new Subscriptions(['#', '$SYS/#'], MQTT_SYNTAX);
    assert.equal(s.isDuplicate('$SYS/x', 1), false);
    assert.equal(s.isDuplicate('a/b', 0), false);
    assert.equal(new Subscriptions(['a/#', '+'], MQTT_SYNTAX).isDuplicate('a', 1), true);
  });
});

describe('NATS header scanner', () => {
  const scanner = new HeaderScanner('Psrt-Origin', 'Psrt-Priority', 'me', 0x7f);
  const scan = (h: MsgHdrs | Uint8Array): number => {
    if (h instanceof Uint8Array) return scanner.scan(h, h.length);
    assert.ok(h instanceof MsgHdrsImpl);
    const b = h.encode();
    return scanner.scan(b, b.length);
  };
  const raw = (s: string): Uint8Array => new TextEncoder().encode(s);

  it('reads what psrtd exports, in place', () => {
    assert.equal(scan(exportHeaders('other', { priority: 9, contentType: undefined, userProperties: undefined })), 9);
    assert.equal(scan(exportHeaders('me', { priority: 9, contentType: undefined, userProperties: undefined })), ECHO);
    assert.equal(scan(raw('NATS/1.0\r\nPsrt-Origin: x\r\n\r\n')), 0x7f, 'no priority: the default');
    assert.equal(scan(raw('NATS/1.0\r\nPsrt-Priority:  0 \r\nPsrt-Origin:me\r\n\r\n')), ECHO, 'spacing trimmed as the client does');
    assert.equal(scan(raw('NATS/1.0\r\nPsrt-Origin: me\r\nPsrt-Origin: x\r\n\r\n')), ECHO, 'the first value counts');
  });

  it('leaves anything else to the client', () => {
    const withType = exportHeaders('other', { priority: 1, contentType: 'text/plain', userProperties: undefined });
    assert.equal(scan(withType), SLOW);
    assert.notEqual(metaOf(withType, 't'), null);
    for (const s of [
      'NATS/1.0 503\r\n\r\n', 'NATS/1.0\r\nPsrt-Priority: 256\r\n\r\n', 'NATS/1.0\r\nPsrt-Priority: 0x1\r\n\r\n',
      'NATS/1.0\r\npsrt-origin: me\r\n\r\n', 'NATS/1.0\r\nPsrt-Origin: me\r\n', 'NATS/1.0\r\nPsrt-Origin: me\n\r\n',
    ]) assert.equal(scan(raw(s)), SLOW, JSON.stringify(s));
    const h = headers();
    h.set('Other', 'x');
    assert.equal(scan(h), SLOW);
  });
});

describe('firstSubscriptionId', () => {
  it('is the same for the same filters, differs for another order, and keeps every id in 1..268,435,455', () => {
    const a = firstSubscriptionId(['a/+/c', 'a/b/+', 'p/#']);
    assert.equal(firstSubscriptionId(['a/+/c', 'a/b/+', 'p/#']), a);
    assert.notEqual(firstSubscriptionId(['p/#', 'a/+/c', 'a/b/+']), a);
    for (const n of [0, 1, 2, 3, 100, 10_000]) {
      for (let seed = 0; seed < 50; seed++) {
        const filters = Array.from({ length: n }, (_, i) => `f${String(seed)}/${String(i)}`);
        const first = firstSubscriptionId(filters);
        assert.ok(first >= 1 && first + Math.max(0, n - 1) <= 268_435_455, `n ${String(n)}: ${String(first)}`);
      }
    }
  });
});
