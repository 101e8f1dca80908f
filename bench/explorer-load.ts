/**
 * Topic explorer under load: a psrtd with the stats server and MQTT over WebSocket, the explorer
 * open in headless Chromium subscribed to `#`, and an MQTT publisher sending RATE msgs/s over
 * TOPICS topics (`load/<a>/<b>`, numeric payloads) for SECONDS seconds. The page records
 * animation-frame intervals and long tasks (PerformanceObserver 'longtask', > 50 ms); the
 * script prints them with the messages the page received and the machine's load average.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/explorer-load.js [--rate 20000] [--topics 10000] [--seconds 10]
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import { chromium } from 'playwright-core';
import { startPsrtd } from '../test/helpers/psrtd.js';

const { values } = parseArgs({
  options: { rate: { type: 'string', default: '20000' }, topics: { type: 'string', default: '10000' }, seconds: { type: 'string', default: '10' } },
});
const RATE = Number(values.rate);
const TOPICS = Number(values.topics);
const SECONDS = Math.min(60, Number(values.seconds));
const TICK_MS = 10;
const CHROMIUM = process.env.PSRT_CHROMIUM ?? '/usr/bin/chromium';

interface PageProbe {
  psrtExplorer: { topics(): number; received(): number; reveal(t: string): boolean; select(t: string): boolean };
  __probe: { frames: number[]; longTasks: number[] };
}

/** Installed in the page: rAF intervals and long-task durations, nothing else. */
function installProbe(): void {
  const g = globalThis as unknown as PageProbe & {
    requestAnimationFrame(cb: (t: number) => void): void;
    PerformanceObserver: new (cb: (list: { getEntries(): { duration: number }[] }) => void) => { observe(o: object): void };
  };
  g.__probe = { frames: [], longTasks: [] };
  let last = 0;
  const loop = (t: number): void => {
    if (last !== 0) g.__probe.frames.push(t - last);
    last = t;
    g.requestAnimationFrame(loop);
  };
  g.requestAnimationFrame(loop);
  new g.PerformanceObserver((list) => {
    for (const e of list.getEntries()) g.__probe.longTasks.push(e.duration);
  }).observe({ entryTypes: ['longtask'] });
}

function pct(sorted: number[], p: number): number {
  return sorted.length === 0 ? 0 : (sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0);
}

async function main(): Promise<void> {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}`);
  const server = await startPsrtd({ server: { bind_stats: '127.0.0.1:0', data_queue: 100000 }, mqtt: { ws_bind: ['127.0.0.1:0'] }, proto: { timeout: 30 } });
  const profile = mkdtempSync(join(tmpdir(), 'psrt-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
    viewport: { width: 1360, height: 900 },
  });
  const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${server.mqttPort}`, { protocolVersion: 5, reconnectPeriod: 0 });
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    await page.goto(`http://127.0.0.1:${server.statsPort ?? 0}/explorer/`);
    await page.waitForFunction(() => (globalThis as unknown as { document: { querySelector(s: string): { value: string } } }).document.querySelector('#url').value !== '');
    await page.click('#connect');
    await page.waitForSelector('#status:has-text("connected")');
    await page.click('#subscribe');
    await page.waitForSelector('#subs li.ok');
    const side = Math.ceil(Math.sqrt(TOPICS));
    const topic = (i: number): string => `load/${String(Math.floor(i / side)).padStart(3, '0')}/${String(i % side).padStart(3, '0')}`;
    // Every topic once, then open one branch and select a topic (a realistic view while loaded).
    for (let i = 0; i < TOPICS; i++) pub.publish(topic(i), '0');
    await page.waitForFunction((n) => (globalThis as unknown as PageProbe).psrtExplorer.topics() >= n, TOPICS, { timeout: 60_000 });
    await page.evaluate((t) => (globalThis as unknown as PageProbe).psrtExplorer.select(t), topic(7));
    await page.evaluate(installProbe);
    const before = await page.evaluate(() => (globalThis as unknown as PageProbe).psrtExplorer.received());
    let sent = 0;
    let next = 0;
    const started = performance.now();
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        // Catch up on late ticks so the average rate holds on a loaded machine.
        const due = Math.floor(((performance.now() - started) / 1000) * RATE);
        while (sent < due) {
          pub.publish(topic(next), String((next * 7) % 1000));
          next = (next + 1) % TOPICS;
          sent++;
        }
        if (performance.now() - started >= SECONDS * 1000) {
          clearInterval(timer);
          resolve();
        }
      }, TICK_MS);
    });
    const elapsed = (performance.now() - started) / 1000;
    await new Promise((r) => setTimeout(r, 1000));
    const probe = await page.evaluate(() => ({ ...(globalThis as unknown as PageProbe).__probe, received: (globalThis as unknown as PageProbe).psrtExplorer.received() }));
    const frames = [...probe.frames].sort((a, b) => a - b);
    const longTotal = probe.longTasks.reduce((a, b) => a + b, 0);
    const report = {
      sent,
      sentRate: Math.round(sent / elapsed),
      received: probe.received - before,
      topics: TOPICS,
      frames: frames.length,
      fps: Math.round(frames.length / (elapsed + 1)),
      frameMs: { p50: pct(frames, 0.5), p95: pct(frames, 0.95), p99: pct(frames, 0.99), max: frames.at(-1) ?? 0 },
      longTasks: { count: probe.longTasks.length, totalMs: Math.round(longTotal), maxMs: Math.round(Math.max(0, ...probe.longTasks)) },
      loadavg: loadavg().map((l) => l.toFixed(2)),
    };
    console.log(JSON.stringify(report, null, 2));
  } finally {
    await pub.endAsync();
    await context.close();
    rmSync(profile, { recursive: true, force: true });
    await server.stop();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
