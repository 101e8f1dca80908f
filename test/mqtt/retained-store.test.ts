/**
 * RetainedStore limits: `retained_max_count` / `retained_max_bytes` bound the devices' retained
 * messages; the broker's own `$SYS` tree is stored outside them (it must never take the place of
 * a device's last value, nor be refused), while `count` and `bytes` report everything.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { stampNow } from '../../src/broker/delivery.js';
import { MqttMessage } from '../../src/mqtt/message.js';
import { RetainedStore } from '../../src/mqtt/retained.js';

function msg(topic: string, payload: string): MqttMessage {
  return new MqttMessage(topic, Buffer.from(payload), 0, true, 0x7f, stampNow(), null, null);
}

describe('RetainedStore limits and $SYS', () => {
  it('count limit: $SYS messages take no slot', () => {
    const store = new RetainedStore(2, 1 << 20);
    assert.ok(store.put(msg('$SYS/broker/uptime', '1 seconds')));
    assert.ok(store.put(msg('$SYS/broker/version', 'psrtd version 0.3.6')));
    assert.ok(store.put(msg('plant/a', '1')));
    assert.ok(store.put(msg('plant/b', '2')));
    assert.equal(store.put(msg('plant/c', '3')), false, 'a third device message is over the limit of 2');
    assert.equal(store.refused, 1);
    assert.ok(store.put(msg('$SYS/broker/clients/connected', '4')), '$SYS is never refused');
    assert.ok(store.put(msg('plant/a', 'replaced')), 'a replacement needs no new slot');
    assert.equal(store.count, 5);
    // Deleting a $SYS message frees no device slot; deleting a device message does.
    assert.ok(store.put(msg('$SYS/broker/uptime', '')));
    assert.equal(store.put(msg('plant/c', '3')), false);
    assert.ok(store.put(msg('plant/b', '')));
    assert.ok(store.put(msg('plant/c', '3')));
    assert.deepEqual(store.snapshot(Date.now()).map((m) => m.rawTopic), ['plant/a', 'plant/c']);
  });

  it('byte limit: $SYS bytes do not count against it', () => {
    // topic + payload: 'd/x' + 7 bytes = 10 bytes per device message; room for exactly two.
    const store = new RetainedStore(100, 20);
    assert.ok(store.put(msg('$SYS/broker/version', 'x'.repeat(100))));
    assert.ok(store.put(msg('d/1', '1234567')));
    assert.ok(store.put(msg('d/2', '1234567')));
    assert.equal(store.put(msg('d/3', '1234567')), false);
    assert.equal(store.bytes, 19 + 100 + 20);
    // A $SYS value that grows or shrinks keeps the device budget as it was.
    assert.ok(store.put(msg('$SYS/broker/version', 'short')));
    assert.equal(store.put(msg('d/3', '1234567')), false);
    assert.ok(store.put(msg('d/2', '123')), 'a smaller replacement fits');
    assert.equal(store.bytes, 19 + 5 + 10 + 6);
  });

  it('$SYS changes are not changes to save', () => {
    const store = new RetainedStore(10, 1 << 20);
    store.put(msg('$SYS/broker/uptime', '1 seconds'));
    store.put(msg('$SYS/broker/uptime', '2 seconds'));
    store.put(msg('$SYS/broker/uptime', ''));
    assert.equal(store.changes, 0);
    store.put(msg('plant/a', '1'));
    store.put(msg('plant/a', ''));
    assert.equal(store.changes, 2);
  });
});
