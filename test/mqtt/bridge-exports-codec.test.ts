/**
 * The bridge section of the `mqtt.persistence_file` format (src/mqtt/bridge-exports-codec.ts,
 * format version 3). Pass criteria: the bridges' exports round-trip byte-exact, in order, with
 * priority, QoS, content type and user properties; a file holding none is written as version 2
 * (what the previous psrtd reads); version 2 and version 1 files written by hand still load (no
 * bridge exports); every truncation, flipped byte or impossible section is refused with
 * PsrtError(BadStateFile).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { ErrorCode, PsrtError } from '../../src/protocol/errors.js';
import type { SavedBridgeExports, SavedExport } from '../../src/mqtt/bridge-exports-codec.js';
import type { RetainedRecord } from '../../src/mqtt/record-codec.js';
import { decodeState, encodeState, encodeStateChunks, type StateSnapshot } from '../../src/mqtt/state-codec.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/#.*$/gm, '').replace(/\s+/g, ''), 'hex');
const withChecksum = (body: Buffer): Buffer => Buffer.concat([body, createHash('sha256').update(body).digest()]);

const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

function exp(topic: string, payload: Buffer | string, extra: Partial<SavedExport> = {}): SavedExport {
  return { priority: 0x7f, topic, payload: Buffer.from(payload), qos: 0, contentType: undefined, userProperties: undefined, ...extra };
}

const BRIDGES: SavedBridgeExports[] = [
  {
    name: 'up',
    exports: [
      exp('plant/a', 'first', { qos: 1, priority: 3 }),
      exp('plant/b', ALL_BYTES, { contentType: 'application/octet-stream', userProperties: [['k', 'v'], ['k', 'v2'], ['é', '']] }),
      exp('plant/a', '', { qos: 2, priority: 255 }),
    ],
  },
  { name: 'nats-é', exports: [exp('x', 'y')] },
];

const RETAINED: RetainedRecord[] = [{ rawTopic: 'r/1', payload: Buffer.from('kept'), qos: 1, props: null, expiresAtMs: 0 }];

function state(bridges: readonly SavedBridgeExports[]): StateSnapshot<RetainedRecord> {
  return { retained: RETAINED, savedAtMs: 1_700_000_000_000, sessions: [], bridges };
}

/** Exports as plain data (payloads as byte arrays). */
function plain(bs: readonly SavedBridgeExports[]): unknown {
  return bs.map((b) => ({ name: b.name, exports: b.exports.map((e) => ({ ...e, payload: [...e.payload], userProperties: e.userProperties?.map(([k, v]) => [k, v]) })) }));
}

function refused(file: Buffer, message: RegExp, what: string): void {
  assert.throws(() => decodeState(file), (e: unknown) => e instanceof PsrtError && e.code === ErrorCode.BadStateFile && message.test(e.message), what);
}

/** A version 3 file with one bridge `b` holding one plain export on `t` (payload "p", priority 1). */
const ONE_EXPORT = hex(`
  50 53 52 54 52 45 54 00  00 03  00 00 00 00   # magic, version 3, no retained message
  42 78 bc fe 56 80 00 00                       # saved at 1700000000000 ms
  00                                            # no session
  00 00 00 01                                   # 1 bridge
  00 00 00 01 62  00 00 00 01                   # "b", 1 export
  01  00 00  00 00 00 01 74  00 00 00 01 70     # priority 1, QoS 0, no flags, topic "t", payload "p"
`);

