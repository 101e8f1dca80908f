/**
 * The `mqtt.persistence_file` format (src/mqtt/retained-codec.ts), against bytes written out by
 * hand here. Pass criteria: the encoder writes exactly those bytes and the decoder reads them
 * back; every truncation, every flipped byte, and every record cut short under a valid checksum
 * is refused with PsrtError(BadStateFile) and nothing else; random records round-trip.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { Stamp } from '../../src/broker/delivery.js';
import { ErrorCode, PsrtError } from '../../src/protocol/errors.js';
import { decodeRetained, encodeRetained, encodeRetainedChunks, retainedMessageOf, type RetainedRecord } from '../../src/mqtt/retained-codec.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const sha256 = (b: Buffer): Buffer => createHash('sha256').update(b).digest();
const withChecksum = (body: Buffer): Buffer => Buffer.concat([body, sha256(body)]);

/** Header and two records, byte by byte. */
const HEADER = hex(`
  50 53 52 54 52 45 54 00   # "PSRTRET\\0"
  00 01                     # format version 1
  00 00 00 02               # 2 records
`.replace(/#.*$/gm, ''));
const RECORD_FULL = hex(`
  01 3f                     # QoS 1, every optional field
  42 7a 31 85 c5 00 00 00   # expires at 1800000000000 ms (f64)
  01                        # payload format indicator 1
  00 00 00 03 61 2f 62      # topic "a/b"
  00 00 00 02 68 69         # payload "hi"
  00 00 00 01 78            # content type "x"
  00 00 00 01 72            # response topic "r"
  00 00 00 02 01 02         # correlation data 01 02
  00 00 00 01               # 1 user property
  00 00 00 01 6b 00 00 00 01 76   # "k" = "v"
`.replace(/#.*$/gm, ''));
const RECORD_PLAIN = hex(`
  00 00                     # QoS 0, no optional field
  00 00 00 03 74 c3 a9      # topic "té" (UTF-8: 3 bytes)
  00 00 00 02 00 ff         # payload 00 ff
`.replace(/#.*$/gm, ''));
const BODY = Buffer.concat([HEADER, RECORD_FULL, RECORD_PLAIN]);
const FILE = withChecksum(BODY);

const RECORDS: RetainedRecord[] = [
  {
    rawTopic: 'a/b',
    payload: Buffer.from('hi'),
    qos: 1,
    props: { payloadFormatIndicator: 1, contentType: 'x', responseTopic: 'r', correlationData: hex('0102'), userProperties: [['k', 'v']] },
    expiresAtMs: 1_800_000_000_000,
  },
  { rawTopic: 'té', payload: hex('00ff'), qos: 0, props: null, expiresAtMs: 0 },
];

function assertRefused(file: Buffer, what: string): void {
  assert.throws(() => decodeRetained(file), (e: unknown) => e instanceof PsrtError && e.code === ErrorCode.BadStateFile && e.message.length > 0, what);
}

/** Records compared as plain data (Buffers as bytes, absent properties as absent). */
function plain(rs: readonly RetainedRecord[]): unknown {
  return rs.map((r) => ({ ...r, payload: [...r.payload], props: r.props === null ? null : JSON.parse(JSON.stringify({ ...r.props, correlationData: r.props.correlationData === undefined ? undefined : [...r.props.correlationData] })) as unknown }));
}

describe('retained messages file codec', () => {
  test('encodes the hand-written bytes, whole and in chunks', () => {
    assert.deepEqual(encodeRetained(RECORDS), FILE);
    for (const size of [1, 10, 40]) assert.deepEqual(Buffer.concat([...encodeRetainedChunks(RECORDS, size)]), FILE);
  });

  test('decodes the hand-written bytes', () => {
    assert.deepEqual(plain(decodeRetained(FILE)), plain(RECORDS));
  });

  test('an empty store is a header and a checksum', () => {
    const empty = withChecksum(hex('5053525452455400 0001 00000000'));
    assert.deepEqual(encodeRetained([]), empty);
    assert.deepEqual(decodeRetained(empty), []);
  });

  test('every truncation is refused', () => {
    for (let len = 0; len < FILE.length; len++) assertRefused(FILE.subarray(0, len), `truncated to ${len}`);
  });

  test('every flipped byte is refused (magic, version, records, checksum)', () => {
    for (let i = 0; i < FILE.length; i++) {
      const f = Buffer.from(FILE);
      f[i] = (f[i] ?? 0) ^ 0x20;
      assertRefused(f, `byte ${i} flipped`);
    }
  });

  test('records cut short under a valid checksum are refused at every offset', () => {
    // The checksum cannot catch these: every length check of the record reader must.
    for (let len = HEADER.length; len < BODY.length; len++) assertRefused(withChecksum(BODY.subarray(0, len)), `records cut at ${len}`);
  });

  test('bad magic, unknown version, impossible counts and fields are refused by name', () => {
    const cases: [string, Buffer, RegExp][] = [
      ['magic', withChecksum(Buffer.concat([hex('5053525452455401'), BODY.subarray(8)])), /bad magic/],
      ['version', withChecksum(Buffer.concat([BODY.subarray(0, 8), hex('0002'), BODY.subarray(10)])), /unsupported format version 2/],
      ['count', withChecksum(Buffer.concat([BODY.subarray(0, 10), hex('ffffffff'), BODY.subarray(14)])), /cannot fit/],
      ['extra record count', withChecksum(Buffer.concat([BODY.subarray(0, 10), hex('00000001'), BODY.subarray(14)])), /after the last record/],
      ['QoS 3', withChecksum(Buffer.concat([HEADER, hex('03'), RECORD_FULL.subarray(1), RECORD_PLAIN])), /QoS 3/],
      ['flags', withChecksum(Buffer.concat([HEADER, RECORD_FULL, hex('0040'), RECORD_PLAIN.subarray(2)])), /unknown flags/],
      ['UTF-8', withChecksum(Buffer.concat([HEADER, RECORD_FULL, hex('0000 00000001 ff 00000000')])), /not valid UTF-8/],
      ['huge length', withChecksum(Buffer.concat([HEADER, RECORD_FULL, hex('0000 fffffff0 74')])), /ends inside topic/],
      ['empty topic', withChecksum(Buffer.concat([HEADER, RECORD_FULL, hex('0000 00000000 00000000')])), /empty topic/],
    ];
    for (const [what, file, message] of cases) {
      assert.throws(() => decodeRetained(file), (e: unknown) => e instanceof PsrtError && e.code === ErrorCode.BadStateFile && message.test(e.message), what);
    }
  });

  test('random records round-trip', () => {
    const text = fc.string({ unit: 'grapheme', maxLength: 8 });
    const record = fc.record({
      rawTopic: text.filter((s) => s !== ''),
      payload: fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)),
      qos: fc.constantFrom(0 as const, 1 as const, 2 as const),
      props: fc.option(fc.record({
        payloadFormatIndicator: fc.constantFrom(0, 1),
        contentType: text,
        responseTopic: text,
        correlationData: fc.uint8Array({ maxLength: 8 }).map((a) => Buffer.from(a)),
        userProperties: fc.array(fc.tuple(text, text), { maxLength: 3 }),
      }, { requiredKeys: [] }), { nil: null }),
      expiresAtMs: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 4_000_000_000_000 })),
    });
    fc.assert(fc.property(fc.array(record, { maxLength: 6 }), (rs) => {
      assert.deepEqual(plain(decodeRetained(encodeRetained(rs))), plain(rs.map((r) => ({ ...r, props: r.props !== null && Object.keys(r.props).length === 0 ? null : r.props }))));
    }));
  });

  test('a loaded record keeps its deadline and tells the remaining expiry interval', () => {
    const now = 1_800_000_000_000 - 90_500;
    const m = retainedMessageOf(RECORDS[0] as RetainedRecord, new Stamp(now * 1000), now);
    assert.equal(m.expiresAtMs, 1_800_000_000_000);
    assert.equal(m.retain, true);
    assert.equal(m.propertiesFor(now, null, 0)?.messageExpiryInterval, 91);
    assert.equal(m.contentType, 'x');
    const p = retainedMessageOf(RECORDS[1] as RetainedRecord, new Stamp(now * 1000), now);
    assert.equal(p.expiresAtMs, 0);
    assert.equal(p.props, null);
  });
});
