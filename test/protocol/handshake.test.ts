/** readGreeting, readLoginFrame (TCP and name-only) and readDataHandshake against hand vectors. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ByteQueue } from '../../src/protocol/byte-queue.js';
import {
  isValidTcpMode,
  readDataHandshake,
  readGreeting,
  readLoginFrame,
} from '../../src/protocol/handshake.js';
import { DATA_HANDSHAKES, GREETINGS, LOGINS } from '../fixtures/vectors/handshake.js';
import { hex } from '../fixtures/vectors/hex.js';
import type { Outcome } from '../fixtures/vectors/types.js';
import { chunkings, runOnce } from './helpers.js';

/**
 * Checks one vector under every chunking: same value or same error, an error raised only when
 * the last byte arrives (vectors are minimal), and the surplus left for the next stage.
 */
function checkOneShot<T>(
  bytes: Buffer,
  expect: Outcome<T> | null,
  surplusHex: string | undefined,
  read: (queue: ByteQueue) => T | null,
): number {
  let runs = 0;
  for (const { label, chunks } of chunkings(bytes)) {
    const run = runOnce(chunks, read);
    runs++;
    if (expect === null) {
      assert.equal(run.value, null, label);
      assert.equal(run.error, null, label);
    } else if ('error' in expect) {
      assert.equal(run.error, expect.error, label);
      assert.equal(run.errorAtChunk, chunks.length - 1, `${label}: error before the last byte`);
    } else {
      assert.equal(run.error, null, label);
      assert.deepEqual(run.value, expect.value, label);
      assert.deepEqual(run.surplus, hex(surplusHex ?? ''), `${label}: surplus`);
    }
  }
  return runs;
}

describe('readGreeting', () => {
  for (const v of GREETINGS) {
    it(`${v.ref} ${v.name}`, () => {
      const bytes = hex(v.hex);
      assert.ok(checkOneShot(bytes, v.expect, v.surplus, readGreeting) >= 1);
      if (v.expect !== null && 'value' in v.expect) {
        assert.equal(isValidTcpMode(v.expect.value.mode), v.tcpModeValid);
      }
    });
  }

  it('every header byte pair other than EE AA / EE AB is refused', () => {
    for (let b0 = 0; b0 < 256; b0 += 17) {
      for (let b1 = 0; b1 < 256; b1++) {
        const ok = b0 === 0xee && (b1 === 0xaa || b1 === 0xab);
        const run = runOnce([Buffer.from([b0, b1, 0])], readGreeting);
        assert.equal(run.error, ok ? null : 'BadGreetingHeader', `${b0} ${b1}`);
      }
    }
  });
});

describe('readLoginFrame', () => {
  for (const v of LOGINS) {
    it(`${v.ref} ${v.name}`, () => {
      const bytes = hex(v.hex);
      checkOneShot(bytes, v.full, v.surplus, (q) => readLoginFrame(q));
      checkOneShot(bytes, v.nameOnly, v.surplus, (q) => readLoginFrame(q, true));
    });
  }
});

describe('readDataHandshake', () => {
  for (const v of DATA_HANDSHAKES) {
    it(`${v.ref} ${v.name}`, () => {
      checkOneShot(hex(v.hex), v.expect, v.surplus, readDataHandshake);
    });
  }

  it('copies the token so it outlives the received chunk', () => {
    const chunk = hex(DATA_HANDSHAKES[0]?.hex ?? '');
    const run = runOnce([chunk], readDataHandshake);
    const before = Buffer.from(run.value?.token ?? []);
    chunk.fill(0);
    assert.deepEqual(run.value?.token, before);
  });
});
