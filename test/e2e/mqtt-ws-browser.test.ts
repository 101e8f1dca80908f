/**
 * MQTT over WebSocket from a real browser: headless Chromium (Debian's `chromium`, driven by
 * playwright-core) loads a local page running MQTT.js's browser build (node_modules/mqtt/dist,
 * served by this test: no network) against a real psrtd over ws:// and wss:// (self-signed test
 * CA, --ignore-certificate-errors). It meets a PSRT client and an MQTT.js client over TCP both
 * ways, gets retained messages, publishes bursts MQTT.js sends as one WebSocket message, leaves
 * a will when its tab closes, and reconnects by itself after psrtd restarts.
 *
 * Chromium: $PSRT_CHROMIUM, else /usr/bin/chromium; skipped without.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { makeTestPki, type TestPki } from '../helpers/certs.js';
import { REPO_ROOT, startPsrtd, type Psrtd, type PsrtdOptions } from '../helpers/psrtd.js';
import { attachData, deliveredFrame, login, publishFrame, topicsFrame } from '../helpers/raw.js';

const CHROMIUM = [process.env.PSRT_CHROMIUM, '/usr/bin/chromium'].find((p) => p !== undefined && p !== '' && existsSync(p));
const SKIP = CHROMIUM === undefined ? 'no Chromium: install Debian package `chromium` or set PSRT_CHROMIUM' : false;
const MAX_PACKET = 4096;
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync', '--ignore-certificate-errors'];

/** What the page keeps (the project compiles without the DOM lib). */
interface PageGlobals {
  mqtt: { connect(url: string, opts: Record<string, unknown>): BrowserClient };
  client: BrowserClient;
  received: string[];
  connects: number;
  closes: number;
}
interface BrowserClient {
  connected: boolean;
  on(event: string, f: (...args: never[]) => void): void;
  subscribe(topic: string, opts: Record<string, unknown>, cb: (e: Error | null) => void): void;
  publish(topic: string, payload: string, opts: Record<string, unknown>, cb?: (e?: Error) => void): void;
}

/** Serves the page and MQTT.js's browser build from this machine. */
function pageServer(): Promise<Server> {
  const mqttJs = readFileSync(join(REPO_ROOT, 'node_modules/mqtt/dist/mqtt.min.js'));
  const html = '<!doctype html><html><head><script src="/mqtt.min.js"></script></head><body>MQTT over WebSocket</body></html>';
  const srv = createServer((req, res) => {
    if (req.url === '/mqtt.min.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(mqttJs);
    else res.writeHead(200, { 'content-type': 'text/html' }).end(html);
  });
  return new Promise((resolve) => { srv.listen(0, '127.0.0.1', () => { resolve(srv); }); });
}

/** Connects the page's MQTT.js client; resolves once it is connected. `received` collects "topic payload retain". */
async function connectPage(page: Page, url: string, opts: Record<string, unknown>): Promise<void> {
  await page.evaluate(([u, o]) => {
    const g = globalThis as unknown as PageGlobals;
    g.received = [];
    g.connects = 0;
    g.closes = 0;
    g.client = g.mqtt.connect(u, o);
    g.client.on('connect', () => { g.connects++; });
    g.client.on('close', () => { g.closes++; });
    g.client.on('message', (t: string, m: { toString(): string }, p: { retain: boolean }) => { g.received.push(`${t} ${m.toString()} ${p.retain ? 'retained' : 'live'}`); });
  }, [url, opts] as const);
  await page.waitForFunction(() => (globalThis as unknown as PageGlobals).client.connected, null, { timeout: 10_000 });
}

function subscribePage(page: Page, topic: string): Promise<void> {
  return page.evaluate((t) => new Promise<void>((resolve, reject) => {
    (globalThis as unknown as PageGlobals).client.subscribe(t, { qos: 1 }, (e) => { if (e === null) resolve(); else reject(e); });
  }), topic);
}

function waitReceived(page: Page, line: string): Promise<unknown> {
  return page.waitForFunction((l) => (globalThis as unknown as PageGlobals).received.includes(l), line, { timeout: 10_000 });
}

function nextMessages(c: MqttClient, topicPrefix: string, n: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const got: string[] = [];
    const t = setTimeout(() => { c.off('message', on); reject(new Error(`${got.length} of ${n} messages on ${topicPrefix}`)); }, 10_000);
    const on = (topic: string, payload: Buffer): void => {
      if (!topic.startsWith(topicPrefix)) return;
      got.push(`${topic} ${payload.toString()}`);
      if (got.length < n) return;
      clearTimeout(t);
      c.off('message', on);
      resolve(got);
    };
    c.on('message', on);
  });
}

