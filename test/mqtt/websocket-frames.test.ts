/**
 * MQTT over WebSocket at the frame and HTTP level, written by hand: a CONNECT in fragments with
 * a ping between them, a fragmented text message (closed, 1003), and upgrade requests that break
 * the handshake rules (answered 400/405 or cut at once, an oversized header included) while a
 * well-behaved client keeps working.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import mqtt from 'mqtt';
import { connectPacket } from '../helpers/mqtt-raw.js';
import { startPsrtd, type Psrtd } from '../helpers/psrtd.js';
import { RawConn } from '../helpers/raw.js';

const UPGRADE = (extra = '', key = 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n', method = 'GET'): string =>
  `${method} /mqtt HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n${key}` +
  `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n${extra}\r\n`;

/** A client frame (masked with the all-zero key, so the payload goes as is). */
function frame(opcode: number, payload: Buffer, fin = true): Buffer {
  assert.ok(payload.length < 126);
  return Buffer.concat([Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | payload.length, 0, 0, 0, 0]), payload]);
}

/** Reads one unmasked server frame (payloads under 64 KB). */
async function readFrame(c: RawConn): Promise<{ opcode: number; payload: Buffer }> {
  const head = await c.read(2);
  let len = (head[1] ?? 0) & 0x7f;
  if (len === 126) len = (await c.read(2)).readUInt16BE(0);
  return { opcode: (head[0] ?? 0) & 0x0f, payload: len === 0 ? Buffer.alloc(0) : await c.read(len) };
}

async function upgraded(port: number): Promise<RawConn> {
  const c = await RawConn.open(port);
  c.send(Buffer.from(UPGRADE(), 'latin1'));
  let head = '';
  while (!head.endsWith('\r\n\r\n')) head += (await c.read(1)).toString('latin1');
  assert.match(head, /^HTTP\/1\.1 101 /);
  return c;
}

/** The status line the server answers `request` with, or '' when it closes without one. */
async function answer(port: number, request: string): Promise<string> {
  const c = await RawConn.open(port);
  try {
    c.send(Buffer.from(request, 'latin1'));
    await c.expectClose(3000, Number.MAX_SAFE_INTEGER);
    return (await c.read(c.buffered)).toString('latin1').split('\r\n')[0] ?? '';
  } finally {
    c.destroy();
  }
}

describe('MQTT over WebSocket: frames and upgrade requests by hand', () => {
  let server: Psrtd;
  before(async () => {
    server = await startPsrtd({ mqtt: { ws_bind: ['127.0.0.1:0'] } });
  });
  after(async () => {
    await server.stop();
  });

  async function wellBehavedClientWorks(): Promise<void> {
    const c = await mqtt.connectAsync(`ws://127.0.0.1:${server.mqttWsPort}/mqtt`, { reconnectPeriod: 0 });
    await c.endAsync();
  }

  it('a CONNECT in three fragments with a ping between them: pong, then CONNACK; PINGREQ gets PINGRESP', async () => {
    const c = await upgraded(server.mqttWsPort);
    try {
      const connect = connectPacket({ clientId: 'fragments' });
      c.send(frame(2, connect.subarray(0, 4), false));
      c.send(frame(9, Buffer.from('hi')));
      c.send(frame(0, connect.subarray(4, 10), false));
      c.send(frame(0, connect.subarray(10)));
      assert.deepEqual(await readFrame(c), { opcode: 10, payload: Buffer.from('hi') });
      const connack = await readFrame(c);
      assert.equal(connack.opcode, 2);
      assert.deepEqual(connack.payload, Buffer.from([0x20, 2, 0, 0]));
      c.send(frame(2, Buffer.from([0xc0, 0])));
      assert.deepEqual(await readFrame(c), { opcode: 2, payload: Buffer.from([0xd0, 0]) });
      // A text message, even in fragments, ends the connection: close frame 1003.
      c.send(frame(1, Buffer.from('{"not":'), false));
      c.send(frame(0, Buffer.from('"mqtt"}')));
      const close = await readFrame(c);
      assert.equal(close.opcode, 8);
      assert.equal(close.payload.readUInt16BE(0), 1003);
    } finally {
      c.destroy();
    }
  });

  it('upgrades breaking the handshake rules are answered or cut at once; others are unaffected', async () => {
    const port = server.mqttWsPort;
    assert.match(await answer(port, UPGRADE('', '')), /^HTTP\/1\.1 400 /, 'no Sec-WebSocket-Key');
    assert.match(await answer(port, UPGRADE('', 'Sec-WebSocket-Key: short\r\n')), /^HTTP\/1\.1 400 /, 'bad key');
    assert.match(await answer(port, UPGRADE().replace('Version: 13', 'Version: 99')), /^HTTP\/1\.1 400 /, 'unknown version');
    assert.match(await answer(port, UPGRADE().replace('websocket', 'h2c')), /^HTTP\/1\.1 400 /, 'Upgrade: h2c');
    assert.match(await answer(port, UPGRADE('', undefined, 'POST')), /^HTTP\/1\.1 405 /, 'POST');
    // Node's 16 KB header limit: nothing is buffered beyond it, the socket is closed.
    assert.equal(await answer(port, UPGRADE(`X-Big: ${'a'.repeat(20_000)}\r\n`)), '');
    assert.equal(await answer(port, UPGRADE(Array.from({ length: 3000 }, (_, i) => `X-${i}: 1\r\n`).join(''))), '');
    await wellBehavedClientWorks();
  });
});
