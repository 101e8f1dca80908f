/** The topic explorer's routes: public (no stats login), config.json, the rest still behind the login. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createMemoryLogger } from '../../src/log/index.js';
import { loadStatsAssets } from '../../src/stats/assets.js';
import { StatsServer } from '../../src/stats/index.js';
import { FakeAuth, FakeBroker, get } from './helpers.js';

describe('stats server: topic explorer routes', () => {
  let stats: StatsServer;
  let port: number;
  before(async () => {
    const auth = new FakeAuth(new Map([['_', { password: null, admin: false }]]));
    const assets = await loadStatsAssets();
    stats = await StatsServer.start(
      { broker: new FakeBroker(), auth, log: createMemoryLogger(), dataQueueSize: 16, version: '0.3.6', assets },
      { address: '127.0.0.1:0', host: '127.0.0.1', port: 0 },
    );
    port = Number(/:(\d+)$/.exec(stats.address)?.[1]);
  });
  after(() => stats.close());

  test('the page, its scripts and MQTT.js are served without the stats login', async () => {
    const page = await get(port, '/explorer/');
    assert.equal(page.status, 200);
    assert.match(page.body, /<title>PSRT topic explorer<\/title>/);
    assert.match(page.body, /src="mqtt\.min\.js"/);
    for (const f of ['explorer.js', 'explorer-tree.js', 'explorer.css', 'mqtt.min.js']) {
      assert.equal((await get(port, `/explorer/${f}`)).status, 200, f);
    }
    assert.match((await get(port, '/explorer/mqtt.min.js')).body, /^"use strict";var mqtt=/);
    const redirect = await get(port, '/explorer');
    assert.equal(redirect.status, 301);
    assert.equal(redirect.headers.location, 'explorer/');
  });

  test('config.json reports the WebSocket listeners; stats documents still need the login', async () => {
    assert.deepEqual(JSON.parse((await get(port, '/explorer/config.json')).body), { path: '/mqtt', listeners: [] });
    stats.explorer = { path: '/ws', listeners: [{ port: 9001, tls: false }] };
    assert.deepEqual(JSON.parse((await get(port, '/explorer/config.json')).body), { path: '/ws', listeners: [{ port: 9001, tls: false }] });
    assert.equal((await get(port, '/status')).status, 401);
    assert.equal((await get(port, '/')).status, 401);
    assert.equal((await get(port, '/explorer/nope')).status, 401);
    assert.equal((await get(port, '/explorer/', { method: 'POST' })).status, 405);
  });
});
