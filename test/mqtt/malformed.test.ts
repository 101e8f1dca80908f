/**
 * Bad MQTT input over raw sockets: each case sends hand-written bytes, checks the offender is
 * closed (after a v5 DISCONNECT with the right reason code where the spec has one, with no
 * reply where it has not), and that a bystander MQTT client and a bystander PSRT client keep
 * publishing and receiving.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MqttBystander, connectPacket, openClient, packet, props, publishPacket, rawSession, readPacket, sleep, str, u16, varint } from '../helpers/mqtt-raw.js';
import { startPsrtd, type Psrtd } from '../helpers/psrtd.js';
import { Bystander, RawConn } from '../helpers/raw.js';

const MAX_PACKET = 1024;
const RECEIVE_MAX = 2;

interface Case {
  readonly name: string;
  /** Connect first with this version; null: the bytes are the first thing sent. */
  readonly version: 4 | 5 | null;
  readonly bytes: Buffer;
  /** v5 DISCONNECT reason expected before the close; null: closed without a reply. */
  readonly reason: number | null;
}

const FIVE_BYTE_LENGTH = Buffer.from([0xff, 0xff, 0xff, 0xff, 0x7f]);

const CASES: readonly Case[] = [
  { name: 'remaining length of 5 bytes before CONNECT', version: null, bytes: Buffer.concat([Buffer.from([0x10]), FIVE_BYTE_LENGTH]), reason: null },
  { name: 'remaining length of 5 bytes (v5)', version: 5, bytes: Buffer.concat([Buffer.from([0x30]), FIVE_BYTE_LENGTH]), reason: 0x81 },
  { name: 'remaining length of 5 bytes (3.1.1)', version: 4, bytes: Buffer.concat([Buffer.from([0x30]), FIVE_BYTE_LENGTH]), reason: null },
  { name: 'SUBSCRIBE with reserved flags 0000 (v5)', version: 5, bytes: packet(0x80, u16(1), props(), str('a'), Buffer.from([0])), reason: 0x81 },
  { name: 'PINGREQ with reserved flags (v5)', version: 5, bytes: Buffer.from([0xc1, 0]), reason: 0x81 },
  { name: 'PUBREL with flags 0000 (3.1.1)', version: 4, bytes: Buffer.from([0x60, 2, 0, 1]), reason: null },
  { name: 'PUBLISH with QoS 3 (v5)', version: 5, bytes: Buffer.from([0x36, 4, 0, 1, 0x61, 0]), reason: 0x81 },
  { name: 'CONNECT flags reserved bit set', version: null, bytes: Buffer.from([0x10, 12, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0x03, 0, 0, 0, 0]), reason: null },
  { name: 'PINGREQ before CONNECT', version: null, bytes: Buffer.from([0xc0, 0]), reason: null },
  { name: 'PUBLISH before CONNECT', version: null, bytes: publishPacket('a/b', 'x'), reason: null },
  { name: 'second CONNECT (v5)', version: 5, bytes: connectPacket({ version: 5, clientId: 'again' }), reason: 0x82 },
  { name: 'second CONNECT (3.1.1)', version: 4, bytes: connectPacket({ clientId: 'again' }), reason: null },
  { name: 'invalid UTF-8 in a topic (v5)', version: 5, bytes: publishPacket(Buffer.from([0x61, 0x2f, 0xc3, 0x28]), 'x', { version: 5 }), reason: 0x81 },
  { name: 'U+0000 in a topic (v5)', version: 5, bytes: publishPacket(Buffer.from([0x61, 0x00, 0x62]), 'x', { version: 5 }), reason: 0x81 },
  { name: 'invalid UTF-8 in a subscription filter (3.1.1)', version: 4, bytes: packet(0x82, u16(1), str(Buffer.from([0xed, 0xa0, 0x80])), Buffer.from([0])), reason: null },
  { name: 'wildcard + in a PUBLISH topic (v5)', version: 5, bytes: publishPacket('a/+/c', 'x', { version: 5 }), reason: 0x90 },
  { name: 'wildcard # in a PUBLISH topic (3.1.1)', version: 4, bytes: publishPacket('a/#', 'x'), reason: null },
  { name: 'packet id 0 on a QoS 1 PUBLISH (v5)', version: 5, bytes: publishPacket('a/b', 'x', { qos: 1, id: 0, version: 5 }), reason: 0x82 },
  { name: 'oversize PUBLISH, header only (v5)', version: 5, bytes: Buffer.concat([Buffer.from([0x30]), varint(MAX_PACKET * 4)]), reason: 0x95 },
  { name: 'oversize PUBLISH, header only (3.1.1)', version: 4, bytes: Buffer.concat([Buffer.from([0x32]), varint(50_000_000)]), reason: null },
  { name: 'oversize CONNECT, header only', version: null, bytes: Buffer.concat([Buffer.from([0x10]), varint(MAX_PACKET + 1)]), reason: null },
  { name: 'unknown protocol name', version: null, bytes: connectPacket({ protocolName: 'HTTP', level: 4, clientId: 'x' }), reason: null },
  { name: 'an HTTP request', version: null, bytes: Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), reason: null },
  { name: 'reserved packet type 0 (v5)', version: 5, bytes: Buffer.from([0x00, 0]), reason: 0x81 },
  { name: 'AUTH in 3.1.1', version: 4, bytes: Buffer.from([0xf0, 0]), reason: null },
  { name: 'CONNACK from a client (v5)', version: 5, bytes: Buffer.from([0x20, 3, 0, 0, 0]), reason: 0x82 },
  { name: 'trailing bytes in PUBACK (3.1.1)', version: 4, bytes: Buffer.from([0x40, 3, 0, 1, 9]), reason: null },
  { name: 'empty topic without alias (v5)', version: 5, bytes: publishPacket('', 'x', { version: 5 }), reason: 0x82 },
  {
    name: 'more unreleased QoS 2 publishes than Receive Maximum (v5)',
    version: 5,
    bytes: Buffer.concat([1, 2, 3].map((id) => publishPacket('rm/t', `m${id}`, { qos: 2, id, version: 5 }))),
    reason: 0x93,
  },
];

