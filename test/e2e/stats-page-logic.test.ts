/**
 * The stats page's own logic in headless Chromium against an in-process stats server whose
 * numbers the test controls: 64-bit counter wrap-around, cluster node states, topic names
 * rendered as text (never HTML), offline and back. Skipped like stats-page.test.ts when there is
 * no Chromium.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { createMemoryLogger } from '../../src/log/index.js';
import { StatsServer, type StatsServerOptions } from '../../src/stats/index.js';
import { FakeAuth, FakeBroker } from '../stats/helpers.js';

const CHROMIUM = [process.env.PSRT_CHROMIUM, '/usr/bin/chromium'].find((p) => p !== undefined && p !== '' && existsSync(p));
const SKIP = CHROMIUM === undefined
  ? 'no Chromium: install Debian package `chromium` (/usr/bin/chromium) or set PSRT_CHROMIUM to a Chromium binary'
  : false;

interface PageGlobals {
  document: {
    querySelector(selector: string): { textContent: string | null } | null;
    querySelectorAll(selector: string): { length: number };
  };
  Chart: { getChart(id: string): { data: { datasets: { data: (number | null)[] }[] } } | undefined };
}

const HOSTILE_TOPIC = '<img src=x onerror="window.pwned=1">/t';

describe('stats page logic in headless Chromium', { skip: SKIP }, () => {
  const broker = new FakeBroker();
  const auth = new FakeAuth(new Map([['_', { password: null, admin: true }]]));
  let opts: StatsServerOptions;
  let stats: StatsServer;
  let port: number;
  let browser: Browser;
  let page: Page;

  before(async () => {
    // Just below 2^64 (exactly representable): the next poll sees a wrapped, smaller value.
    broker.counters.pubMessages = 2 ** 64 - 2048;
    broker.clientCount = 1;
    broker.topics = [{ topic: HOSTILE_TOPIC, messages: 3, bytes: 30 }];
    opts = {
      broker,
      auth,
      log: createMemoryLogger(),
      dataQueueSize: 8,
      version: '0.3.6',
      clusterStatus: () => ({ 'node2:2873': 'online', 'node3:2873': 'offline', 'node4:2873': 'connecting' }),
    };
    stats = await StatsServer.start(opts, { address: '127.0.0.1:0', host: '127.0.0.1', port: 0 });
    port = Number(/:(\d+)$/.exec(stats.address)?.[1]);
    browser = await chromium.launch({
      executablePath: CHROMIUM ?? '',
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${port}/`);
    await page.waitForSelector('#status[data-state="online"]', { timeout: 5000 });
  });

  after(async () => {
    await browser.close();
    await stats.close();
  });

  test('cluster nodes with their states', async () => {
    await page.waitForSelector('#cluster-table:not([hidden])', { timeout: 3000 });
    assert.deepEqual(await page.locator('#cluster-body td:first-child').allInnerTexts(), ['node2:2873', 'node3:2873', 'node4:2873']);
    assert.deepEqual(await page.locator('#cluster-body td.node-state').evaluateAll((tds) => tds.map((td) => (td as unknown as { className: string }).className)), [
      'node-state online',
      'node-state offline',
      'node-state connecting',
    ]);
    assert.equal(await page.isHidden('#cluster-none'), true);
  });

  test('topic names are text, never markup', async () => {
    await page.waitForSelector('#topics-body td.topic', { timeout: 3000 });
    assert.equal(await page.locator('#topics-body td.topic').first().innerText(), HOSTILE_TOPIC);
    assert.equal(await page.locator('#topics-body img').count(), 0);
  });

  test('a counter that wraps past 2^64 gives a small rate, not a negative or huge one', async () => {
    // Let the page take a baseline below 2^64 first, then wrap to 1000 (2048 + 1000 = 3048 new).
    await page.waitForTimeout(1200);
    broker.counters.pubMessages = 1000;
    await page.waitForFunction(() => {
      const g = globalThis as unknown as PageGlobals;
      return g.document.querySelector('[data-counter="c_pub_messages"] .total')?.textContent === '1,000 total';
    }, undefined, { timeout: 3000 });
    const rate = Number((await page.locator('[data-counter="c_pub_messages"] .num').innerText()).replace(/,/g, ''));
    // 3048 messages over one poll interval (~1 s, at least 0.5 s): a few thousand per second.
    assert.ok(rate > 1000 && rate < 7000, `rate ${rate}`);
  });

  test('a restart shorter than the poll gap and a clock stepped back: no spike, no freeze', async () => {
    // Scripted /status documents, one per poll (the last one repeats: same time, ignored).
    const t0 = Date.now() * 1000;
    const doc = (timeUs: number, uptime: number, pub: number): string => JSON.stringify({
      time: timeUs, uptime, data_queue_size: 8, host: 'scripted', version: '0.3.6',
      counters: { c_sub_ops: 0, c_pub_messages: pub, c_pub_bytes: 0, c_sent_messages: 0, c_sent_bytes: 0, c_sent_latency: 0 },
      clients: { subscription_count: 0, client_count: 0 }, cluster: null,
    });
    const script = [
      doc(t0, 1, 5000), // a run that lived about a second
      doc(t0 + 3e6, 1, 10), // the next run, polled at the same uptime: counters began again
      doc(t0 + 4e6, 2, 110),
      doc(t0 + 5e6 - 3600e6, 3, 210), // the server's clock stepped back an hour
      doc(t0 + 6e6 - 3600e6, 4, 310),
    ];
    let served = 0;
    await page.route('**/status', (route) => route.fulfill({ contentType: 'application/json', body: script[Math.min(served++, script.length - 1)] ?? '' }));
    const tileWhenTotal = (total: string): Promise<string> => page.waitForFunction((t) => {
      const g = globalThis as unknown as PageGlobals;
      const tile = '[data-counter="c_pub_messages"]';
      return g.document.querySelector(`${tile} .total`)?.textContent === t && g.document.querySelector(`${tile} .num`)?.textContent;
    }, total, { timeout: 6000 }).then(async (h) => String(await h.jsonValue()));
    try {
      assert.equal(await tileWhenTotal('10 total'), '—', 'the restart gave a rate');
      assert.equal(await tileWhenTotal('110 total'), '100');
      assert.equal(await tileWhenTotal('210 total'), '—', 'the page froze or rated across the clock step');
      assert.equal(await tileWhenTotal('310 total'), '100');
      const peak = await page.evaluate(() => {
        const g = globalThis as unknown as PageGlobals;
        return Math.max(0, ...(g.Chart.getChart('chart-messages')?.data.datasets[0]?.data ?? []).map((v) => v ?? 0));
      });
      assert.ok(peak < 1e6, `messages chart peak ${String(peak)}`);
    } finally {
      await page.unroute('**/status');
    }
  });

  test('offline when the server goes away, online again when it is back', async () => {
    await stats.close();
    await page.waitForSelector('#status[data-state="offline"]', { timeout: 6000 });
    assert.equal(await page.getAttribute('body', 'class'), 'state-offline');
    stats = await StatsServer.start(opts, { address: `127.0.0.1:${port}`, host: '127.0.0.1', port });
    await page.waitForSelector('#status[data-state="online"]', { timeout: 6000 });
  });
});
