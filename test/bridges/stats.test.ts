/**
 * Bridge figures on the stats server: /status `bridges` (absent without bridges), /metrics
 * families, and the page's Bridges card in headless Chromium (rates between polls, names
 * rendered as text). The page part is skipped when there is no Chromium.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { createMemoryLogger } from '../../src/log/index.js';
import type { BridgeStatusView } from '../../src/stats/bridges.js';
import { StatsServer } from '../../src/stats/index.js';
import { FakeAuth, FakeBroker } from '../stats/helpers.js';

const CHROMIUM = [process.env.PSRT_CHROMIUM, '/usr/bin/chromium'].find((p) => p !== undefined && p !== '' && existsSync(p));

function view(name: string, state: string, exported: number): BridgeStatusView {
  return {
    name, type: 'nats', state, server: '127.0.0.1:4222', buffered: 3, bufferedBytes: 300,
    counters: { exported, exportedBytes: exported * 64, imported: 5, importedBytes: 50, dropped: 2, unmappable: 1, echoes: 0, connects: 1 },
  };
}

describe('bridges on the stats server', () => {
  let stats: StatsServer;
  let base: string;
  let bridges: BridgeStatusView[] = [];

  before(async () => {
    const opts = {
      broker: new FakeBroker(),
      auth: new FakeAuth(new Map([['_', { password: null, admin: true }]])),
      log: createMemoryLogger(),
      dataQueueSize: 8,
      version: '0.3.6',
    };
    stats = await StatsServer.start(opts, { address: '127.0.0.1:0', host: '127.0.0.1', port: 0 });
    stats.bridgeStatus = () => bridges;
    base = `http://${stats.address}`;
  });

  after(async () => {
    await stats.close();
  });

  test('/status has no bridges member without bridges, and one per bridge with them', async () => {
    bridges = [];
    const plain = (await (await fetch(`${base}/status`)).json()) as Record<string, unknown>;
    assert.equal('bridges' in plain, false);
    bridges = [view('cloud', 'online', 10), view('<b>x</b>', 'offline', 0)];
    const body = (await (await fetch(`${base}/status`)).json()) as { bridges: Record<string, Record<string, unknown>> };
    assert.deepEqual(body.bridges.cloud, {
      type: 'nats', state: 'online', server: '127.0.0.1:4222', buffered: 3, buffered_bytes: 300, exported: 10, exported_bytes: 640,
      imported: 5, imported_bytes: 50, dropped: 2, unmappable: 1, echoes: 0, connects: 1,
    });
    assert.equal(body.bridges['<b>x</b>']?.state, 'offline');
  });

  test('/metrics has the bridge families', async () => {
    bridges = [view('cloud', 'online', 10)];
    const text = await (await fetch(`${base}/metrics`)).text();
    for (const line of [
      'psrt_bridge_state{bridge="cloud",state="online"} 1',
      'psrt_bridge_state{bridge="cloud",state="offline"} 0',
      'psrt_bridge_exported_messages_total{bridge="cloud",type="nats"} 10',
      'psrt_bridge_buffered_messages{bridge="cloud",type="nats"} 3',
      'psrt_bridge_dropped_messages_total{bridge="cloud",type="nats"} 2',
      'psrt_bridge_unmappable_messages_total{bridge="cloud",type="nats"} 1',
    ]) assert.ok(text.includes(line), line);
  });

  test('the page shows the bridges with rates', { skip: CHROMIUM === undefined ? 'no Chromium' : false }, async () => {
    let exported = 0;
    stats.bridgeStatus = () => [view('cloud', 'online', (exported += 1000)), view('<img src=x>', 'offline', 0)];
    const browser: Browser = await chromium.launch({ executablePath: CHROMIUM ?? '', headless: true, args: ['--headless', '--no-sandbox', '--disable-gpu'] });
    try {
      const page = await browser.newPage();
      await page.goto(`${base}/`);
      await page.waitForSelector('#bridges-card:not([hidden])', { timeout: 5000 });
      // The second poll gives a rate (1000 more exports per poll interval).
      await page.waitForFunction(() => {
        const td = (globalThis as unknown as { document: { querySelector(s: string): { textContent: string | null } | null } }).document
          .querySelector('#bridges-body tr:last-child td:nth-child(4)');
        return td !== null && td.textContent !== '–' && td.textContent !== '—'; // no rate yet: a dash
      }, undefined, { timeout: 10_000 });
      const rows = await page.locator('#bridges-body tr').allInnerTexts();
      assert.equal(rows.length, 2);
      assert.match(rows[0] ?? '', /^<img src=x> \(nats\)\toffline/);
      assert.match(rows[1] ?? '', /^cloud \(nats\)\tonline\t127\.0\.0\.1:4222\t[\d.,]+\t0\t3 \(300 B\)\t2\t1$/);
    } finally {
      await browser.close();
    }
  });
});
