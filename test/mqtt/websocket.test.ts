/**
 * MQTT over WebSocket against a real psrtd: MQTT.js over ws:// (MQTT 3.1, 3.1.1 and 5.0) meets
 * MQTT.js over TCP and PSRT clients; the same htpasswd users and ACL apply; packets split across WebSocket messages and
 * several packets in one message (together larger than max_packet_size); bad upgrades and bad frames leave other clients working.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { generate, parser, type Packet } from 'mqtt-packet';
import WebSocket from 'ws';
import { startPsrtd, type Psrtd } from '../helpers/psrtd.js';
import { Bystander, attachData, deliveredFrame, login, publishFrame, topicsFrame } from '../helpers/raw.js';
import { PASSWORD, TEST_ACL, makePasswd } from '../helpers/users.js';

const MAX_PACKET = 4096;
/** server.data_queue_bytes: also the largest WebSocket message. */
const MAX_MESSAGE = 65536;

/** A raw WebSocket with subprotocol `mqtt` whose received bytes are parsed as MQTT v5 packets. */
class RawWs {
  readonly packets: Packet[] = [];
  private waiters: (() => void)[] = [];
  closeCode: number | null = null;
  readonly closed: Promise<number>;
  private constructor(readonly ws: WebSocket) {
    const p = parser({ protocolVersion: 5 });
    p.on('packet', (packet: Packet) => {
      this.packets.push(packet);
      this.wake();
    });
    ws.on('message', (data: Buffer) => { p.parse(data); });
    this.closed = new Promise((resolve) => {
      ws.once('close', (code) => {
        this.closeCode = code;
        this.wake();
        resolve(code);
      });
    });
    ws.on('error', () => { /* 'close' follows */ });
  }

  static open(url: string, protocol: string | string[] = 'mqtt', headers: Record<string, string> = {}): Promise<RawWs> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, protocol, { headers });
      ws.once('open', () => { resolve(new RawWs(ws)); });
      ws.once('unexpected-response', (_req, res) => {
        ws.terminate();
        reject(new Error(`HTTP ${res.statusCode ?? 0}`));
      });
      ws.once('error', reject);
    });
  }

  send(...chunks: Buffer[]): void {
    for (const c of chunks) this.ws.send(c, { binary: true });
  }

  async next(cmd: Packet['cmd'], timeoutMs = 5000): Promise<Packet> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.packets.findIndex((p) => p.cmd === cmd);
      if (i >= 0) return this.packets.splice(i, 1)[0] as Packet;
      if (this.closeCode !== null) throw new Error(`closed (${this.closeCode}) before ${cmd}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${cmd} in ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
  }

  close(): void {
    this.ws.terminate();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}

const v5 = { protocolVersion: 5 } as const;
const connectPacket = (clientId: string): Buffer =>
  generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, keepalive: 30, clientId }, v5);

async function wsClient(server: Psrtd, opts: mqtt.IClientOptions = {}): Promise<MqttClient> {
  return mqtt.connectAsync(`ws://127.0.0.1:${server.mqttWsPort}/mqtt`, { protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 5000, ...opts });
}

function nextMessage(c: MqttClient, topic: string): Promise<string> {
  return new Promise((resolve) => {
    const on = (t: string, payload: Buffer): void => {
      if (t !== topic) return;
      c.off('message', on);
      resolve(payload.toString());
    };
    c.on('message', on);
  });
}

/**
 * A WebSocket MQTT subscriber connected for the whole suite, plus a fresh PSRT pair per check
 * (an idle PSRT control connection is closed after proto.timeout, 2 s here).
 */
