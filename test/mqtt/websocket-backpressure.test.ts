/**
 * Back-pressure over WebSocket: a subscriber that stops reading fills the socket; when it reads
 * again every message arrives in order (the transport's 'drain' from the send callbacks works);
 * one that never reads is dropped by the broker's slow-consumer policy while others continue.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { generate, parser, type Packet } from 'mqtt-packet';
import WebSocket from 'ws';
import { startPsrtd, type Psrtd } from '../helpers/psrtd.js';

const COUNT = 400;
const SIZE = 50_000;
const v5 = { protocolVersion: 5 } as const;

/** A raw WebSocket subscriber whose reading can be paused (ws pauses the TCP socket). */
async function rawSubscriber(port: number, topic: string, clientId: string): Promise<{ ws: WebSocket; received: number[]; closed: Promise<void> }> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/mqtt`, 'mqtt');
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  const received: number[] = [];
  const p = parser(v5);
  let acked: () => void = () => undefined;
  const subacked = new Promise<void>((resolve) => { acked = resolve; });
  p.on('packet', (packet: Packet) => {
    if (packet.cmd === 'suback') acked();
    if (packet.cmd === 'publish') received.push(Number(packet.payload.toString('latin1', 0, 8)));
  });
  ws.on('message', (data: Buffer) => { p.parse(data); });
  ws.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => { ws.once('close', () => { resolve(); }); });
  ws.send(generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, keepalive: 60, clientId }, v5));
  ws.send(generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 0 }] }, v5));
  await subacked;
  return { ws, received, closed };
}

async function flood(pub: MqttClient, topic: string): Promise<void> {
  const pad = Buffer.alloc(SIZE - 8, 0x61);
  for (let i = 0; i < COUNT; i++) {
    await pub.publishAsync(topic, Buffer.concat([Buffer.from(String(i).padStart(8, '0')), pad]), { qos: 0 });
  }
}

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('MQTT over WebSocket back-pressure', () => {
  let server: Psrtd | null = null;
  const clients: MqttClient[] = [];
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.endAsync()));
    await server?.stop();
    server = null;
  });

  it('a paused reader gets every message in order once it reads again', async () => {
    server = await startPsrtd({ mqtt: { ws_bind: ['127.0.0.1:0'] }, server: { data_drain_timeout: 30, data_queue: 4096 } });
    const sub = await rawSubscriber(server.mqttWsPort, 'bp/a', 'paused');
    const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${server.mqttPort}`, { protocolVersion: 5, reconnectPeriod: 0 });
    clients.push(pub);
    try {
      sub.ws.pause();
      await flood(pub, 'bp/a');
      await new Promise((r) => setTimeout(r, 500));
      assert.ok(sub.received.length < COUNT, 'the paused reader cannot have everything yet');
      sub.ws.resume();
      await until(() => sub.received.length === COUNT, 30_000, `${COUNT} messages (have ${sub.received.length})`);
      assert.deepEqual(sub.received, Array.from({ length: COUNT }, (_, i) => i));
    } finally {
      sub.ws.terminate();
    }
  });

  it('a reader that never reads is dropped; another subscriber keeps receiving', async () => {
    server = await startPsrtd({ mqtt: { ws_bind: ['127.0.0.1:0'] }, server: { data_drain_timeout: 0.5, data_queue: 50 } });
    const stuck = await rawSubscriber(server.mqttWsPort, 'bp/b', 'stuck');
    const healthy = await rawSubscriber(server.mqttWsPort, 'bp/b', 'healthy');
    const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${server.mqttPort}`, { protocolVersion: 5, reconnectPeriod: 0 });
    clients.push(pub);
    try {
      stuck.ws.pause();
      await flood(pub, 'bp/b');
      await server.waitForLog(/mqtt: client .* does not read its messages/, 20_000);
      await until(() => healthy.received.length === COUNT, 30_000, `healthy subscriber (have ${healthy.received.length})`);
      stuck.ws.resume();
      await stuck.closed;
    } finally {
      stuck.ws.terminate();
      healthy.ws.terminate();
    }
  });
});
