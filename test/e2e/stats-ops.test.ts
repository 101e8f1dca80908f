/**
 * What an operator looks for first, in `/details`, `/clients`, `/history` and on the page in
 * headless Chromium: slow-disconnect, undeliverable and rejected-login counts, UDP counters,
 * RSS/CPU, the client list with replication links apart, charts drawn from the server's recent
 * history at once on load, and "—" (not "0 µs") for the latency of an idle interval.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startPsrtd, type Psrtd } from '../helpers/psrtd.js';
import { attachData, login, publishFrame, topicsFrame, type RawConn } from '../helpers/raw.js';
import { PASSWORD, makePasswd } from '../helpers/users.js';

const CHROMIUM = [process.env.PSRT_CHROMIUM, '/usr/bin/chromium'].find((p) => p !== undefined && p !== '' && existsSync(p));

const ACL = `
_:
  sub: ["#"]
  pub: ["#"]
  admin: true
repl:
  sub: ["#"]
  pub: ["#"]
  replicator: true
`;

interface Row { protocol: string; user: string; address: string; subscriptions: number; queue: number | null; connected_since: number }
interface ClientsDoc { total: number; clients: Row[]; replication: Row[] }
interface PageGlobals {
  document: { querySelector(s: string): { textContent: string | null } | null };
  Chart: { getChart(id: string): { data: { datasets: { data: (number | null)[] }[] } } | undefined };
}

async function getJson<T>(port: number, path: string): Promise<T> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  assert.equal(res.status, 200, path);
  return (await res.json()) as T;
}

describe('stats for operators', () => {
  let server: Psrtd;
  let port = 0;
  const conns: RawConn[] = [];
  let pub: RawConn;
  let keepAlive: NodeJS.Timeout | undefined;

  before(async () => {
    server = await startPsrtd({ acl: ACL, passwd: makePasswd(), udp: true, server: { bind_stats: '127.0.0.1:0' } });
    port = server.statsPort ?? 0;
    const sub = await login(server.port);
    const data = await attachData(server.port, sub.token, 255);
    sub.ctl.send(topicsFrame(2, ['a/#', 'b']));
    assert.equal((await sub.ctl.read(1))[0], 1);
    const repl = await login(server.port, 'repl', PASSWORD);
    const p = await login(server.port);
    pub = p.ctl;
    conns.push(sub.ctl, data, repl.ctl, pub);
    // Control sockets must speak within proto.timeout (2 s here): a NOP every 500 ms, replies dropped.
    keepAlive = setInterval(() => {
      for (const c of [sub.ctl, repl.ctl, pub]) {
        c.send(Buffer.from([0]));
        void c.read(c.buffered).catch(() => undefined);
      }
      void data.read(data.buffered).catch(() => undefined);
    }, 500);
    // A wrong password: one rejected login.
    const bad = await login(server.port, 'repl', 'wrong').catch(() => null);
    assert.equal(bad, null);
    // Three seconds of traffic: the history has something to show before the page opens.
    for (let i = 0; i < 30; i++) {
      pub.send(publishFrame('a/1', 'x'.repeat(100)));
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  after(async () => {
    clearInterval(keepAlive);
    for (const c of conns) c.destroy();
    await server.stop();
  });

  test('/details: rejected logins, UDP counters, RSS and CPU', async () => {
    const d = await getJson<{ rejected_logins: number; slow_disconnected: number; undeliverable: number; udp: Record<string, number> | null; process: { rss_bytes: number; cpu_seconds: number; cpu_share: number | null } }>(port, '/details');
    assert.ok(d.rejected_logins >= 1, JSON.stringify(d));
    assert.equal(d.slow_disconnected, 0);
    assert.equal(typeof d.undeliverable, 'number');
    assert.ok(d.udp !== null && typeof d.udp.received === 'number');
    assert.ok(d.process.rss_bytes > 10 << 20 && d.process.cpu_seconds > 0);
    assert.ok(d.process.cpu_share !== null && d.process.cpu_share >= 0);
  });

  test('/clients: PSRT clients with subscriptions and queue; the replication link apart', async () => {
    const doc = await getJson<ClientsDoc>(port, '/clients');
    assert.equal(doc.total, 2);
    assert.deepEqual(doc.clients.map((c) => c.protocol), ['psrt', 'psrt']);
    const subscriber = doc.clients.find((c) => c.subscriptions === 2);
    assert.ok(subscriber, JSON.stringify(doc));
    assert.equal(subscriber.user, 'anonymous');
    assert.equal(subscriber.queue, 0);
    assert.match(subscriber.address, /^127\.0\.0\.1:\d+$/);
    assert.ok(Date.now() - subscriber.connected_since < 60_000);
    assert.equal(doc.clients.find((c) => c.subscriptions === 0)?.queue, null, 'no data socket: no queue');
    assert.deepEqual(doc.replication.map((c) => [c.protocol, c.user]), [['replication', 'repl']]);
    assert.ok(!JSON.stringify(doc).includes('token'));
  });

  test('/history: one sample a second with the counters', async () => {
    const h = await getJson<{ seconds: number; samples: { time: number; counters: Record<string, number> }[] }>(port, '/history');
    assert.equal(h.seconds, 300);
    assert.ok(h.samples.length >= 3, String(h.samples.length));
    const last = h.samples.at(-1);
    const first = h.samples[0];
    assert.ok(last && first && last.counters.c_pub_messages! > first.counters.c_pub_messages!);
    assert.ok(last.time > first.time);
  });

  describe('the page', { skip: CHROMIUM === undefined ? 'no Chromium (/usr/bin/chromium or PSRT_CHROMIUM)' : false }, () => {
    let browser: Browser;
    let page: Page;
    before(async () => {
      browser = await chromium.launch({
        executablePath: CHROMIUM ?? '',
        headless: true,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
      });
      page = await browser.newPage({ viewport: { width: 1360, height: 1400 } });
    });
    after(async () => {
      await browser.close();
    });

    test('charts show the last seconds at once; idle latency is "—"; health and clients shown', async () => {
      const opened = Date.now();
      await page.goto(`http://127.0.0.1:${port}/`);
      // Before a second /status poll could have produced a rate, history has filled the chart.
      await page.waitForFunction(() => {
        const d = (globalThis as unknown as PageGlobals).Chart.getChart('chart-messages')?.data.datasets[0]?.data ?? [];
        return d.filter((v) => v !== null && v > 0).length >= 2;
      }, undefined, { timeout: 5000 });
      assert.ok(Date.now() - opened < 5000);
      // No traffic now: after two polls the latency of the last interval is "—".
      await page.waitForFunction(() => (globalThis as unknown as PageGlobals).document.querySelector('[data-counter="c_sent_latency"] .num')?.textContent === '—', undefined, { timeout: 8000 });
      await page.waitForFunction(() => ((globalThis as unknown as PageGlobals).document.querySelector('#repl-body')?.textContent ?? '').includes('repl'), undefined, { timeout: 8000 });
      assert.match(await page.locator('#h-rejected').innerText(), /^[1-9]/);
      assert.match(await page.locator('#h-rss').innerText(), /MiB$/);
      assert.match(await page.locator('#h-udp').innerText(), /^\d+ \/ \d+ \/ \d+$/);
      assert.equal(await page.locator('#clients-body tr').count(), 2);
      assert.match(await page.locator('#clients-body').innerText(), /anonymous\s+psrt\s+2/);
      assert.match(await page.locator('#clients-count').innerText(), /\(2\)/);
    });
  });
});