class Bystanders {
  private seq = 0;
  private constructor(private readonly ws: MqttClient, private readonly psrtPort: number) {}
  static async create(server: Psrtd): Promise<Bystanders> {
    const ws = await wsClient(server, { clientId: 'bystander-ws' });
    await ws.subscribeAsync('bystander/ws', { qos: 1 });
    return new Bystanders(ws, server.port);
  }
  async check(): Promise<void> {
    const payload = `b${++this.seq}`;
    const got = nextMessage(this.ws, 'bystander/ws');
    await this.ws.publishAsync('bystander/ws', payload, { qos: 1 });
    assert.equal(await got, payload);
    const psrt = await Bystander.create(this.psrtPort);
    try {
      await psrt.check();
    } finally {
      psrt.close();
    }
  }
  async close(): Promise<void> {
    await this.ws.endAsync();
  }
}

/** Raw TCP to the WebSocket port (upgrade requests written by hand). */
function tcp(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port }, () => { resolve(s); });
    s.once('error', reject);
  });
}

function closedWithin(s: Socket, ms: number): Promise<boolean> {
  if (s.destroyed) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => { resolve(false); }, ms);
    s.once('close', () => { clearTimeout(t); resolve(true); });
  });
}

function httpAnswer(s: Socket): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    s.on('data', (d: Buffer) => { text += d.toString('latin1'); });
    s.once('close', () => { resolve(text); });
  });
}