describe('persistence file: bridge exports', () => {
  test('round-trip: every bridge, in order, byte-exact, with priority, QoS and properties (whole and in chunks)', () => {
    const file = encodeState(state(BRIDGES));
    assert.equal(file.readUInt16BE(8), 3);
    for (const size of [1, 7, 64, 1 << 20]) assert.deepEqual(Buffer.concat([...encodeStateChunks(state(BRIDGES), size)]), file);
    const decoded = decodeState(file);
    assert.equal(decoded.version, 3);
    assert.deepEqual(plain(decoded.bridges), plain(BRIDGES));
    assert.equal(decoded.retained.length, 1);
  });

  test('the hand-written bytes of a version 3 file', () => {
    assert.deepEqual(encodeState({ retained: [], savedAtMs: 1_700_000_000_000, sessions: [], bridges: [{ name: 'b', exports: [exp('t', 'p', { priority: 1 })] }] }), withChecksum(ONE_EXPORT));
    assert.deepEqual(plain(decodeState(withChecksum(ONE_EXPORT)).bridges), plain([{ name: 'b', exports: [exp('t', 'p', { priority: 1 })] }]));
  });

  test('without exports the file is version 2, as the previous psrtd wrote and reads it', () => {
    for (const bridges of [[], [{ name: 'up', exports: [] }]]) {
      const file = encodeState(state(bridges));
      assert.equal(file.readUInt16BE(8), 2);
      assert.deepEqual(encodeState(state(bridges)), encodeState({ retained: RETAINED, savedAtMs: 1_700_000_000_000, sessions: [] }));
      assert.deepEqual(decodeState(file).bridges, []);
    }
  });

  test('older files (version 2 and 1, written by hand) still load, with no bridge exports', () => {
    const v2 = withChecksum(hex('5053525452455400 0002 00000000 4278bcfe56800000 00'));
    const v1 = withChecksum(hex('5053525452455400 0001 00000000'));
    for (const [file, version] of [[v2, 2], [v1, 1]] as const) {
      const d = decodeState(file);
      assert.equal(d.version, version);
      assert.deepEqual(d.bridges, []);
    }
  });

  test('every truncation and every flipped byte of a version 3 file is refused', () => {
    const file = encodeState(state(BRIDGES));
    for (let len = 0; len < file.length; len++) refused(file.subarray(0, len), /./, `truncated to ${len}`);
    for (let i = 0; i < file.length; i++) {
      const f = Buffer.from(file);
      f[i] = (f[i] ?? 0) ^ 0x20;
      refused(f, /./, `byte ${i} flipped`);
    }
    // Cut short under a valid checksum: the section's own length checks must catch it.
    const body = file.subarray(0, -32);
    for (let len = body.length - 1; len > body.length - 400; len--) refused(withChecksum(body.subarray(0, len)), /./, `cut at ${len}`);
  });

  test('impossible sections are refused by name', () => {
    const body = ONE_EXPORT;
    const bridgeAt = 14 + 8 + 1; // the bridge count: after the header, the saved-at time and the sessions
    const cases: [string, Buffer, RegExp][] = [
      ['bridge count', Buffer.concat([body.subarray(0, bridgeAt), hex('7fffffff'), body.subarray(bridgeAt + 4)]), /bridges cannot fit/],
      ['export count', Buffer.concat([body.subarray(0, bridgeAt + 9), hex('7fffffff'), body.subarray(bridgeAt + 13)]), /exports of bridge "b" cannot fit/],
      ['empty name', Buffer.concat([body.subarray(0, bridgeAt + 4), hex('00000000'), body.subarray(bridgeAt + 9)]), /empty name/],
      ['name twice', Buffer.concat([body.subarray(0, bridgeAt), hex('00000002'), body.subarray(bridgeAt + 4), body.subarray(bridgeAt + 4)]), /name "b" saved twice/],
      ['an expiry', Buffer.concat([body.subarray(0, bridgeAt + 14), hex('00 01 4278bcfe56800000'), body.subarray(bridgeAt + 16)]), /an expiry deadline/],
      ['a response topic', Buffer.concat([body.subarray(0, bridgeAt + 14), hex('00 08'), body.subarray(bridgeAt + 16), hex('00000001 72')]), /properties a bridge does not keep/],
      ['bytes after', Buffer.concat([body, hex('00')]), /1 bytes after the last record/],
    ];
    for (const [what, b, message] of cases) refused(withChecksum(b), message, what);
  });
});
