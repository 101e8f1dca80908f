/** DataDecoder (client side of the data socket) against hand vectors. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DataDecoder, type DataEvent } from '../../src/protocol/data-decoder.js';
import { DATA } from '../fixtures/vectors/data.js';
import { hex } from '../fixtures/vectors/hex.js';
import { chunkings, runStream } from './helpers.js';

describe('DataDecoder vectors (whole, every split, byte by byte)', () => {
  for (const v of DATA) {
    it(`${v.ref} ${v.name}`, () => {
      for (const { label, chunks } of chunkings(hex(v.hex))) {
        let decoder: DataDecoder | null = null;
        const run = runStream<DataEvent>(chunks, (queue) => {
          decoder ??= v.maxFrame === undefined ? new DataDecoder(queue) : new DataDecoder(queue, v.maxFrame);
          return decoder.next();
        });
        assert.deepEqual(run.frames, v.frames, label);
        assert.equal(run.error, v.error ?? null, label);
        if (v.error !== undefined) {
          assert.equal(run.errorAtChunk, chunks.length - 1, `${label}: thrown before the last byte`);
        } else {
          assert.equal(run.buffered > 0, v.pending === true, `${label}: pending bytes`);
        }
      }
    });
  }
});