const UPGRADE = (path: string, protocol: string | null): string =>
  `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n' +
  (protocol === null ? '' : `Sec-WebSocket-Protocol: ${protocol}\r\n`) + '\r\n';

describe('MQTT over WebSocket', () => {
  let server: Psrtd;
  let bystanders: Bystanders;
  before(async () => {
    server = await startPsrtd({
      server: { data_queue_bytes: MAX_MESSAGE },
      mqtt: { ws_bind: ['127.0.0.1:0'], max_packet_size: MAX_PACKET, ws_origins: ['http://allowed.example'] },
      passwd: makePasswd(),
      acl: TEST_ACL,
    });
    assert.ok(server.mqttWsPort > 0, 'WebSocket port logged');
    bystanders = await Bystanders.create(server);
  });
  after(async () => {
    await bystanders.close();
    await server.stop();
  });

  it('MQTT.js over WebSocket meets MQTT.js over TCP and PSRT clients', async () => {
    const ws = await wsClient(server, { clientId: 'ws-sub' });
    const tcpPub = await mqtt.connectAsync(`mqtt://127.0.0.1:${server.mqttPort}`, { protocolVersion: 4, reconnectPeriod: 0 });
    const psrt = await login(server.port);
    const psrtSub = await login(server.port);
    const psrtData = await attachData(server.port, psrtSub.token, 255);
    try {
      await ws.subscribeAsync('x/#', { qos: 1 });
      let got = nextMessage(ws, 'x/tcp');
      await tcpPub.publishAsync('x/tcp', 'from-tcp', { qos: 1 });
      assert.equal(await got, 'from-tcp');
      got = nextMessage(ws, 'x/psrt');
      psrt.ctl.send(publishFrame('x/psrt', 'from-psrt'));
      assert.equal((await psrt.ctl.read(1))[0], 1);
      assert.equal(await got, 'from-psrt');
      psrtSub.ctl.send(topicsFrame(2, ['y/ws']));
      assert.equal((await psrtSub.ctl.read(1))[0], 1);
      await ws.publishAsync('y/ws', 'from-ws', { qos: 1 });
      const expected = deliveredFrame('y/ws', 'from-ws');
      assert.deepEqual(await psrtData.read(expected.length), expected);
    } finally {
      psrt.ctl.destroy();
      psrtSub.ctl.destroy();
      psrtData.destroy();
      await Promise.all([ws.endAsync(), tcpPub.endAsync()]);
    }
  });

  it('applies the password file and the ACL', async () => {
    await assert.rejects(wsClient(server, { username: 'limited', password: 'wrong' }));
    const c = await wsClient(server, { username: 'limited', password: PASSWORD });
    try {
      const granted = await c.subscribeAsync('allowed/#', { qos: 1 });
      assert.deepEqual(granted.map((g) => g.qos), [1]);
      await assert.rejects(c.subscribeAsync('secret/#', { qos: 1 }), /Not authorized/);
      const got = nextMessage(c, 'allowed/x');
      await c.publishAsync('allowed/x', 'ok', { qos: 1 });
      assert.equal(await got, 'ok');
    } finally {
      await c.endAsync();
    }
  });

  // Bounded: an MQTT.js client whose WebSocket upgrade is refused may neither connect nor fail.
  it('MQTT 3.1 (MQTT.js protocolVersion 3, subprotocol mqttv3.1) over ws:// and TCP: QoS 0/1/2, retained, a will, an ACL refusal', { timeout: 20_000 }, async () => {
    const v31 = { protocolId: 'MQIsdp', protocolVersion: 3 } as const;
    const ws31 = await wsClient(server, { ...v31, clientId: 'ws31' });
    const tcp31 = await mqtt.connectAsync(`mqtt://127.0.0.1:${server.mqttPort}`, { ...v31, clientId: 'tcp31', reconnectPeriod: 0 });
    const ws5 = await wsClient(server, { clientId: 'ws31-v5' });
    const limited = await wsClient(server, { ...v31, clientId: 'ws31-limited', username: 'limited', password: PASSWORD });
    try {
      assert.deepEqual((await ws31.subscribeAsync('v31/#', { qos: 2 })).map((g) => g.qos), [2]);
      await ws5.subscribeAsync('v31/#', { qos: 2 });
      const got: string[] = [];
      const got5: string[] = [];
      ws31.on('message', (t, m, p) => got.push(`${t} ${p.qos} ${m.toString()}`));
      ws5.on('message', (t, m, p) => got5.push(`${t} ${p.qos} ${m.toString()}`));
      for (const qos of [0, 1, 2] as const) await tcp31.publishAsync(`v31/q${qos}`, `m${qos}`, { qos });
      await ws5.publishAsync('v31/from5', 'five', { qos: 1 });
      const expected = ['v31/from5 1 five', 'v31/q0 0 m0', 'v31/q1 1 m1', 'v31/q2 2 m2'];
      const deadline = Date.now() + 5000;
      while ((got.length < 4 || got5.length < 4) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(got.sort(), expected);
      assert.deepEqual(got5.sort(), expected);
      // Retained: a later 3.1 subscriber gets it with the retain flag.
      await tcp31.publishAsync('v31r/kept', 'kept', { qos: 1, retain: true });
      const late = await wsClient(server, { ...v31, clientId: 'ws31-late' });
      const retained = new Promise<boolean>((resolve) => { late.once('message', (_t, _m, p) => { resolve(p.retain); }); });
      await late.subscribeAsync('v31r/#', { qos: 1 });
      assert.equal(await retained, true);
      await late.publishAsync('v31r/kept', '', { qos: 1, retain: true });
      await late.endAsync();
      // A will: the 3.1 WebSocket client dies without DISCONNECT.
      const dying = await wsClient(server, { ...v31, clientId: 'ws31-dying', will: { topic: 'v31/will', payload: Buffer.from('gone'), qos: 1, retain: false } });
      const will = nextMessage(ws5, 'v31/will');
      dying.stream.destroy();
      assert.equal(await will, 'gone');
      dying.end(true);
      // 3.1 has no SUBACK failure code: a denied filter gets its requested QoS and nothing subscribed.
      assert.deepEqual((await limited.subscribeAsync('secret/x', { qos: 1 })).map((g) => g.qos), [1]);
    } finally {
      await Promise.all([ws31.endAsync(), tcp31.endAsync(), ws5.endAsync(), limited.endAsync()]);
    }
  });

  it('answers the subprotocol offered: mqttv3.1 alone, or mqtt when both are', async () => {
    const url = `ws://127.0.0.1:${server.mqttWsPort}/mqtt`;
    const old = await RawWs.open(url, 'mqttv3.1');
    assert.equal(old.ws.protocol, 'mqttv3.1');
    old.close();
    const both = await RawWs.open(url, ['mqttv3.1', 'mqtt']);
    assert.equal(both.ws.protocol, 'mqtt');
    both.close();
  });

  it('decodes a packet split over several messages and several packets in one message', async () => {
    const raw = await RawWs.open(`ws://127.0.0.1:${server.mqttWsPort}/mqtt`);
    try {
      const conn = connectPacket('split');
      raw.send(conn.subarray(0, 3), conn.subarray(3, 9), conn.subarray(9));
      assert.equal((await raw.next('connack')).cmd, 'connack');
      const sub = generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'split/#', qos: 0 }] }, v5);
      const pub = generate({ cmd: 'publish', topic: 'split/a', payload: Buffer.from('one'), qos: 0, dup: false, retain: false }, v5);
      const ping = generate({ cmd: 'pingreq' }, v5);
      raw.send(Buffer.concat([sub, pub, ping]));
      await raw.next('suback');
      const msg = await raw.next('publish');
      assert.equal(msg.cmd === 'publish' ? msg.payload.toString() : '', 'one');
      await raw.next('pingresp');
      // A publish whose last byte arrives in a message that also carries the next packet.
      const pub2 = generate({ cmd: 'publish', topic: 'split/b', payload: Buffer.from('two'), qos: 0, dup: false, retain: false }, v5);
      raw.send(pub2.subarray(0, 5), Buffer.concat([pub2.subarray(5), ping]));
      const msg2 = await raw.next('publish');
      assert.equal(msg2.cmd === 'publish' ? msg2.payload.toString() : '', 'two');
      await raw.next('pingresp');
    } finally {
      raw.close();
    }
    await bystanders.check();
  });

  // MQTT.js in a browser joins all it writes in one go into one message (see the browser test).
  it('one message may hold packets that pass max_packet_size together; each packet is still limited', async () => {
    const raw = await RawWs.open(`ws://127.0.0.1:${server.mqttWsPort}/mqtt`);
    try {
      raw.send(connectPacket('burst'), generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'burst/#', qos: 0 }] }, v5));
      await raw.next('suback');
      const pub = (topic: string, size: number): Buffer => generate({ cmd: 'publish', topic, payload: Buffer.alloc(size, 0x61), qos: 0, dup: false, retain: false }, v5);
      raw.send(Buffer.concat(Array.from({ length: 8 }, (_, i) => pub(`burst/${i}`, MAX_PACKET - 100))));
      for (let i = 0; i < 8; i++) {
        const p = await raw.next('publish');
        assert.equal(p.cmd === 'publish' ? `${p.topic} ${p.payload.length}` : '', `burst/${i} ${MAX_PACKET - 100}`);
      }
      raw.send(Buffer.concat([pub('burst/ok', 10), pub('burst/big', MAX_PACKET)]));
      await raw.next('publish');
      const disconnect = await raw.next('disconnect');
      assert.equal(disconnect.cmd === 'disconnect' ? disconnect.reasonCode : 0, 0x95);
    } finally {
      raw.close();
    }
  });

  it('closes on a text frame and on an oversize message', async () => {
    const text = await RawWs.open(`ws://127.0.0.1:${server.mqttWsPort}/mqtt`);
    text.ws.send('hello, not MQTT');
    assert.equal(await text.closed, 1003);
    const big = await RawWs.open(`ws://127.0.0.1:${server.mqttWsPort}/mqtt`);
    big.send(connectPacket('big'));
    await big.next('connack');
    big.send(Buffer.alloc(MAX_MESSAGE + 1));
    assert.equal(await big.closed, 1009);
    const garbage = await RawWs.open(`ws://127.0.0.1:${server.mqttWsPort}/mqtt`);
    garbage.send(Buffer.from('GET / HTTP/1.1\r\n\r\n'));
    await garbage.closed;
    await bystanders.check();
  });

  it('a peer that sends a text frame and ignores the close frame is cut within 5 s, not ws\'s 30 s', async () => {
    const s = await tcp(server.mqttWsPort);
    s.on('error', () => undefined);
    try {
      let received = '';
      s.on('data', (d: Buffer) => { received += d.toString('latin1'); });
      s.write(UPGRADE('/mqtt', 'mqtt'));
      // Frames masked with the all-zero key (payload bytes stay as they are): a CONNECT (the
      // CONNECT timer no longer runs), its CONNACK, then a text frame.
      const frame = (opcode: number, payload: Buffer): Buffer => Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | payload.length, 0, 0, 0, 0]), payload]);
      s.write(frame(2, connectPacket('text-after-connect')));
      const deadline = Date.now() + 5000;
      const connack = /\r\n\r\n\x82[\s\S]\x20/;
      while (!connack.test(received) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.ok(connack.test(received), 'no CONNACK');
      s.write(frame(1, Buffer.from('not MQTT')));
      assert.ok(await closedWithin(s, 8000), 'socket still open 8 s after the server sent its close frame');
    } finally {
      s.destroy();
    }
  });

  it('refuses a wrong subprotocol, a wrong path, a foreign origin and plain HTTP', async () => {
    const url = `ws://127.0.0.1:${server.mqttWsPort}/mqtt`;
    await assert.rejects(RawWs.open(url, 'mqttv5'), /HTTP 400/);
    await assert.rejects(RawWs.open(url, []), /HTTP 400/);
    await assert.rejects(RawWs.open(`ws://127.0.0.1:${server.mqttWsPort}/other`), /HTTP 404/);
    await assert.rejects(RawWs.open(url, 'mqtt', { Origin: 'http://evil.example' }), /HTTP 403/);
    const ok = await RawWs.open(url, ['other', 'mqtt'], { Origin: 'http://allowed.example' });
    assert.equal(ok.ws.protocol, 'mqtt');
    ok.close();
    const s = await tcp(server.mqttWsPort);
    const answer = httpAnswer(s);
    s.write('GET /mqtt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.match(await answer, /^HTTP\/1\.1 426 /);
    const raw = await tcp(server.mqttWsPort);
    const refused = httpAnswer(raw);
    raw.write(UPGRADE('/mqtt', 'json'));
    assert.match(await refused, /^HTTP\/1\.1 400 /);
    await bystanders.check();
  });

  it('cuts a slowloris upgrade and survives 1,000 idle upgrade attempts', async () => {
    // proto.timeout is 2 s in the test config: the upgrade request must be complete by then.
    const slow = await tcp(server.mqttWsPort);
    slow.on('error', () => undefined);
    const header = UPGRADE('/mqtt', 'mqtt');
    let i = 0;
    const drip = setInterval(() => { if (i < header.length - 2) slow.write(header[i++] ?? ''); }, 200);
    try {
      assert.ok(await closedWithin(slow, 6000), 'slowloris socket closed');
    } finally {
      clearInterval(drip);
      slow.destroy();
    }
    const idle: Socket[] = [];
    try {
      for (let n = 0; n < 1000; n++) {
        const s = await tcp(server.mqttWsPort);
        s.on('error', () => undefined);
        if (n % 2 === 0) s.write('GET /mqtt HTTP/1.1\r\nHost: x\r\n');
        idle.push(s);
      }
      await bystanders.check();
      const fresh = await wsClient(server, { clientId: 'fresh' });
      await fresh.endAsync();
      const closed = await Promise.all(idle.map((s) => closedWithin(s, 8000)));
      assert.equal(closed.filter((c) => !c).length, 0, 'every idle upgrade attempt was closed');
    } finally {
      for (const s of idle) s.destroy();
    }
    await bystanders.check();
  });
});
