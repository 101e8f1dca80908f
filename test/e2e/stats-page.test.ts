/**
 * The stats page in a real browser (issue 5): psrtd with bind_stats, traffic from raw sockets,
 * headless Chromium (Debian's `chromium`, driven by playwright-core). Checks that counters,
 * charts and the top-topics table update, that the page survives psrtd going away and coming
 * back, and saves screenshots in both colour schemes to artifacts/.
 *
 * Chromium: $PSRT_CHROMIUM, else /usr/bin/chromium (.ci/run installs it). Without either the
 * test is skipped with a message saying so.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { REPO_ROOT, startPsrtd, type Psrtd } from '../helpers/psrtd.js';
import { attachData, login, publishFrame, topicsFrame, type RawConn } from '../helpers/raw.js';
import { PASSWORD, makePasswd } from '../helpers/users.js';

const CHROMIUM = [process.env.PSRT_CHROMIUM, '/usr/bin/chromium'].find((p) => p !== undefined && p !== '' && existsSync(p));
const SKIP = CHROMIUM === undefined
  ? 'no Chromium: install Debian package `chromium` (/usr/bin/chromium) or set PSRT_CHROMIUM to a Chromium binary'
  : false;
const ARTIFACTS = join(REPO_ROOT, 'artifacts');

/** `_` may use the broker but not read stats: the page must work through Basic auth. */
const ACL = `
_:
  sub: ["#"]
  pub: ["#"]
admin:
  admin: true
`;

/** The browser globals the page callbacks touch (the project compiles without the DOM lib). */
interface PageGlobals {
  document: {
    querySelector(selector: string): { textContent: string | null } | null;
    querySelectorAll(selector: string): { length: number };
    body: unknown;
  };
  getComputedStyle(element: unknown): { backgroundColor: string };
  Chart: { getChart(id: string): { data: { datasets: { data: (number | null)[]; borderColor: string }[] } } | undefined };
}

const TOPICS = [
  { topic: 'plant/1/temperature', payload: '21.5', weight: 4 },
  { topic: 'plant/1/pressure', payload: '1013', weight: 2 },
  { topic: 'plant/2/camera', payload: 'x'.repeat(2000), weight: 1 },
];

/** Publishes on a fixed schedule and subscribes/unsubscribes now and then. */
class Traffic {
  private timer: NodeJS.Timeout | null = null;
  private tick = 0;
  private constructor(
    private readonly pub: RawConn,
    readonly sub: { ctl: RawConn; data: RawConn },
  ) {}

  static async start(port: number): Promise<Traffic> {
    const s = await login(port);
    const data = await attachData(port, s.token, 255);
    s.ctl.send(topicsFrame(2, ['plant/#']));
    assert.equal((await s.ctl.read(1))[0], 1);
    const p = await login(port);
    const t = new Traffic(p.ctl, { ctl: s.ctl, data });
    t.timer = setInterval(() => { t.step(); }, 20);
    return t;
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.pub.destroy();
    this.sub.ctl.destroy();
    this.sub.data.destroy();
  }

  private step(): void {
    this.tick++;
    for (const t of TOPICS) if (this.tick % (5 - t.weight) === 0) this.pub.send(publishFrame(t.topic, t.payload));
    if (this.tick % 10 === 0) this.pub.send(topicsFrame(this.tick % 20 === 0 ? 3 : 2, ['alarms/+']));
    // The subscriber's control socket is otherwise idle: NOP so it outlives the server timeout.
    if (this.tick % 25 === 0) this.sub.ctl.send(Buffer.from([0]));
    // Replies and deliveries are not checked here (other tests do); drop them so nothing piles up.
    for (const c of [this.pub, this.sub.ctl, this.sub.data]) void c.read(c.buffered).catch(() => undefined);
  }
}

