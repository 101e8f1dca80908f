/**
 * QoS 2 publishes held between PUBREC and PUBREL. MQTT 3.1.1 has no Receive Maximum, so a 3.1.1
 * client bursting QoS 2 publishes must not be disconnected for it (MQTT.js writes them all before
 * any PUBREL; Mosquitto takes them); the ids are kept in a PacketIdSet, bounded by the id space.
 * Pass criteria: PacketIdSet agrees with a Set across its Set and bitmap forms; an MQTT.js 3.1.1
 * client completes 3,000 QoS 2 publishes in one burst on one connection, each delivered exactly
 * once; a raw 3.1.1 client resending a pending id after the switch to the bitmap gets a PUBREC
 * and no second delivery; v5 still gets DISCONNECT 0x93 beyond Receive Maximum (malformed.test).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it, test } from 'node:test';
import fc from 'fast-check';
import { PacketIdSet } from '../../src/mqtt/packet-id-set.js';
import { ackPacket, openClient, publishPacket, rawSession, readPacket, sleep } from '../helpers/mqtt-raw.js';
import { startPsrtd, type Psrtd } from '../helpers/psrtd.js';

describe('PacketIdSet', () => {
  test('behaves as a Set of ids 1 … 65535 through both forms', () => {
    const op = fc.record({ add: fc.boolean(), id: fc.integer({ min: 1, max: 65_535 }) });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 600 }), fc.integer({ min: 1, max: 400 }), (ops, burst) => {
        const ids = new PacketIdSet();
        const ref = new Set<number>();
        for (let id = 1; id <= burst; id++) {
          ids.add(id);
          ref.add(id);
        }
        for (const o of ops) {
          if (o.add) {
            ids.add(o.id);
            ref.add(o.id);
          } else {
            assert.equal(ids.delete(o.id), ref.delete(o.id));
          }
          assert.equal(ids.size, ref.size);
          assert.equal(ids.has(o.id), ref.has(o.id));
        }
        for (let id = 1; id <= 500; id++) assert.equal(ids.has(id), ref.has(id));
        for (const id of ref) assert.equal(ids.delete(id), true);
        assert.equal(ids.size, 0);
      }),
      { numRuns: 60 },
    );
  });
});

describe('MQTT 3.1.1 QoS 2 bursts', () => {
  const RECEIVE_MAX = 16;
  let server: Psrtd;
  before(async () => {
    server = await startPsrtd({ mqtt: { receive_maximum: RECEIVE_MAX } });
  });
  after(async () => {
    await server.stop();
  });

  it('MQTT.js (3.1.1): 3,000 QoS 2 publishes in one burst all complete, each delivered once, no disconnect', async () => {
    const N = 3000;
    const sub = await openClient(server.mqttPort, { protocolVersion: 4, clientId: 'burst-sub' });
    const pub = await openClient(server.mqttPort, { protocolVersion: 4, clientId: 'burst-pub' });
    let closes = 0;
    const closed = new Promise<never>((_, reject) => {
      pub.client.on('close', () => {
        closes++;
        reject(new Error('the publisher was disconnected'));
      });
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => { reject(new Error('publishes not completed within 20 s')); }, 20_000);
    });
    try {
      await sub.client.subscribeAsync('burst/t', { qos: 2 });
      const sends: Promise<unknown>[] = [];
      for (let i = 0; i < N; i++) sends.push(pub.client.publishAsync('burst/t', String(i), { qos: 2 }));
      await Promise.race([Promise.all(sends), closed, timeout]);
      const got = await sub.inbox.waitFor(N, 20_000);
      await sleep(200);
      assert.equal(closes, 0, 'the publisher was disconnected');
      assert.equal(sub.inbox.messages.length, N);
      assert.deepEqual(got.map((m) => Number(m.payload)), Array.from({ length: N }, (_, i) => i));
    } finally {
      clearTimeout(timer);
      closed.catch(() => undefined);
      pub.client.end(true);
      await sub.client.endAsync();
    }
  });

  it('raw 3.1.1: a pending id resent after 200 others is acknowledged, not delivered twice', async () => {
    const sub = await openClient(server.mqttPort, { protocolVersion: 4, clientId: 'dup-sub' });
    const conn = await rawSession(server.mqttPort, { version: 4, clientId: 'dup-pub' });
    try {
      await sub.client.subscribeAsync('dup/t', { qos: 2 });
      const n = 200;
      for (let id = 1; id <= n; id++) conn.send(publishPacket('dup/t', `m${id}`, { qos: 2, id }));
      conn.send(publishPacket('dup/t', 'm7', { qos: 2, id: 7, dup: true }));
      for (let i = 0; i <= n; i++) {
        const p = await readPacket(conn);
        assert.equal(p.type, 5, `PUBREC expected, got type ${p.type}`);
      }
      for (let id = 1; id <= n; id++) conn.send(ackPacket(6, id));
      for (let i = 0; i < n; i++) assert.equal((await readPacket(conn)).type, 7);
      await sub.inbox.waitFor(n, 5000);
      await sleep(200);
      assert.equal(sub.inbox.messages.length, n);
      // Released: the same id is a new message again.
      conn.send(publishPacket('dup/t', 'again', { qos: 2, id: 7 }));
      assert.equal((await readPacket(conn)).type, 5);
      await sub.inbox.waitFor(n + 1, 3000);
      assert.equal(sub.inbox.messages.at(-1)?.payload, 'again');
    } finally {
      conn.destroy();
      await sub.client.endAsync();
    }
  });
});
