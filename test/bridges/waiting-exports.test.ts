/**
 * The exports a persistence file hands the bridges at start, and what it gets back (the bridge
 * manager against a fake broker; the upstreams are closed ports, so every export stays
 * buffered). Pass criteria: loaded exports go into the buffer of the bridge of the same name,
 * in order and before new ones, within its current bounds (oldest dropped, counted), as far as
 * its current `out` masks export them (the others dropped, counted in one log line); exports of
 * names no longer configured are discarded, said once; an autosave sees the buffers; the stop
 * at shutdown hands every buffered export over (and says "saved in <file>"); without a
 * persistence file the stop drops them, as before.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { OutMessage } from '../../src/bridges/buffer.js';
import { BridgeManager } from '../../src/bridges/manager.js';
import { createMemoryLogger } from '../../src/log/index.js';
import { freePort } from '../helpers/ports.js';
import { FakeBroker, bridge } from './fakes.js';


function out(topic: string, payload: string, priority = 0x7f): OutMessage {
  return { priority, topic, payload: Buffer.from(payload), qos: 1, contentType: 'text/plain', userProperties: [['k', payload]] };
}

const payloads = (bs: readonly { exports: readonly OutMessage[] }[]): string[][] => bs.map((b) => b.exports.map((m) => m.payload.toString()));

describe('bridge exports saved and loaded with the persistence file', () => {
  test('loaded exports are queued first, within the current bounds and masks; unknown names discarded once', async (t) => {
    const log = createMemoryLogger();
    const manager = new BridgeManager(new FakeBroker(), log, 8, () => 1);
    const port = await freePort();
    const saved = [
      { name: 'a', exports: [out('plant/1', '1'), out('other/x', 'x'), out('plant/2', '2'), out('plant/3', '3', 9), out('plant/4', '4')] },
      { name: 'gone', exports: [out('plant/9', '9'), out('plant/9', '10')] },
    ];
    manager.exports.restore(saved, '/var/lib/psrtd/state.bin');
    const changes = manager.exports.changes;
    await manager.start({ nodeId: 'n', bridges: [bridge('a', port, ['plant/#'], { bufferMessages: 3 }), bridge('b', port, ['#'])] });
    t.after(() => manager.stop()); // a failed assertion must not leave a bridge retrying
    const [a, b] = manager.status();
    assert.ok(a !== undefined && b !== undefined);
    assert.equal(a.buffered, 3, 'buffer_messages 3: the newest three of the four still exported');
    assert.equal(a.counters.dropped, 1, 'the oldest, dropped by the bound, is counted');
    assert.equal(b.buffered, 0, 'nothing was saved for b');
    const info = log.messages('info');
    assert.ok(info.includes('bridge a: 3 saved exports from /var/lib/psrtd/state.bin queued (1 no longer exported by its out masks, dropped; 1 over buffer_messages / buffer_bytes, oldest dropped)'), info.join('\n'));
    assert.deepEqual(log.messages('warn').filter((l) => l.includes('no longer configured')), ['bridges: 2 saved exports of bridges no longer configured ("gone") discarded']);
    assert.notEqual(manager.exports.changes, changes);
    // New traffic goes after the loaded exports; an autosave sees the buffers as they are.
    manager.onLocalPublish(5, 'plant/new', Buffer.from('new'), 0, 0, null);
    const snap = manager.exports.snapshot();
    assert.deepEqual(snap.map((s) => s.name), ['a', 'b']);
    assert.deepEqual(payloads(snap), [['3', '4', 'new'], ['new']], 'the bound keeps applying: the oldest loaded one made room');
    const first = snap[0]?.exports[0];
    assert.deepEqual({ ...first, payload: first?.payload.toString() }, { ...out('plant/3', '3', 9), payload: '3' }, 'priority, QoS and properties kept');
    // A later reload does not queue saved exports again, nor say anything about them.
    await manager.reload({ nodeId: 'n', bridges: [bridge('a', port, ['plant/#'], { bufferMessages: 3 })] });
    assert.equal(log.messages('warn').filter((l) => l.includes('no longer configured')).length, 1);
    // The stop at shutdown hands over what each bridge still had, in order.
    await manager.stop();
    assert.deepEqual(payloads(manager.exports.snapshot()), [['3', '4', 'new']], 'b, removed by the reload, dropped its own');
    assert.ok(log.messages('info').includes('bridge a: stopping, 3 buffered exports saved in /var/lib/psrtd/state.bin'), log.messages('info').join('\n'));
  });

  test('without a persistence file the stop drops the buffered exports, as before', async () => {
    const log = createMemoryLogger();
    const manager = new BridgeManager(new FakeBroker(), log, 8, () => 1);
    await manager.start({ nodeId: 'n', bridges: [bridge('a', await freePort(), ['#'])] });
    manager.onLocalPublish(5, 't', Buffer.from('x'), 0, 0, null);
    await manager.stop();
    assert.ok(log.messages('info').includes('bridge a: stopping, 1 buffered exports dropped'));
    assert.deepEqual(manager.exports.snapshot(), []);
  });
});
