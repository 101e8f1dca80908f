/** The slab writer of plain QoS 0 PUBLISHes produces exactly what encodePublish produces. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodePublish, plainPublishSize, writePlainPublish, type MqttVersion } from '../../../src/protocol/mqtt/index.js';

describe('writePlainPublish', () => {
  const topics = ['a', 'plant/line-7/temp', 'ünïcödé/トピック', 'x'.repeat(300)];
  const payloads = [Buffer.alloc(0), Buffer.from('21.5'), Buffer.alloc(65, 7), Buffer.alloc(70_000, 1)];
  for (const version of [4, 5] as MqttVersion[]) {
    for (const retain of [false, true]) {
      it(`v${version}${retain ? ' retained' : ''}: same bytes as encodePublish, at an offset`, () => {
        for (const topic of topics) {
          for (const payload of payloads) {
            const want = encodePublish(topic, payload, 0, retain, false, 0, undefined, version);
            const bytes = Buffer.from(topic, 'utf8');
            assert.equal(plainPublishSize(bytes.length, payload.length, version), want.length);
            const buf = Buffer.alloc(want.length + 10, 0xee);
            const end = writePlainPublish(buf, 5, bytes, payload, retain, version);
            assert.equal(end, 5 + want.length);
            assert.deepEqual(buf.subarray(5, end), want);
            assert.equal(buf[4], 0xee);
            assert.equal(buf[end], 0xee);
          }
        }
      });
    }
  }
});
