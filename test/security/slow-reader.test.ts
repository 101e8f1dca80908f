/**
 * The slow-consumer policy covers slow readers, not only stopped ones.
 *
 * Pass criteria, against a real psrtd with `slow_consumer_window: 1` and `data_queue: 256`:
 * one subscriber reads at about 200 KB/s while a publisher floods 64-byte messages and a
 * healthy subscriber reads at full speed. With `slow_consumer: disconnect` (default) the slow
 * subscriber's data socket is closed within 6 s with `subscriber too slow … dropping data
 * channel` in the log and psrt_dropped_slow_data_channels_total 1 in /metrics; the healthy
 * subscriber keeps receiving afterwards. With `slow_consumer: drop` the slow subscriber stays
 * connected, its overflow is counted in psrt_dropped_slow_messages_total, and the log says so.
 * (Before this policy the slow reader held the publisher back indefinitely and was never
 * dropped; the drain timeout only catches a queue that stays full.) Brief bursts: the
 * existing zero-loss tests in test/e2e/backpressure.test.ts.
 */
import assert from 'node:assert/strict';
import { get } from 'node:http';
import { describe, test } from 'node:test';
import { FastReader, Flooder, SlowReader } from '../../scripts/lib/hardening/slow-reader.js';
import { sleep } from '../../scripts/lib/hardening/proc.js';
import { startPsrtd, type Psrtd } from '../helpers/psrtd.js';
import { attachData, login, topicsFrame } from '../helpers/raw.js';

function metric(port: number, name: string): Promise<number> {
  return new Promise((res, rej) => {
    get({ host: '127.0.0.1', port, path: '/metrics' }, (r) => {
      let body = '';
      r.setEncoding('utf8');
      r.on('data', (c: string) => (body += c));
      r.on('end', () => { res(Number(new RegExp(`^${name} (\\d+)`, 'm').exec(body)?.[1] ?? -1)); });
    }).on('error', rej);
  });
}

async function subscriber(server: Psrtd): Promise<{ ctl: Awaited<ReturnType<typeof login>>['ctl']; data: Awaited<ReturnType<typeof attachData>> }> {
  const { ctl, token } = await login(server.port);
  const data = await attachData(server.port, token, 255);
  ctl.send(topicsFrame(2, ['flood/t']));
  assert.deepEqual([...(await ctl.read(1))], [1]);
  return { ctl, data };
}

async function scenario(action: 'disconnect' | 'drop'): Promise<void> {
  const server = await startPsrtd({
    server: { data_queue: 256, slow_consumer_window: 1, slow_consumer: action, data_drain_timeout: 10, bind_stats: '127.0.0.1:0' },
    proto: { timeout: 10 },
  });
  const conns: { destroy(): void }[] = [];
  try {
    const healthySub = await subscriber(server);
    const slowSub = await subscriber(server);
    conns.push(healthySub.ctl, healthySub.data, slowSub.ctl, slowSub.data);
    const healthy = new FastReader(healthySub.data.socket);
    const slow = new SlowReader(slowSub.data.socket, 200_000);
    const pub = await login(server.port);
    conns.push(pub.ctl);
    const flooder = new Flooder(pub.ctl.socket, 'flood/t', 64);
    flooder.start();
    try {
      if (action === 'disconnect') {
        const line = await server.waitForLog(/subscriber too slow: held its publishers back .* dropping data channel/, 6000);
        assert.match(line, /anonymous@127\.0\.0\.1:\d+/);
        slow.stop();
        slowSub.data.socket.resume(); // read what the kernel still buffers, up to the server's close
        for (let i = 0; i < 50 && !slow.closed; i++) await sleep(100);
        assert.ok(slow.closed, 'the slow subscriber data socket is closed');
        assert.equal(await metric(server.statsPort ?? 0, 'psrt_dropped_slow_data_channels_total'), 1);
      } else {
        await server.waitForLog(/subscriber too slow: .*dropping its messages beyond the queue limit/, 6000);
        await sleep(500);
        assert.ok(!slow.closed, 'the slow subscriber stays connected');
        assert.ok((await metric(server.statsPort ?? 0, 'psrt_dropped_slow_messages_total')) > 0);
      }
      const before = healthy.bytes;
      const answered = flooder.answered;
      await sleep(500);
      assert.ok(healthy.bytes > before, 'the healthy subscriber keeps receiving');
      assert.ok(flooder.answered > answered, 'the publisher keeps being served');
    } finally {
      flooder.stop();
      slow.stop();
    }
  } finally {
    for (const c of conns) c.destroy();
    assert.equal(await server.stop(), 0);
  }
}

describe('slow readers', () => {
  test('slow_consumer: disconnect drops a subscriber that reads too slowly', async () => {
    await scenario('disconnect');
  });
  test('slow_consumer: drop keeps it, drops and counts its overflow', async () => {
    await scenario('drop');
  });
});