describe('MQTT.js in Chromium over ws:// and wss://', { skip: SKIP, timeout: 120_000 }, () => {
  let pki: TestPki;
  let server: Psrtd;
  let web: Server;
  let origin: string;
  let context: BrowserContext;
  let profile: string;
  let tcp: MqttClient;
  let config: PsrtdOptions;

  before(async () => {
    pki = makeTestPki();
    config = {
      proto: { timeout: 30 },
      mqtt: { ws_bind: ['127.0.0.1:0'], wss_bind: ['127.0.0.1:0'], tls_cert: pki.serverCert, tls_key: pki.serverKey, max_packet_size: MAX_PACKET },
    };
    server = await startPsrtd(config);
    web = await pageServer();
    origin = `http://127.0.0.1:${(web.address() as AddressInfo).port}`;
    profile = mkdtempSync(join(tmpdir(), 'psrt-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM ?? '',
      headless: true,
      args: CHROMIUM_ARGS,
    });
    tcp = await mqtt.connectAsync(`mqtt://127.0.0.1:${server.mqttPort}`, { protocolVersion: 4, reconnectPeriod: 0 });
  });

  after(async () => {
    await tcp.endAsync();
    await context.close();
    rmSync(profile, { recursive: true, force: true });
    await new Promise((resolve) => { web.close(resolve); });
    await server.stop();
    pki.remove();
  });

  async function openPage(): Promise<Page> {
    const page = await context.newPage();
    await page.goto(`${origin}/`);
    return page;
  }

  for (const scheme of ['ws', 'wss'] as const) {
    test(`${scheme}:// meets PSRT and TCP MQTT clients both ways, with retained messages`, async () => {
      const url = `${scheme}://127.0.0.1:${scheme === 'ws' ? server.mqttWsPort : server.mqttWssPort}/mqtt`;
      const page = await openPage();
      const psrtPub = (await login(server.port)).ctl;
      const psrtSub = await login(server.port);
      const psrtData = await attachData(server.port, psrtSub.token, 255);
      try {
        await tcp.publishAsync(`${scheme}/kept`, 'kept', { qos: 1, retain: true });
        await connectPage(page, url, { protocolVersion: 5, clientId: `browser-${scheme}`, reconnectPeriod: 0 });
        await subscribePage(page, `${scheme}/#`);
        await waitReceived(page, `${scheme}/kept kept retained`);
        await tcp.publishAsync(`${scheme}/from-tcp`, 'tcp', { qos: 1 });
        await waitReceived(page, `${scheme}/from-tcp tcp live`);
        psrtPub.send(publishFrame(`${scheme}/from-psrt`, 'psrt'));
        assert.equal((await psrtPub.read(1))[0], 1);
        await waitReceived(page, `${scheme}/from-psrt psrt live`);
        psrtSub.ctl.send(topicsFrame(2, [`${scheme}/up/#`]));
        assert.equal((await psrtSub.ctl.read(1))[0], 1);
        await tcp.subscribeAsync(`${scheme}/up/#`, { qos: 1 });
        const atTcp = nextMessages(tcp, `${scheme}/up/`, 1);
        await page.evaluate((t) => { (globalThis as unknown as PageGlobals).client.publish(t, 'browser', { qos: 1 }); }, `${scheme}/up/a`);
        assert.deepEqual(await atTcp, [`${scheme}/up/a browser`]);
        const expected = deliveredFrame(`${scheme}/up/a`, 'browser');
        assert.deepEqual(await psrtData.read(expected.length), expected);
        await tcp.publishAsync(`${scheme}/kept`, '', { qos: 1, retain: true });
      } finally {
        psrtPub.destroy();
        psrtSub.ctl.destroy();
        psrtData.destroy();
        await page.close();
      }
    });
  }

  test('a burst of publishes MQTT.js sends as one WebSocket message, larger than max_packet_size, all arrive', async () => {
    const page = await openPage();
    try {
      await connectPage(page, `ws://127.0.0.1:${server.mqttWsPort}/mqtt`, { protocolVersion: 5, clientId: 'browser-burst', reconnectPeriod: 0 });
      await tcp.subscribeAsync('burst/#', { qos: 0 });
      const n = 20;
      const got = nextMessages(tcp, 'burst/', n);
      // One loop, one tick: MQTT.js writes all 20 (~60 KB, max_packet_size is 4 KB) as one message.
      await page.evaluate(([count, size]) => {
        const c = (globalThis as unknown as PageGlobals).client;
        for (let i = 0; i < count; i++) c.publish(`burst/${i}`, 'x'.repeat(size), { qos: 0 });
      }, [n, MAX_PACKET - 1000] as const);
      assert.equal((await got).length, n);
      assert.equal(await page.evaluate(() => (globalThis as unknown as PageGlobals).closes), 0, 'the browser was not disconnected');
    } finally {
      await page.close();
    }
  });

  test('closing the tab publishes the will', async () => {
    const page = await openPage();
    await tcp.subscribeAsync('tab/will', { qos: 1 });
    const will = nextMessages(tcp, 'tab/will', 1);
    await connectPage(page, `wss://127.0.0.1:${server.mqttWssPort}/mqtt`, {
      protocolVersion: 4, clientId: 'browser-will', reconnectPeriod: 0, will: { topic: 'tab/will', payload: 'tab closed', qos: 1, retain: false },
    });
    await page.close();
    assert.deepEqual(await will, ['tab/will tab closed']);
  });

  test('reconnects by itself after psrtd restarts and subscribes again', async () => {
    const page = await openPage();
    try {
      const wsPort = server.mqttWsPort;
      await connectPage(page, `ws://127.0.0.1:${wsPort}/mqtt`, { protocolVersion: 5, clientId: 'browser-restart', reconnectPeriod: 300 });
      await subscribePage(page, 'restart/#');
      await tcp.endAsync();
      await server.stop();
      await page.waitForFunction(() => (globalThis as unknown as PageGlobals).closes > 0, null, { timeout: 10_000 });
      server = await startPsrtd({ ...config, mqtt: { ...config.mqtt, ws_bind: [`127.0.0.1:${wsPort}`], wss_bind: ['127.0.0.1:0'] } });
      await page.waitForFunction(() => (globalThis as unknown as PageGlobals).connects === 2, null, { timeout: 15_000 });
      tcp = await mqtt.connectAsync(`mqtt://127.0.0.1:${server.mqttPort}`, { protocolVersion: 4, reconnectPeriod: 0 });
      // MQTT.js subscribes again on reconnect; its SUBSCRIBE may still be on the way.
      const deadline = Date.now() + 10_000;
      for (let i = 0; ; i++) {
        await tcp.publishAsync('restart/x', `after-${i}`, { qos: 1 });
        const got = await page.evaluate(() => (globalThis as unknown as PageGlobals).received.some((l) => l.startsWith('restart/x after-')));
        if (got) break;
        assert.ok(Date.now() < deadline, 'no message after the restart');
        await new Promise((r) => setTimeout(r, 200));
      }
    } finally {
      await page.close();
    }
  });
});
