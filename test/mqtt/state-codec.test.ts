/**
 * The `mqtt.persistence_file` format (src/mqtt/state-codec.ts, record-codec.ts,
 * session-codec.ts), against bytes written out by hand here. Pass criteria: the encoder writes
 * exactly those bytes (version 2) and the decoder reads them back, and reads a version 1 file
 * (retained messages only, as psrtd wrote before sessions were saved); every truncation, every
 * flipped byte, and every record cut short under a valid checksum is refused with
 * PsrtError(BadStateFile) and nothing else; random records and sessions round-trip.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { Stamp } from '../../src/broker/delivery.js';
import { ErrorCode, PsrtError } from '../../src/protocol/errors.js';
import { queuedMessageOf, retainedMessageOf, type RetainedRecord } from '../../src/mqtt/record-codec.js';
import type { SavedSession } from '../../src/mqtt/session-codec.js';
import { decodeRetained, decodeState, encodeRetained, encodeState, encodeStateChunks, type StateSnapshot } from '../../src/mqtt/state-codec.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const sha256 = (b: Buffer): Buffer => createHash('sha256').update(b).digest();
const withChecksum = (body: Buffer): Buffer => Buffer.concat([body, sha256(body)]);

/** Header and two records, byte by byte. */
const HEADER = hex(`
  50 53 52 54 52 45 54 00   # "PSRTRET\\0"
  00 02                     # format version 2
  00 00 00 02               # 2 retained messages
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
/** Version 2 without sessions: saved at 0, no session. */
const NO_SESSIONS = hex('0000000000000000 00');
const BODY = Buffer.concat([HEADER, RECORD_FULL, RECORD_PLAIN, NO_SESSIONS]);
const FILE = withChecksum(BODY);
/** What psrtd wrote before sessions were saved. */
const V1_FILE = withChecksum(Buffer.concat([HEADER.subarray(0, 8), hex('0001'), HEADER.subarray(10), RECORD_FULL, RECORD_PLAIN]));

/** The sessions part of a version 2 file: two sessions, one message queued twice. */
const SESSIONS_PART = hex(`
  42 78 bc fe 56 80 00 00   # saved at 1700000000000 ms
  01                        # a session follows
  00 00 00 02 73 31         # client id "s1"
  00 00 00 01 75            # user "u"
  00 00 0e 10               # expiry interval 3600 s
  42 78 bc fe 6e ea 00 00   # ends at 1700000100000 ms
  01                        # QoS state follows
  00 00 00 02               # 2 subscriptions
  00 00 00 03 63 2f 23 19 00 00 00 07       # "c/#": QoS 1, retain as published, retain handling 1, id 7
  00 00 00 0c 24 73 68 61 72 65 2f 67 2f 63 2f 64 02 00 00 00 00   # "$share/g/c/d": QoS 2
  00 05                     # next packet id 5
  00 00 00 01               # 1 in flight
  00 04 0a                  # id 4, QoS 2 released
  00 00 00 00               # message 0, the first: defined here
  01 00 00 00 00 03 63 2f 64 00 00 00 01 71   # QoS 1, no option, "c/d", payload "q"
  00 00 00 01 00 00 00 07   # subscription identifiers [7]
  00 00 00 01               # 1 queued
  05 00 00 00 00 00 00 00 00                     # QoS 1 retain, message 0 (defined above), no id
  00 00 00 02 00 01 ff ff   # inbound QoS 2 ids 1 and 65535
  01                        # a session follows
  00 00 00 02 73 32         # client id "s2"
  00 00 00 01 5f            # user "_"
  ff ff ff ff               # never expires
  00 00 00 00 00 00 00 00   # ends: never
  00                        # no QoS state
  00 00 00 00               # no subscription
  00                        # no more sessions
`.replace(/#.*$/gm, ''));
const SESSIONS_BODY = Buffer.concat([HEADER, RECORD_FULL, RECORD_PLAIN, SESSIONS_PART]);
const SESSIONS_FILE = withChecksum(SESSIONS_BODY);

/** A session whose delayed will was waiting at the save. */
const WILL_FILE = withChecksum(hex(`
  50 53 52 54 52 45 54 00 00 02 00 00 00 00   # header, version 2, no retained message
  00 00 00 00 00 00 00 00   # saved at 0
  01                        # a session follows
  00 00 00 02 73 33         # client id "s3"
  00 00 00 01 75            # user "u"
  00 00 00 3c               # expiry interval 60 s
  42 78 bc fe 56 80 00 00   # ends at 1700000000000 ms
  02                        # a will follows (no QoS state)
  00 00 00 00               # no subscription
  03                        # will: retain, message expiry interval follows
  00 00 00 1e               # will delay 30 s
  00 00 0e 10               # message expiry interval 3600 s
  42 78 bc fe 5d d3 00 00   # due at 1700000030000 ms
  01 04 00 00 00 03 64 2f 73 00 00 00 03 6f 66 66 00 00 00 01 78   # QoS 1, content type: "d/s", "off", "x"
  00                        # no more sessions
`.replace(/#.*$/gm, '')));
const WILL_SESSION: SavedSession<RetainedRecord> = {
  clientId: 's3',
  user: 'u',
  expiryInterval: 60,
  endsAtMs: 1_700_000_000_000,
  subscriptions: [],
  qos: null,
  will: {
    record: { rawTopic: 'd/s', payload: Buffer.from('off'), qos: 1, props: { contentType: 'x' }, expiresAtMs: 0 },
    retain: true,
    delay: 30,
    messageExpiry: 3600,
    atMs: 1_700_000_030_000,
  },
};

const QUEUED: RetainedRecord = { rawTopic: 'c/d', payload: Buffer.from('q'), qos: 1, props: null, expiresAtMs: 0 };
const SUB_OPTS = { qos: 1, noLocal: false, retainAsPublished: true, retainHandling: 1, identifier: 7 } as const;
const SHARED_OPTS = { qos: 2, noLocal: false, retainAsPublished: false, retainHandling: 0, identifier: 0 } as const;

function sessions<M>(msg: M): SavedSession<M>[] {
  return [
    {
      clientId: 's1',
      user: 'u',
      expiryInterval: 3600,
      endsAtMs: 1_700_000_100_000,
      subscriptions: [{ key: 'c/#', options: SUB_OPTS }, { key: '$share/g/c/d', options: SHARED_OPTS }],
      qos: {
        nextPacketId: 5,
        inflight: [{ packetId: 4, msg, qos: 2, retain: false, released: true, subIds: [7] }],
        queue: [{ msg, qos: 1, retain: true, subIds: null }],
        inboundQos2: [1, 65_535],
      },
      will: null,
    },
    { clientId: 's2', user: '_', expiryInterval: 0xffffffff, endsAtMs: 0, subscriptions: [], qos: null, will: null },
  ];
}

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

describe('persistence file codec', () => {
  test('encodes the hand-written bytes, whole and in chunks', () => {
    assert.deepEqual(encodeRetained(RECORDS), FILE);
    const state: StateSnapshot<RetainedRecord> = { retained: RECORDS, savedAtMs: 1_700_000_000_000, sessions: sessions(QUEUED) };
    assert.deepEqual(encodeState(state), SESSIONS_FILE);
    for (const size of [1, 10, 40]) {
      assert.deepEqual(Buffer.concat([...encodeStateChunks({ retained: RECORDS, savedAtMs: 0, sessions: [] }, size)]), FILE);
      assert.deepEqual(Buffer.concat([...encodeStateChunks(state, size)]), SESSIONS_FILE);
    }
  });

  test('decodes the hand-written bytes, version 2 and version 1', () => {
    assert.deepEqual(plain(decodeRetained(FILE)), plain(RECORDS));
    assert.deepEqual(plain(decodeRetained(V1_FILE)), plain(RECORDS));
    const v1 = decodeState(V1_FILE);
    assert.equal(v1.version, 1);
    assert.deepEqual(v1.sessions, []);
    const v2 = decodeState(SESSIONS_FILE);
    assert.equal(v2.version, 2);
    assert.equal(v2.savedAtMs, 1_700_000_000_000);
    assert.deepEqual(plain(v2.retained), plain(RECORDS));
    assert.deepEqual(plain(v2.messages), plain([QUEUED]));
    assert.deepEqual(v2.sessions, sessions(0));
  });

  test('a delayed will: encoded to the hand-written bytes and read back', () => {
    assert.deepEqual(encodeState({ retained: [], savedAtMs: 0, sessions: [WILL_SESSION] }), WILL_FILE);
    const [s] = decodeState(WILL_FILE).sessions;
    assert.ok(s?.will !== null && s?.will !== undefined);
    assert.deepEqual({ ...s, will: { ...s.will, record: plain([s.will.record]) } }, { ...WILL_SESSION, will: { ...WILL_SESSION.will, record: plain([WILL_SESSION.will?.record as RetainedRecord]) } });
    for (let len = 0; len < WILL_FILE.length; len++) assertRefused(WILL_FILE.subarray(0, len), `truncated to ${len}`);
    const badFlags = Buffer.from(WILL_FILE.subarray(0, -32));
    badFlags[14 + 8 + 1 + 6 + 5 + 4 + 8 + 1 + 4] = 0x07;
    assert.throws(() => decodeState(withChecksum(badFlags)), /will at byte \d+: unknown flags 0x7/);
    const willAt = 14 + 8 + 1 + 6 + 5 + 4 + 8 + 1 + 4; // its flags byte; due time at +9, record at +17
    const notDue = Buffer.from(WILL_FILE.subarray(0, -32));
    notDue.writeDoubleBE(Number.NaN, willAt + 9);
    assert.throws(() => decodeState(withChecksum(notDue)), /will at byte \d+: due at NaN/);
    // Its message with an expiry deadline (record flag 0x01 and 8 bytes): a will's expiry is an interval.
    const withDeadline = Buffer.concat([WILL_FILE.subarray(0, willAt + 17), hex('01 05 4278bcfe56800000'), WILL_FILE.subarray(willAt + 19, -32)]);
    assert.throws(() => decodeState(withChecksum(withDeadline)), /will at byte \d+: its message has an expiry deadline/);
  });

  test('an empty state is a header, no retained message, no session and a checksum', () => {
    const empty = withChecksum(hex('5053525452455400 0002 00000000 0000000000000000 00'));
    assert.deepEqual(encodeRetained([]), empty);
    assert.deepEqual(decodeRetained(empty), []);
    assert.deepEqual(decodeRetained(withChecksum(hex('5053525452455400 0001 00000000'))), []);
  });

  test('every truncation is refused', () => {
    for (const file of [FILE, V1_FILE, SESSIONS_FILE]) {
      for (let len = 0; len < file.length; len++) assertRefused(file.subarray(0, len), `truncated to ${len}`);
    }
  });

  test('every flipped byte is refused (magic, version, records, sessions, checksum)', () => {
    for (const file of [FILE, SESSIONS_FILE]) {
      for (let i = 0; i < file.length; i++) {
        const f = Buffer.from(file);
        f[i] = (f[i] ?? 0) ^ 0x20;
        assertRefused(f, `byte ${i} flipped`);
      }
    }
  });

  test('records and sessions cut short under a valid checksum are refused at every offset', () => {
    // The checksum cannot catch these: every length check of the readers must.
    for (const body of [BODY, SESSIONS_BODY]) {
      for (let len = HEADER.length; len < body.length; len++) assertRefused(withChecksum(body.subarray(0, len)), `cut at ${len}`);
    }
  });

  test('bad magic, unknown version, impossible counts and fields are refused by name', () => {
    const cases: [string, Buffer, RegExp][] = [
      ['magic', withChecksum(Buffer.concat([hex('5053525452455401'), BODY.subarray(8)])), /bad magic/],
      ['version', withChecksum(Buffer.concat([BODY.subarray(0, 8), hex('0005'), BODY.subarray(10)])), /unsupported format version 5/],
      ['count', withChecksum(Buffer.concat([BODY.subarray(0, 10), hex('ffffffff'), BODY.subarray(14)])), /cannot fit/],
      ['extra record count', withChecksum(Buffer.concat([V1_FILE.subarray(0, 10), hex('00000001'), V1_FILE.subarray(14, -32)])), /after the last record/],
      ['bytes after the sessions', withChecksum(Buffer.concat([BODY, hex('00')])), /1 bytes after the last record/],
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

  test('impossible sessions are refused by name', () => {
    const at = HEADER.length + RECORD_FULL.length + RECORD_PLAIN.length;
    const head = SESSIONS_BODY.subarray(0, at);
    const part = (edit: (b: Buffer) => void): Buffer => {
      const b = Buffer.from(SESSIONS_PART);
      edit(b);
      return withChecksum(Buffer.concat([head, b]));
    };
    /** Offsets in SESSIONS_PART (see its comments). */
    const S1 = 8 + 1;
    const S1_SUBS = S1 + 6 + 5 + 4 + 8 + 1;
    const S1_QOS = S1_SUBS + 4 + 12 + 21;
    const cases: [string, Buffer, RegExp][] = [
      ['expiry 0', part((b) => b.writeUInt32BE(0, S1 + 11)), /expiry interval 0/],
      ['session flags', part((b) => b.writeUInt8(0x05, S1 + 23)), /unknown flags 0x5/],
      ['subscription QoS 3', part((b) => b.writeUInt8(0x1b, S1_SUBS + 4 + 7)), /options 0x1b/],
      ['retain handling 3', part((b) => b.writeUInt8(0x31, S1_SUBS + 4 + 7)), /options 0x31/],
      ['next packet id 0', part((b) => b.writeUInt16BE(0, S1_QOS)), /next packet id 0/],
      ['message not defined yet', part((b) => b.writeUInt32BE(1, S1_QOS + 9)), /message 1, but 0 defined so far/],
      ['QoS 0 delivery', part((b) => b.writeUInt8(0x08, S1_QOS + 8)), /flags 0x8/],
      ['released QoS 1', part((b) => b.writeUInt8(0x09, S1_QOS + 8)), /cannot be released/],
      ['subscription identifier 0', part((b) => b.writeUInt32BE(0, S1_QOS + 31)), /subscription identifier 0/],
      ['huge subscription count', part((b) => b.writeUInt32BE(0x10000000, S1_SUBS)), /cannot fit/],
      ['duplicate client id', part((b) => b.write('s1', SESSIONS_PART.length - 25, 'latin1')), /client id saved twice/],
      ['session tag', part((b) => b.writeUInt8(2, 8)), /session tag 2 at byte/],
    ];
    for (const [what, file, message] of cases) {
      assert.throws(() => decodeState(file), (e: unknown) => e instanceof PsrtError && e.code === ErrorCode.BadStateFile && message.test(e.message), `${what}: ${(() => { try { decodeState(file); return 'accepted'; } catch (e) { return String(e); } })()}`);
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

  test('random sessions round-trip, messages saved once', () => {
    const text = fc.string({ unit: 'grapheme', maxLength: 6 });
    const ids = fc.option(fc.array(fc.integer({ min: 1, max: 268_435_455 }), { minLength: 1, maxLength: 3 }), { nil: null });
    const options = fc.record({
      qos: fc.constantFrom(0 as const, 1 as const, 2 as const),
      noLocal: fc.boolean(),
      retainAsPublished: fc.boolean(),
      retainHandling: fc.constantFrom(0 as const, 1 as const, 2 as const),
      identifier: fc.integer({ min: 0, max: 268_435_455 }),
    });
    const delivery = (n: number) => fc.record({ msg: fc.nat(n - 1), qos: fc.constantFrom(1 as const, 2 as const), retain: fc.boolean(), subIds: ids });
    const qosState = (n: number) => fc.record({
      nextPacketId: fc.integer({ min: 1, max: 65_535 }),
      inflight: fc.uniqueArray(fc.tuple(fc.integer({ min: 1, max: 65_535 }), delivery(n), fc.boolean()), { selector: ([id]) => id, maxLength: 3 })
        .map((fs) => fs.map(([packetId, d, released]) => ({ ...d, packetId, released: released && d.qos === 2 }))),
      queue: fc.array(delivery(n), { maxLength: 3 }),
      inboundQos2: fc.array(fc.integer({ min: 1, max: 65_535 }), { maxLength: 3 }),
    });
    const session = (n: number) => fc.record({
      clientId: text,
      user: text,
      expiryInterval: fc.integer({ min: 1, max: 0xffffffff }),
      endsAtMs: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 4_000_000_000_000 })),
      subscriptions: fc.array(fc.record({ key: text.filter((s) => s !== ''), options }), { maxLength: 3 }),
      qos: n === 0 ? fc.constant(null) : fc.option(qosState(n), { nil: null }),
      will: fc.option(fc.record({
        record: fc.record({
          rawTopic: text.filter((t) => t !== ''),
          payload: fc.uint8Array({ maxLength: 8 }).map((a) => Buffer.from(a)),
          qos: fc.constantFrom(0 as const, 1 as const, 2 as const),
          props: fc.constant(null),
          expiresAtMs: fc.constant(0),
        }),
        retain: fc.boolean(),
        delay: fc.integer({ min: 0, max: 0xffffffff }),
        messageExpiry: fc.option(fc.integer({ min: 0, max: 0xffffffff }), { nil: null }),
        atMs: fc.integer({ min: 0, max: 4_000_000_000_000 }),
      }), { nil: null }),
    });
    const state = fc.integer({ min: 0, max: 4 }).chain((n) => fc.record({
      messages: fc.array(fc.record({ rawTopic: text.filter((s) => s !== ''), payload: fc.uint8Array({ maxLength: 8 }).map((a) => Buffer.from(a)) }), { minLength: n, maxLength: n }),
      sessions: fc.uniqueArray(session(n), { selector: (s) => s.clientId, maxLength: 4 }),
    }));
    fc.assert(fc.property(state, ({ messages, sessions: saved }) => {
      const records: RetainedRecord[] = messages.map((m) => ({ ...m, qos: 1, props: null, expiresAtMs: 0 }));
      const withRecords = saved.map((s) => ({
        ...s,
        qos: s.qos === null ? null : {
          ...s.qos,
          inflight: s.qos.inflight.map((f) => ({ ...f, msg: records[f.msg] as RetainedRecord })),
          queue: s.qos.queue.map((d) => ({ ...d, msg: records[d.msg] as RetainedRecord })),
        },
      }));
      const decoded = decodeState(encodeState({ retained: [], savedAtMs: 5, sessions: withRecords }));
      assert.equal(decoded.savedAtMs, 5);
      const used = new Set(saved.flatMap((s) => [...(s.qos?.inflight ?? []), ...(s.qos?.queue ?? [])].map((d) => d.msg)));
      assert.equal(decoded.messages.length, used.size, 'each message once');
      const back = decoded.sessions.map((s) => ({
        ...s,
        will: s.will === null ? null : { ...s.will, record: plain([s.will.record]) },
        qos: s.qos === null ? null : {
          ...s.qos,
          inflight: s.qos.inflight.map((f) => ({ ...f, msg: plain([decoded.messages[f.msg] as RetainedRecord]) })),
          queue: s.qos.queue.map((d) => ({ ...d, msg: plain([decoded.messages[d.msg] as RetainedRecord]) })),
        },
      }));
      const want = withRecords.map((s) => ({
        ...s,
        will: s.will === null ? null : { ...s.will, record: plain([s.will.record]) },
        qos: s.qos === null ? null : {
          ...s.qos,
          inflight: s.qos.inflight.map((f) => ({ ...f, msg: plain([f.msg]) })),
          queue: s.qos.queue.map((d) => ({ ...d, msg: plain([d.msg]) })),
        },
      }));
      assert.deepEqual(back, structuredClone(want)); // fast-check's records have no prototype
    }));
  });

  test('a queued message loads as a message of its own, not retained, with its deadline', () => {
    const now = 1_800_000_000_000 - 90_500;
    const file = Buffer.from('xhiy');
    const q = queuedMessageOf({ ...(RECORDS[0] as RetainedRecord), payload: file.subarray(1, 3) }, new Stamp(now * 1000), now);
    assert.equal(q.retain, false);
    assert.equal(q.expiresAtMs, 1_800_000_000_000);
    assert.equal(q.propertiesFor(now, null, 0)?.messageExpiryInterval, 91);
    file.write('zz', 1);
    assert.equal(q.payload.toString(), 'hi', 'copied out of the file buffer');
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
