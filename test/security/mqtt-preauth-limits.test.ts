/**
 * What a peer that has not sent a CONNECT yet can make psrtd buffer: at most
 * `mqtt.max_connect_size` over TCP and over WebSocket, not `mqtt.max_packet_size` (here 2 MB+).
 * Before, a CONNECT announcing 1 MB (or a WebSocket frame announcing 1 MB) was buffered until
 * `proto.timeout`: 20 such connections held 200 MB of an unauthenticated peer's bytes.
 * A CONNECT within the limit (a will of ~60 KB) is accepted, and after CONNECT the full
 * max_packet_size applies again (a 1 MB PUBLISH over WebSocket is delivered).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import mqtt from 'mqtt';
import { LOG_LIMIT_WINDOW_MS } from '../../src/broker/log-limiter.js';
import { connectPacket, readPacket, varint } from '../helpers/mqtt-raw.js';
import { startPsrtd, type Psrtd } from '../helpers/psrtd.js';
import { RawConn } from '../helpers/raw.js';

/** A close within this is the limit; the CONNECT timeout (proto.timeout) is 10 s here. */
const PROMPT_MS = 2000;
const FILLER = Buffer.alloc(100_000, 0x61);

const UPGRADE =
  'GET /mqtt HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n';

/** A masked (mask 0) binary frame header announcing `len` payload bytes. */
function frameHeader(len: number): Buffer {
  const h = Buffer.alloc(14);
  h[0] = 0x82;
  h[1] = 0x80 | 127;
  h.writeBigUInt64BE(BigInt(len), 2);
  return h; // mask key 0: the payload goes as is
}

describe('MQTT: bytes buffered before CONNECT', { timeout: 60_000 }, () => {
  let server: Psrtd;

  before(async () => {
    server = await startPsrtd({
      server: { max_pub_size: 2_000_000 },
      proto: { timeout: 10 },
      mqtt: { ws_bind: ['127.0.0.1:0'] },
    });
  });

  after(async () => {
    await server.stop();
  });

  it('TCP: a CONNECT announcing 1 MB is refused at its header, not buffered until the timeout', async () => {
    const conn = await RawConn.open(server.mqttPort);
    try {
      conn.send(Buffer.concat([Buffer.from([0x10]), varint(1_000_000), FILLER]));
      await conn.expectClose(PROMPT_MS);
      await server.waitForLog(/CONNECT of 1000004 bytes exceeds 65536/);
    } finally {
      conn.destroy();
    }
  });

  it('TCP: a CONNECT with a 60 KB will is accepted', async () => {
    const conn = await RawConn.open(server.mqttPort);
    try {
      conn.send(connectPacket({ clientId: 'big-will', will: { topic: 'w/t', payload: 'x'.repeat(60_000) } }));
      const connack = await readPacket(conn);
      assert.equal(connack.type, 2);
      assert.equal(connack.body[1], 0);
    } finally {
      conn.destroy();
    }
  });

  it('WebSocket: a frame announcing 1 MB before CONNECT is cut after max_connect_size', async () => {
    // The TCP cases' error lines opened the 'mqtt: client error' log window (log-limiter.ts):
    // let it close, so this case's line is logged as it is.
    await new Promise((r) => setTimeout(r, LOG_LIMIT_WINDOW_MS + 300));
    const conn = await RawConn.open(server.mqttWsPort);
    try {
      conn.send(Buffer.from(UPGRADE, 'latin1'));
      const head = await conn.read(12);
      assert.equal(head.toString('latin1'), 'HTTP/1.1 101');
      conn.send(Buffer.concat([frameHeader(1_000_000), FILLER]));
      await conn.expectClose(PROMPT_MS, 1000);
      await server.waitForLog(/more than \d+ bytes before CONNECT/);
    } finally {
      conn.destroy();
    }
  });

  it('WebSocket: after CONNECT a 1 MB PUBLISH is delivered (the full max_packet_size)', async () => {
    const client = await mqtt.connectAsync(`ws://127.0.0.1:${server.mqttWsPort}/mqtt`, { reconnectPeriod: 0, clientId: 'ws-big' });
    try {
      await client.subscribeAsync('big/t', { qos: 1 });
      const got = new Promise<number>((resolve) => {
        client.on('message', (_t, payload) => { resolve(payload.length); });
      });
      await client.publishAsync('big/t', Buffer.alloc(1_000_000, 0x62), { qos: 1 });
      assert.equal(await got, 1_000_000);
    } finally {
      await client.endAsync();
    }
  });
});