async function statusOf(port: number): Promise<{ uptime: number; counters: Record<string, number> }> {
  const auth = Buffer.from(`admin:${PASSWORD}`).toString('base64');
  const res = await fetch(`http://127.0.0.1:${port}/status`, { headers: { authorization: `Basic ${auth}` } });
  assert.equal(res.status, 200);
  return (await res.json()) as { uptime: number; counters: Record<string, number> };
}

const text = (page: Page, selector: string): Promise<string> => page.locator(selector).first().innerText();

/** Non-null, positive points of one chart dataset (Chart.getChart is Chart.js's public API). */
function chartPoints(page: Page, id: string, dataset = 0): Promise<number> {
  return page.evaluate(
    ([chartId, ds]) => {
      const g = globalThis as unknown as PageGlobals;
      const data = g.Chart.getChart(chartId)?.data.datasets[ds]?.data ?? [];
      return data.filter((v) => v !== null && v > 0).length;
    },
    [id, dataset] as const,
  );
}

function chartColor(page: Page, id: string): Promise<string> {
  return page.evaluate((chartId) => {
    const g = globalThis as unknown as PageGlobals;
    return g.Chart.getChart(chartId)?.data.datasets[0]?.borderColor ?? '';
  }, id);
}

describe('stats page in headless Chromium', { skip: SKIP }, () => {
  let server: Psrtd;
  let traffic: Traffic;
  let browser: Browser;
  let page: Page;
  let statsPort: number;
  /** Every URL the page asked for (a plant's operator network often has no internet). */
  const requested: string[] = [];

  before(async () => {
    server = await startPsrtd({ acl: ACL, passwd: makePasswd(), server: { bind_stats: '127.0.0.1:0' } });
    assert.ok(server.statsPort !== null, 'psrtd logged `listening on HTTP …`');
    statsPort = server.statsPort;
    traffic = await Traffic.start(server.port);
    browser = await chromium.launch({
      executablePath: CHROMIUM ?? '',
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const context = await browser.newContext({
      httpCredentials: { username: 'admin', password: PASSWORD },
      viewport: { width: 1360, height: 1100 },
      colorScheme: 'light',
    });
    page = await context.newPage();
    page.on('request', (r) => { requested.push(r.url()); });
    await page.goto(`http://127.0.0.1:${statsPort}/`);
  });

  after(async () => {
    traffic.stop();
    await browser.close();
    await server.stop();
  });

  test('without credentials the real server answers 401 with the realm', async () => {
    const res = await fetch(`http://127.0.0.1:${statsPort}/`);
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('www-authenticate'), 'Basic realm="?"');
  });

  test('server info, live counters and rates', async () => {
    await page.waitForSelector('#status[data-state="online"]', { timeout: 5000 });
    assert.equal(await text(page, '#info-version'), '0.3.6');
    assert.equal(await text(page, '#info-queue'), '1,024');
    // Rates need two polls; traffic runs at ~150 msg/s.
    await page.waitForFunction(() => {
      const n = (globalThis as unknown as PageGlobals).document.querySelector('[data-counter="c_pub_messages"] .num')?.textContent ?? '';
      return Number(n.replace(/,/g, '')) > 10;
    }, undefined, { timeout: 8000 });
    const totalOf = async (): Promise<number> =>
      Number((await text(page, '[data-counter="c_pub_messages"] .total')).replace(/[^\d]/g, ''));
    const first = await totalOf();
    await page.waitForFunction((n) => {
      const t = (globalThis as unknown as PageGlobals).document.querySelector('[data-counter="c_pub_messages"] .total')?.textContent ?? '';
      return Number(t.replace(/[^\d]/g, '')) > n;
    }, first, { timeout: 5000 });
    assert.ok(Number(await text(page, '[data-gauge="client_count"] .num')) >= 2);
    assert.ok(Number(await text(page, '[data-gauge="subscription_count"] .num')) >= 1);
    assert.match(await text(page, '[data-counter="c_sent_latency"] .num'), /^\d[\d,.]*$/);
    assert.equal(await text(page, '#cluster-none'), 'not configured');
  });

  test('everything, Chart.js included, comes from psrtd itself (no CDN)', async () => {
    await page.waitForSelector('#status[data-state="online"]', { timeout: 5000 });
    const origin = `http://127.0.0.1:${String(statsPort)}/`;
    assert.ok(requested.includes(`${origin}chart.min.js`), 'chart.min.js not requested');
    assert.deepEqual(requested.filter((u) => !u.startsWith(origin)), []);
    assert.equal(await page.evaluate(() => typeof (globalThis as unknown as { Chart?: unknown }).Chart), 'function');
  });

  test('charts fill with samples', async () => {
    const deadline = Date.now() + 10_000;
    let points = { messages: 0, bytes: 0, subops: 0 };
    while (Date.now() < deadline) {
      points = {
        messages: await chartPoints(page, 'chart-messages'),
        bytes: await chartPoints(page, 'chart-bytes', 1),
        subops: await chartPoints(page, 'chart-subops'),
      };
      if (points.messages >= 3 && points.bytes >= 3 && points.subops >= 2) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.ok(points.messages >= 3 && points.bytes >= 3 && points.subops >= 2, JSON.stringify(points));
  });

  test('top topics by messages and by bytes', async () => {
    await page.waitForFunction(() => (globalThis as unknown as PageGlobals).document.querySelectorAll('#topics-body td.topic').length >= 3, undefined, { timeout: 5000 });
    const topics = await page.locator('#topics-body td.topic').allInnerTexts();
    assert.deepEqual([...topics].sort(), TOPICS.map((t) => t.topic).sort());
    assert.equal(topics[0], 'plant/1/temperature'); // most messages
    await page.click('#by-bytes');
    await page.waitForFunction(() => (globalThis as unknown as PageGlobals).document.querySelector('#topics-body td.topic')?.textContent === 'plant/2/camera', undefined, { timeout: 3000 });
    assert.equal(await page.getAttribute('#by-bytes', 'aria-pressed'), 'true');
  });

  test('screenshots in the light and the dark colour scheme', async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.waitForTimeout(1500); // a couple more samples in the charts
    await page.screenshot({ path: join(ARTIFACTS, 'stats-page.png'), fullPage: true });
    const light = await chartColor(page, 'chart-messages');
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.waitForFunction((c) => {
      const g = globalThis as unknown as PageGlobals;
      return g.Chart.getChart('chart-messages')?.data.datasets[0]?.borderColor !== c;
    }, light, { timeout: 3000 });
    const bg = await page.evaluate(() => {
      const g = globalThis as unknown as PageGlobals;
      return g.getComputedStyle(g.document.body).backgroundColor;
    });
    assert.equal(bg, 'rgb(13, 17, 23)');
    await page.screenshot({ path: join(ARTIFACTS, 'stats-page-dark.png'), fullPage: true });
    await page.emulateMedia({ colorScheme: 'light' });
  });

  test('psrtd going away shows offline; a restarted psrtd brings the page back', async () => {
    traffic.stop();
    assert.equal(await server.stop(), 0);
    await page.waitForSelector('#status[data-state="offline"]', { timeout: 6000 });
    server = await startPsrtd({ acl: ACL, passwd: makePasswd(), server: { bind_stats: `127.0.0.1:${statsPort}` } });
    traffic = await Traffic.start(server.port);
    await page.waitForSelector('#status[data-state="online"]', { timeout: 8000 });
    // Counters restarted from zero: the page must show fresh rates, not a wrap-around spike.
    const status = await statusOf(statsPort);
    await page.waitForFunction(() => {
      const n = (globalThis as unknown as PageGlobals).document.querySelector('[data-counter="c_pub_messages"] .num')?.textContent ?? '';
      const v = Number(n.replace(/,/g, ''));
      return v > 0 && v < 100_000;
    }, undefined, { timeout: 8000 });
    assert.ok(status.uptime < 60);
  });
});
