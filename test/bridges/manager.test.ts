/**
 * The bridge manager against a fake broker: no hook at all without bridges, routes computed
 * once per topic, topics no bridge exports are not buffered, unmappable topics counted per
 * message, reload keeps unchanged bridges (and their buffers). The upstreams are closed ports, so every export lands in the buffers.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { BridgeConfig, BridgesConfig } from '../../src/bridges/config.js';
import { BridgeManager } from '../../src/bridges/manager.js';
import { createMemoryLogger } from '../../src/log/index.js';
import { freePort } from '../helpers/ports.js';
import { FakeBroker, bridge } from './fakes.js';


describe('bridge manager', () => {
  const broker = new FakeBroker();
  const log = createMemoryLogger();
  const manager = new BridgeManager(broker, log, 8, () => 1);
  after(async () => {
    await manager.stop();
  });

  test('no bridges: not even a hook on the broker', async () => {
    await manager.reload({ nodeId: 'n', bridges: [] });
    assert.equal(broker.hooks.length, 0);
  });

  test('exports go to the bridges whose masks match, under their prefixes; others cost a lookup', async () => {
    const port = await freePort(); // nothing listens: everything stays buffered
    const config: BridgesConfig = {
      nodeId: 'n',
      bridges: [bridge('a', port, ['plant/#']), bridge('b', port, ['#'], { localPrefix: 'plant/', remotePrefix: 'site1/' })],
    };
    await manager.reload(config);
    assert.deepEqual(broker.hooks, [manager]);
    const payload = Buffer.from('xyz');
    manager.onLocalPublish(1, 'plant/boiler', payload, 0, 1, null);
    manager.onLocalPublish(1, 'plant/boiler', [Buffer.from('a'), Buffer.from('b')], 0, 1, null);
    manager.onLocalPublish(1, 'other/topic', payload, 0, 1, null);
    manager.onLocalPublish(1, 'plant/bad topic', payload, 0, 1, null);
    manager.onLocalPublish(1, 'plant/bad topic', payload, 0, 1, null);
    const [a, b] = manager.status();
    assert.ok(a !== undefined && b !== undefined);
    assert.equal(a.buffered, 2);
    assert.equal(b.buffered, 2);
    assert.equal(a.counters.unmappable, 2, 'counted per message');
    assert.equal(b.counters.unmappable, 2);
    assert.equal(a.bufferedBytes, b.bufferedBytes);
  });

  test('reload keeps unchanged bridges, restarts changed ones, stops removed ones', async () => {
    const portA = await freePort();
    await manager.reload({ nodeId: 'n', bridges: [bridge('c', portA, ['#'])] });
    assert.deepEqual(manager.status().map((s) => s.name), ['c']);
    await manager.reload({ nodeId: 'n', bridges: [bridge('c', portA, ['#'])] });
    manager.onLocalPublish(1, 'k', Buffer.from('1'), 0, 0, null);
    assert.equal(manager.status()[0]?.buffered, 1, 'an unchanged bridge kept its buffer');
    await manager.reload(undefined);
    assert.equal(broker.hooks.length, 0, 'the hook goes with the last bridge');
  });

  test('a changed bridge takes over the exports its predecessor still buffered', async () => {
    const port = await freePort();
    await manager.reload({ nodeId: 'n', bridges: [bridge('d', port, ['a/#', 'b/#'])] });
    for (const topic of ['a/1', 'b/1', 'a/2']) manager.onLocalPublish(1, topic, Buffer.from(topic), 0, 1, null);
    assert.equal(manager.status()[0]?.buffered, 3);
    // An upstream that was away: its exports wait. A reload that changes the bridge (here its
    // buffer bound and its masks) must not throw them away; those it no longer exports go.
    await manager.reload({ nodeId: 'n', bridges: [bridge('d', port, ['a/#'], { bufferMessages: 50 })] });
    const [d] = manager.status();
    assert.equal(d?.buffered, 2, 'the a/ exports were handed over, b/1 is no longer exported');
    await manager.reload(undefined);
  });

  test('a changed clean_session or session_expiry restarts an MQTT bridge', async () => {
    const port = await freePort();
    const mq = (extra: Partial<BridgeConfig>): BridgeConfig => bridge('s', port, ['#'], { type: 'mqtt', servers: [`mqtt://127.0.0.1:${port}`], ...extra });
    const restarts = (): number => log.messages('info').filter((m) => m === 'bridge s: stopping').length;
    await manager.reload({ nodeId: 'n', bridges: [mq({})] });
    await manager.reload({ nodeId: 'n', bridges: [mq({ cleanSession: false })] });
    assert.equal(restarts(), 1);
    await manager.reload({ nodeId: 'n', bridges: [mq({ cleanSession: false, sessionExpiry: 60 })] });
    assert.equal(restarts(), 2);
    await manager.reload({ nodeId: 'n', bridges: [mq({ cleanSession: false, sessionExpiry: 60 })] });
    assert.equal(restarts(), 2, 'unchanged: kept');
    await manager.reload(undefined);
  });

  test('a changed ping_interval, max_pings_out, connect_timeout or keepalive restarts the bridge', async () => {
    const port = await freePort();
    const restarts = (name: string): number => log.messages('info').filter((m) => m === `bridge ${name}: stopping`).length;
    const apply = (c: BridgeConfig): Promise<void> => manager.reload({ nodeId: 'n', bridges: [c] });
    await apply(bridge('p', port, ['#']));
    const changes: Partial<BridgeConfig>[] = [{ pingInterval: 1 }, { pingInterval: 1, maxPingsOut: 1 }, { pingInterval: 1, maxPingsOut: 1, connectTimeout: 1 }];
    for (const [i, extra] of changes.entries()) {
      await apply(bridge('p', port, ['#'], extra));
      assert.equal(restarts('p'), i + 1, JSON.stringify(extra));
    }
    await apply(bridge('p', port, ['#'], { pingInterval: 1, maxPingsOut: 1, connectTimeout: 1 }));
    assert.equal(restarts('p'), 3, 'unchanged: kept');
    const mq = (keepalive: number): BridgeConfig => bridge('k', port, ['#'], { type: 'mqtt', servers: [`mqtt://127.0.0.1:${port}`], keepalive });
    await apply(mq(10));
    await apply(mq(2));
    assert.equal(restarts('k'), 1);
    await manager.reload(undefined);
  });

  test('reloads issued back to back apply in order, whichever client library loads first', async () => {
    const port = await freePort();
    // The first needs the MQTT client, not loaded yet in this process; the second only the
    // NATS one, loaded by the tests above: the second must still be applied last.
    const mqttBridge = bridge('m1', port, ['#'], { type: 'mqtt', servers: [`mqtt://127.0.0.1:${port}`] });
    const first = manager.reload({ nodeId: 'n', bridges: [mqttBridge] });
    const second = manager.reload({ nodeId: 'n', bridges: [bridge('n2', port, ['#'])] });
    await Promise.all([first, second]);
    assert.deepEqual(manager.status().map((s) => s.name), ['n2']);
    await manager.reload(undefined);
    assert.equal(broker.hooks.length, 0);
  });
});
