/**
 * MQTT over WebSocket with `mqtt.ws_deflate: true`: what psrtd sends is compressed too (a
 * dashboard mostly receives), and a compressed message that inflates beyond
 * `mqtt.max_packet_size` (a zip bomb, before or after CONNECT) closes the connection with 1009
 * after inflating at most that much; other clients keep working.
 */
import assert from 'node:assert/strict';
import { createConnection, type NetConnectOpts, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { generate, parser, type Packet } from 'mqtt-packet';
import WebSocket from 'ws';
import { startPsrtd, type Psrtd } from '../helpers/psrtd.js';

const MAX_PACKET = 100_000;
const v5 = { protocolVersion: 5 } as const;

/** A WebSocket offering permessage-deflate, its TCP socket (to count wire bytes) and the packets it got. */
async function deflateWs(port: number): Promise<{ ws: WebSocket; socket: Socket; packets: Packet[]; closed: Promise<number> }> {
  let socket: Socket | undefined;
  const ws = new WebSocket(`ws://127.0.0.1:${port}/mqtt`, 'mqtt', {
    perMessageDeflate: true,
    createConnection: ((opts: NetConnectOpts) => (socket = createConnection(opts))) as typeof createConnection,
  });
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  assert.equal(ws.extensions, 'permessage-deflate');
  const packets: Packet[] = [];
  const p = parser(v5);
  p.on('packet', (packet: Packet) => packets.push(packet));
  ws.on('message', (d: Buffer) => { p.parse(d); });
  ws.on('error', () => { /* close follows */ });
  const closed = new Promise<number>((resolve) => { ws.once('close', resolve); });
  return { ws, socket: socket as Socket, packets, closed };
}

async function until(what: string, f: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!f()) {
    assert.ok(Date.now() < deadline, what);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('MQTT over WebSocket with permessage-deflate', () => {
  let server: Psrtd;
  let bystander: MqttClient;
  before(async () => {
    server = await startPsrtd({ mqtt: { ws_bind: ['127.0.0.1:0'], ws_deflate: true, max_packet_size: MAX_PACKET } });
    bystander = await mqtt.connectAsync(`mqtt://127.0.0.1:${server.mqttPort}`, { reconnectPeriod: 0 });
  });
  after(async () => {
    await bystander.endAsync();
    await server.stop();
  });

  async function bystanderWorks(): Promise<void> {
    await bystander.subscribeAsync('by/x', { qos: 1 });
    const got = new Promise<string>((resolve) => { bystander.once('message', (_t, m) => { resolve(m.toString()); }); });
    await bystander.publishAsync('by/x', 'ok', { qos: 1 });
    assert.equal(await got, 'ok');
  }

  it('a large JSON payload reaches a WebSocket subscriber compressed', async () => {
    const c = await deflateWs(server.mqttWsPort);
    try {
      c.ws.send(generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, keepalive: 30, clientId: 'deflate-sub' }, v5));
      c.ws.send(generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'json/#', qos: 0 }] }, v5));
      await until('no SUBACK', () => c.packets.some((p) => p.cmd === 'suback'));
      const payload = JSON.stringify({ values: Array.from({ length: 2000 }, (_, i) => ({ sensor: `line-1/sensor-${i % 20}`, value: 20 })) });
      const before = c.socket.bytesRead;
      await bystander.publishAsync('json/state', payload, { qos: 0 });
      await until('no PUBLISH', () => c.packets.some((p) => p.cmd === 'publish'));
      const wire = c.socket.bytesRead - before;
      assert.ok(payload.length > 50_000 && wire < payload.length / 10, `${payload.length} bytes of JSON took ${wire} bytes on the wire`);
    } finally {
      c.ws.terminate();
    }
  });

  for (const when of ['before', 'after'] as const) {
    it(`a message inflating beyond max_packet_size ${when} CONNECT is closed with 1009`, async () => {
      const c = await deflateWs(server.mqttWsPort);
      try {
        if (when === 'after') {
          c.ws.send(generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, keepalive: 30, clientId: 'bomb' }, v5));
          await until('no CONNACK', () => c.packets.some((p) => p.cmd === 'connack'));
        }
        // 20 MB of PUBLISH headers and zeros: about 20 KB once compressed.
        const bomb = Buffer.alloc(20_000_000);
        bomb[0] = 0x30;
        c.ws.send(bomb);
        assert.equal(await c.closed, 1009);
      } finally {
        c.ws.terminate();
      }
      await bystanderWorks();
    });
  }
});
