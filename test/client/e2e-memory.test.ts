/**
 * A slow consumer of MB payloads from a real psrtd holds about `queueBytes` of them, not
 * everything the server has sent (the count bound, `queueSize`, would allow 8192 of them).
 */
import assert from 'node:assert/strict';
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { after, before, describe, it } from 'node:test';
import { PsrtClient } from '../../src/client/index.js';
import { startPsrtd, type Psrtd } from './helpers.js';
import { sleep, within } from './util.js';

const MiB = 1024 * 1024;

/** A full garbage collection, so that only live buffers are counted. */
function collect(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

describe('client memory against psrtd (MB payloads, slow consumer)', () => {
  let d: Psrtd;
  before(async () => {
    d = await startPsrtd();
  });
  after(async () => {
    await d.stop();
  });

  it('48 × 1 MiB, consumer 50 ms a message, queueBytes 4 MiB: buffers stay near 4 MiB, all arrive in order', async (t) => {
    const count = 48;
    const sub = await PsrtClient.connect({ path: d.tcp, queueBytes: 4 * MiB });
    const pub = await PsrtClient.connect({ path: d.tcp, dataStream: false });
    const payload = Buffer.alloc(MiB, 0x5a); // one buffer for every publish: only the receiver's count
    try {
      await sub.subscribe('mem/big');
      const inbox = sub.messages();
      collect();
      const base = process.memoryUsage();
      let peakBuffers = 0;
      let peakRss = 0;
      const published = (async () => {
        // priority = sequence number, to check the order without a payload of its own each
        for (let i = 1; i <= count; i++) await pub.publish('mem/big', payload, { priority: i });
      })();
      const got: number[] = [];
      const consumed = (async () => {
        for await (const m of inbox) {
          assert.equal(m.payload.length, MiB);
          got.push(m.priority);
          if (got.length % 4 === 0) {
            collect();
            const now = process.memoryUsage();
            peakBuffers = Math.max(peakBuffers, now.arrayBuffers - base.arrayBuffers);
            peakRss = Math.max(peakRss, now.rss - base.rss);
          }
          if (got.length === count) break;
          await sleep(50);
        }
      })();
      await within(30_000, Promise.all([published, consumed]), 'publish and slow consumption');
      assert.deepEqual(got, Array.from({ length: count }, (_, i) => i + 1));
      const mb = (n: number): string => (n / MiB).toFixed(1);
      t.diagnostic(`${count} MiB received; peak live buffers +${mb(peakBuffers)} MiB, peak RSS +${mb(peakRss)} MiB`);
      // queueBytes (4) + one frame being assembled (1) + socket read chunks; everything (48) without the bound
      assert.ok(peakBuffers < 16 * MiB, `peak live buffers +${mb(peakBuffers)} MiB`);
      await Promise.all([sub.bye(), pub.bye()]);
    } finally {
      sub.close();
      pub.close();
    }
  });
});