describe('MQTT malformed input', () => {
  let server: Psrtd;
  let psrt: Bystander;
  let mqttBystander: MqttBystander;
  before(async () => {
    server = await startPsrtd({ mqtt: { max_packet_size: MAX_PACKET, receive_maximum: RECEIVE_MAX } });
    psrt = await Bystander.create(server.port);
    mqttBystander = await MqttBystander.create(server.mqttPort);
    await Promise.all([psrt.check(), mqttBystander.check()]);
  });
  after(async () => {
    psrt.close();
    await mqttBystander.close();
    await server.stop();
  });

  async function offender(c: Case): Promise<RawConn> {
    if (c.version === null) return RawConn.open(server.mqttPort);
    return rawSession(server.mqttPort, { version: c.version, clientId: `bad-${c.name.replace(/\W+/g, '-')}` });
  }

  /** The PSRT bystander's control socket must not idle past proto.timeout itself. */
  async function keepBystandersBusy(conn: RawConn): Promise<void> {
    while (!conn.closed) {
      await psrt.check();
      await mqttBystander.check();
      await sleep(300);
    }
  }

  for (const c of CASES) {
    it(`${c.name}: ${c.reason === null ? 'closed without a reply' : `DISCONNECT 0x${c.reason.toString(16)}, closed`}; bystanders unaffected`, async () => {
      const conn = await offender(c);
      try {
        conn.send(c.bytes);
        if (c.reason !== null) {
          let d = await readPacket(conn);
          while (d.type === 5) d = await readPacket(conn); // PUBRECs of the accepted QoS 2 publishes
          assert.deepEqual([d.type, d.body[0]], [14, c.reason], `got type ${d.type} ${d.body.toString('hex')}`);
        }
        await conn.expectClose(3000);
      } finally {
        conn.destroy();
      }
      await psrt.check();
      await mqttBystander.check();
    });
  }

  it('the QoS 2 publish beyond Receive Maximum is not delivered', async () => {
    const watcher = await openClient(server.mqttPort, { protocolVersion: 5, clientId: 'rm-watch' });
    const conn = await rawSession(server.mqttPort, { version: 5, clientId: 'rm-over' });
    try {
      await watcher.client.subscribeAsync('rmw/t', { qos: 2 });
      for (let id = 1; id <= RECEIVE_MAX + 1; id++) conn.send(publishPacket('rmw/t', `m${id}`, { qos: 2, id, version: 5 }));
      await conn.expectClose(3000, 4096);
      await sleep(200);
      assert.deepEqual(watcher.inbox.messages.map((m) => m.payload), ['m1', 'm2']);
    } finally {
      conn.destroy();
      await watcher.client.endAsync();
    }
  });

  it('a connection that never sends CONNECT is closed after proto.timeout (2 s)', async () => {
    const conn = await RawConn.open(server.mqttPort);
    const opened = Date.now();
    try {
      await Promise.all([conn.expectClose(5000), keepBystandersBusy(conn)]);
      const elapsed = Date.now() - opened;
      assert.ok(elapsed >= 1800 && elapsed < 4500, `closed after ${elapsed} ms`);
    } finally {
      conn.destroy();
    }
    await psrt.check();
    await mqttBystander.check();
  });

  it('a CONNECT cut in the middle, then silence, is closed after proto.timeout', async () => {
    const conn = await RawConn.open(server.mqttPort);
    try {
      conn.send(connectPacket({ clientId: 'half' }).subarray(0, 8));
      await Promise.all([conn.expectClose(5000), keepBystandersBusy(conn)]);
    } finally {
      conn.destroy();
    }
    await mqttBystander.check();
  });
});
