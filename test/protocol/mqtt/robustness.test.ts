/**
 * Robustness properties: our encoder → our decoder over random splits, and random or mutated
 * bytes, which may only ever yield packets, null (need more) or an MqttError — never another
 * exception, and never an unbounded buffer.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { MqttDecoder, MqttError, encodePacket, type MqttPacket, type MqttVersion } from '../../../src/protocol/mqtt/index.js';
import { VECTORS } from './vectors.js';

const RUNS = { numRuns: 300, seed: 0x77 };
const MAX = 4096;

/** Feeds the chunks; returns the packets decoded and whether an MqttError ended the stream. */
function run(version: MqttVersion | null, chunks: readonly Buffer[]): { count: number; failed: boolean } {
  const d = new MqttDecoder({ maxPacketSize: MAX });
  d.version = version;
  let count = 0;
  try {
    for (const chunk of chunks) {
      d.push(chunk);
      while (d.next() !== null) count++;
      // Never more than one packet (at most the limit) waiting, plus the bytes of this chunk.
      assert.ok(d.buffered <= MAX + chunk.length);
    }
  } catch (e) {
    if (!(e instanceof MqttError)) throw e;
    return { count, failed: true };
  }
  return { count, failed: false };
}

function cut(bytes: Buffer, points: readonly number[]): Buffer[] {
  const sorted = points.map((p) => p % (bytes.length + 1)).sort((a, b) => a - b);
  const out: Buffer[] = [];
  let start = 0;
  for (const p of [...sorted, bytes.length]) {
    out.push(Buffer.from(bytes.subarray(start, p)));
    start = p;
  }
  return out;
}

describe('MQTT decoder robustness', () => {
  for (const version of [null, 4, 5] as const) {
    it(`random bytes (version ${version ?? 'unknown'}) → packets, null or MqttError`, () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 200 }), fc.array(fc.nat(), { maxLength: 4 }), (raw, points) => {
          run(version, cut(Buffer.from(raw), points));
        }),
        RUNS,
      );
    });
  }

  it('mutated vectors → packets, null or MqttError', () => {
    const vector = fc.constantFrom(...VECTORS);
    fc.assert(
      fc.property(vector, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 3 }), (v, edits) => {
        const bytes = Buffer.from(v.bytes);
        for (const [at, value] of edits) bytes[at % bytes.length] = value;
        run(v.packet.type === 'connect' ? null : v.version, [bytes]);
      }),
      RUNS,
    );
  });

  it('vectors re-encoded by us decode the same, split at random points', () => {
    const vector = fc.constantFrom(...VECTORS);
    fc.assert(
      fc.property(vector, fc.array(fc.nat(), { maxLength: 5 }), (v, points) => {
        const d = new MqttDecoder({ maxPacketSize: MAX });
        if (v.packet.type !== 'connect') d.version = v.version;
        const got: MqttPacket[] = [];
        for (const chunk of cut(encodePacket(v.packet, v.version), points)) {
          d.push(chunk);
          for (let p = d.next(); p !== null; p = d.next()) got.push(p);
        }
        assert.deepEqual(got, [v.packet]);
      }),
      RUNS,
    );
  });
});
