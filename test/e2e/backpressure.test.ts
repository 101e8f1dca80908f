/**
 * Delivery under load (issue 2 item 8): over-driven publishers lose nothing while subscribers
 * keep reading (backpressure), a subscriber that stops reading is dropped after the drain
 * deadline while the others keep receiving, and server memory stays bounded.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { ByteQueue, DataDecoder } from '../../src/protocol/index.js';
import { startPsrtd, type Psrtd } from '../helpers/psrtd.js';
import { attachData, login, publishFrame, topicsFrame, type RawConn } from '../helpers/raw.js';

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

/** Counts delivered messages per publisher and checks per-publisher order. */
class Receiver {
  readonly counts = new Map<number, number>();
  total = 0;
  orderErrors = 0;
  private readonly queue = new ByteQueue();
  private readonly decoder = new DataDecoder(this.queue);
  constructor(readonly data: RawConn) {
    data.socket.removeAllListeners('data');
    data.socket.on('data', (chunk: Buffer) => {
      this.queue.push(chunk);
      for (let ev = this.decoder.next(); ev !== null; ev = this.decoder.next()) {
        if (ev.kind !== 'message') continue;
        const pub = ev.payload.readUInt32LE(0);
        const seq = ev.payload.readUInt32LE(4);
        const expected = this.counts.get(pub) ?? 0;
        if (seq !== expected) this.orderErrors++;
        this.counts.set(pub, seq + 1);
        this.total++;
      }
    });
  }
}

function payload(pub: number, seq: number, size: number): Buffer {
  const p = Buffer.alloc(size, 0x61);
  p.writeUInt32LE(pub, 0);
  p.writeUInt32LE(seq, 4);
  return p;
}

/** Publishes `count` messages pipelined in windows; resolves when every reply was `01`. */
async function publishMany(ctl: RawConn, pub: number, count: number, size: number, window = 2000): Promise<void> {
  for (let start = 0; start < count; start += window) {
    const n = Math.min(window, count - start);
    const frames: Buffer[] = [];
    for (let i = 0; i < n; i++) frames.push(publishFrame('load/t', payload(pub, start + i, size)));
    ctl.send(Buffer.concat(frames));
    const replies = await ctl.read(n, 20000);
    assert.ok(replies.every((b) => b === 1), 'every publish answered 01');
  }
}

async function waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const t0 = performance.now();
  while (!cond()) {
    if (performance.now() - t0 > timeoutMs) throw new Error(`timeout: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('backpressure and slow consumers', () => {
  let server: Psrtd;
  before(async () => {
    server = await startPsrtd({
      proto: { timeout: 10 },
      server: { data_queue: 256, data_drain_timeout: 1, max_pub_size: 100000 },
    });
  });
  after(async () => {
    assert.equal(await server.stop(), 0);
  });

  test('4 publishers → 4 subscribers on one topic, over-driven: every message arrives, in order', async () => {
    const subs: { ctl: RawConn; rx: Receiver }[] = [];
    for (let i = 0; i < 4; i++) {
      const { ctl, token } = await login(server.port);
      const data = await attachData(server.port, token, 255);
      ctl.send(topicsFrame(2, ['load/t']));
      assert.equal((await ctl.read(1))[0], 1);
      subs.push({ ctl, rx: new Receiver(data) });
    }
    const pubs = await Promise.all([0, 1, 2, 3].map(async () => (await login(server.port)).ctl));
    const perPublisher = 25_000;
    let peakRss = 0;
    const sampler = setInterval(() => { peakRss = Math.max(peakRss, rssMb(server.proc.pid ?? 0)); }, 50);
    try {
      await Promise.all(pubs.map((ctl, i) => publishMany(ctl, i, perPublisher, 200)));
      await waitFor(() => subs.every((s) => s.rx.total === 4 * perPublisher), 30000, 'all deliveries');
    } finally {
      clearInterval(sampler);
    }
    for (const { rx } of subs) {
      assert.equal(rx.orderErrors, 0);
      for (let p = 0; p < 4; p++) assert.equal(rx.counts.get(p), perPublisher);
    }
    assert.ok(!server.output.some((l) => l.includes('dropping data channel')), 'no data channel dropped');
    assert.ok(peakRss < 250, `server RSS peaked at ${peakRss.toFixed(0)} MB`);
    for (const c of [...pubs, ...subs.map((s) => s.ctl), ...subs.map((s) => s.rx.data)]) c.destroy();
  });

  test('a subscriber that stops reading is dropped within the deadline; the others get everything', async () => {
    const stuck = await login(server.port);
    const stuckData = await attachData(server.port, stuck.token, 255);
    stuck.ctl.send(topicsFrame(2, ['load/t']));
    await stuck.ctl.read(1);
    stuckData.socket.pause(); // never reads again: kernel buffers fill, then its queue
    const good = await login(server.port);
    const goodRx = new Receiver(await attachData(server.port, good.token, 255));
    good.ctl.send(topicsFrame(2, ['load/t']));
    await good.ctl.read(1);
    const pub = (await login(server.port)).ctl;
    // Keep the stuck session's control socket alive past T with NOPs while we publish.
    const keepAlive = setInterval(() => { stuck.ctl.send('00'); }, 1000);
    let peakRss = 0;
    const sampler = setInterval(() => { peakRss = Math.max(peakRss, rssMb(server.proc.pid ?? 0)); }, 50);
    const count = 40_000;
    const t0 = performance.now();
    try {
      await publishMany(pub, 0, count, 1000, 1000);
      await waitFor(() => goodRx.total === count, 30000, 'good subscriber receives everything');
    } finally {
      clearInterval(sampler);
      clearInterval(keepAlive);
    }
    const elapsed = performance.now() - t0;
    const dropLine = await server.waitForLog(/queue is full \(anonymous@127\.0\.0\.1:\d+\), dropping data channel/, 5000);
    assert.ok(dropLine.length > 0);
    stuckData.socket.resume(); // read what the kernel holds, then the close
    await stuckData.expectClose(5000, Number.MAX_SAFE_INTEGER);
    assert.equal(goodRx.orderErrors, 0);
    assert.ok(elapsed < 15000, `publishing took ${elapsed.toFixed(0)} ms`);
    assert.ok(peakRss < 250, `server RSS peaked at ${peakRss.toFixed(0)} MB`);
    // The stuck session itself survives and may attach a new data socket.
    const again = await attachData(server.port, stuck.token, 255);
    again.destroy();
    for (const c of [stuck.ctl, good.ctl, goodRx.data, pub]) c.destroy();
  });
});
