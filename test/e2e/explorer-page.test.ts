/**
 * The topic explorer in a real browser: psrtd with the stats server and MQTT over WebSocket,
 * headless Chromium (Debian's `chromium`, driven by playwright-core). The page logs in as a
 * limited user, subscribes, sees a PSRT publish and MQTT publishes (text, JSON, binary,
 * numbers with a chart), publishes to a PSRT subscriber, and shows the ACL's denials for a
 * subscription and a publish. Saves artifacts/explorer.png.
 *
 * Chromium: $PSRT_CHROMIUM, else /usr/bin/chromium (.ci/run installs it); skipped without.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { REPO_ROOT, startPsrtd, type Psrtd } from '../helpers/psrtd.js';
import { attachData, deliveredFrame, login, publishFrame, topicsFrame, type RawConn } from '../helpers/raw.js';
import { PASSWORD, TEST_ACL, makePasswd } from '../helpers/users.js';

const CHROMIUM = [process.env.PSRT_CHROMIUM, '/usr/bin/chromium'].find((p) => p !== undefined && p !== '' && existsSync(p));
const SKIP = CHROMIUM === undefined
  ? 'no Chromium: install Debian package `chromium` (/usr/bin/chromium) or set PSRT_CHROMIUM to a Chromium binary'
  : false;
const ARTIFACTS = join(REPO_ROOT, 'artifacts');

export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** The page's test hook (the project compiles without the DOM lib). */
interface ExplorerGlobals {
  psrtExplorer: { topics(): number; received(): number; reveal(t: string): boolean; select(t: string): boolean };
}

describe('topic explorer page', { skip: SKIP, timeout: 90_000 }, () => {
  let server: Psrtd;
  let context: BrowserContext;
  let page: Page;
  let profile: string;
  let tcpClient: MqttClient;
  let psrtPub: RawConn;

  before(async () => {
    server = await startPsrtd({
      server: { bind_stats: '127.0.0.1:0' },
      mqtt: { ws_bind: ['127.0.0.1:0'] },
      proto: { timeout: 30 },
      passwd: makePasswd(),
      acl: TEST_ACL,
    });
    assert.ok(server.statsPort !== null && server.mqttWsPort > 0);
    profile = mkdtempSync(join(tmpdir(), 'psrt-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM ?? '',
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1360, height: 900 },
      colorScheme: 'light',
    });
    page = context.pages()[0] ?? (await context.newPage());
    tcpClient = await mqtt.connectAsync(`mqtt://127.0.0.1:${server.mqttPort}`, { protocolVersion: 5, reconnectPeriod: 0 });
    psrtPub = (await login(server.port)).ctl;
  });

  after(async () => {
    psrtPub.destroy();
    await tcpClient.endAsync();
    await context.close();
    rmSync(profile, { recursive: true, force: true });
    await server.stop();
  });

  const text = (selector: string): Promise<string> => page.locator(selector).innerText();
  const select = (topic: string): Promise<boolean> =>
    page.evaluate((t) => (globalThis as unknown as ExplorerGlobals).psrtExplorer.select(t), topic);
  const waitTopic = (topic: string): Promise<unknown> =>
    page.waitForFunction((t) => (globalThis as unknown as ExplorerGlobals).psrtExplorer.reveal(t), topic, { timeout: 10_000 });

  test('loads without the stats login, fills the WebSocket URL and logs in', async () => {
    await page.goto(`http://127.0.0.1:${server.statsPort}/explorer/`);
    await page.waitForFunction(() => (globalThis as unknown as { document: { querySelector(s: string): { value: string } } }).document.querySelector('#url').value !== '');
    assert.equal(await page.inputValue('#url'), `ws://127.0.0.1:${server.mqttWsPort}/mqtt`);
    await page.fill('#user', 'limited');
    await page.fill('#password', 'wrong');
    await page.click('#connect');
    await page.waitForSelector('#notice:has-text("connection")', { timeout: 10_000 });
    await page.fill('#password', PASSWORD);
    await page.click('#connect');
    await page.waitForSelector('#status:has-text("connected as limited")', { timeout: 10_000 });
  });

  test('subscribes, and shows a denied subscription as denied', async () => {
    await page.fill('#mask', 'allowed/#');
    await page.click('#subscribe');
    await page.waitForSelector('#subs li.ok[data-mask="allowed/#"]');
    await page.fill('#mask', 'secret/#');
    await page.click('#subscribe');
    await page.waitForSelector('#subs li.denied[data-mask="secret/#"]');
    assert.match(await text('#notice'), /secret\/#: denied \(.*Not authorized/);
  });

  test('shows messages from a PSRT and an MQTT client; formats JSON, binary and charts numbers', async () => {
    psrtPub.send(publishFrame('allowed/line1/temp', '20.5'));
    assert.equal((await psrtPub.read(1))[0], 1);
    await tcpClient.publishAsync('allowed/line1/state', '{"mode":"auto","speed":3}', { qos: 1 });
    await tcpClient.publishAsync('allowed/line2/raw', Buffer.from([0x00, 0x01, 0xfe, 0xff]), { qos: 1 });
    await tcpClient.publishAsync('secret/x', 'hidden', { qos: 1 });
    await waitTopic('allowed/line1/temp');
    await waitTopic('allowed/line1/state');
    await waitTopic('allowed/line2/raw');
    assert.match(await text('.row[data-topic="allowed/line1/temp"]'), /20\.5/);
    assert.ok(await select('allowed/line1/state'));
    await page.waitForSelector('#history pre.json');
    assert.match(await text('#history pre.json'), /"mode": "auto",\n\s+"speed": 3/);
    assert.ok(await select('allowed/line2/raw'));
    await page.waitForSelector('#history pre.hex');
    assert.match(await text('#history pre.hex'), /00 01 fe ff/);
    for (const v of ['21', '22.5', '21.75', '23']) {
      psrtPub.send(publishFrame('allowed/line1/temp', v));
      assert.equal((await psrtPub.read(1))[0], 1);
    }
    assert.ok(await select('allowed/line1/temp'));
    await page.waitForSelector('#chart:not([hidden])');
    await page.waitForSelector('#history li:has-text("23")');
    // The ACL hides what `limited` may not read.
    assert.equal(await page.locator('.row[data-topic^="secret"]').count(), 0);
  });

  test('publishes to a PSRT subscriber, and shows a denied publish as denied', async () => {
    const sub = await login(server.port);
    const data = await attachData(server.port, sub.token, 255);
    try {
      sub.ctl.send(topicsFrame(2, ['allowed/from-browser']));
      assert.equal((await sub.ctl.read(1))[0], 1);
      await page.fill('#pub-topic', 'allowed/from-browser');
      await page.fill('#pub-payload', 'hello from the page');
      await page.click('#publish');
      const expected = deliveredFrame('allowed/from-browser', 'hello from the page');
      assert.deepEqual(await data.read(expected.length), expected);
      await page.waitForSelector('#pub-result.ok');
      await page.fill('#pub-topic', 'secret/from-browser');
      await page.click('#publish');
      await page.waitForSelector('#pub-result.bad');
      assert.match(await text('#pub-result'), /denied/);
    } finally {
      sub.ctl.destroy();
      data.destroy();
    }
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'explorer.png') });
  });
});
