/**
 * Stopping an MQTT bridge (reload restart, removal, shutdown) against a fake upstream on
 * loopback: QoS 1 exports in flight are acknowledged and a DISCONNECT sent before the connection
 * ends; an upstream that never acknowledges holds the stop about a second, not for ever. A
 * bridge that resumes its predecessor's persistent session unsubscribes the filters it dropped,
 * also those of a predecessor replaced before it ever connected.
 */
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { after, describe, test } from 'node:test';
import mqttPacket from 'mqtt-packet';
import type { BridgeConfig } from '../../src/bridges/config.js';
import { MqttBridge } from '../../src/bridges/mqtt-bridge.js';
import { createMemoryLogger } from '../../src/log/index.js';
import { until } from '../helpers/engines.js';

interface Upstream {
  readonly server: Server;
  readonly port: number;
  readonly seen: string[];
  readonly unsubscribed: string[];
  readonly sockets: Set<Socket>;
}

/** A 3.1.1 broker that accepts any client and acknowledges publishes only when `acks`. */
async function fakeUpstream(acks: boolean): Promise<Upstream> {
  const seen: string[] = [];
  const unsubscribed: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on('packet', (p) => {
      seen.push(p.cmd);
      if (p.cmd === 'connect') socket.write(mqttPacket.generate({ cmd: 'connack', returnCode: 0, sessionPresent: false }));
      if (p.cmd === 'publish' && acks) socket.write(mqttPacket.generate({ cmd: 'puback', messageId: p.messageId ?? 0 }));
      if (p.cmd === 'subscribe') socket.write(mqttPacket.generate({ cmd: 'suback', messageId: p.messageId ?? 0, granted: p.subscriptions.map((x) => x.qos) }));
      if (p.cmd === 'unsubscribe') {
        unsubscribed.push(...p.unsubscriptions);
        socket.write(mqttPacket.generate({ cmd: 'unsuback', messageId: p.messageId ?? 0, granted: [] }));
      }
    });
    socket.on('data', (chunk: Buffer) => parser.parse(chunk));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  return { server, port: address.port, seen, unsubscribed, sockets };
}

function config(port: number, extra: Partial<BridgeConfig> = {}): BridgeConfig {
  return {
    name: 'stop', type: 'mqtt', servers: [`mqtt://127.0.0.1:${port}`], user: undefined, password: undefined, token: undefined,
    clientId: undefined, tls: undefined, out: ['#'], in: [], localPrefix: '', remotePrefix: '', qos: 1, protocolVersion: 4,
    cleanSession: false, sessionExpiry: 3600, bufferMessages: 100, bufferBytes: 1 << 20,
    connectTimeout: 5, pingInterval: 10, maxPingsOut: 2, keepalive: 10, ...extra,
  };
}

async function stopAfterExports(up: Upstream, log = createMemoryLogger()): Promise<number> {
  const bridge = new MqttBridge(config(up.port), 'n', log, () => undefined, 8);
  bridge.start();
  try {
    await until(() => bridge.state === 'online', 5000, 'bridge online');
    for (let i = 0; i < 3; i++) bridge.offer('n/t', { priority: 1, topic: 't', payload: Buffer.from(String(i)), qos: 1, contentType: undefined, userProperties: undefined });
    await until(() => up.seen.filter((c) => c === 'publish').length === 3, 5000, 'the upstream got the exports');
  } catch (e) {
    await bridge.stop();
    throw e;
  }
  const t0 = performance.now();
  await bridge.stop();
  return performance.now() - t0;
}

describe('MQTT bridge stop', () => {
  const upstreams: Upstream[] = [];
  after(async () => {
    for (const up of upstreams) {
      for (const s of up.sockets) s.destroy();
      await new Promise((r) => up.server.close(r));
    }
  });

  test('exports acknowledged: the bridge disconnects cleanly, at once', async () => {
    const up = await fakeUpstream(true);
    upstreams.push(up);
    const ms = await stopAfterExports(up);
    // Well before the 1 s grace (typically a few ms; the margin is for a loaded machine).
    assert.ok(ms < 900, `stop took ${ms.toFixed(0)} ms`);
    await until(() => up.seen.includes('disconnect'), 2000, 'a DISCONNECT (not a cut connection)');
  });

  test('an upstream that never acknowledges holds the stop about a second, then is cut off', async () => {
    const up = await fakeUpstream(false);
    upstreams.push(up);
    const log = createMemoryLogger();
    const ms = await stopAfterExports(up, log);
    // The 1 s grace, then the cut: bounded (the upper margin is for a loaded machine).
    assert.ok(ms >= 900 && ms < 5000, `stop took ${ms.toFixed(0)} ms`);
    // The exports it never acknowledged are lost: said, not silent.
    const lost = log.messages('warn').filter((l) => l.includes('3 QoS 1 exports not acknowledged'));
    assert.equal(lost.length, 1, log.messages().join(' | '));
    await until(() => up.sockets.size === 0, 2000, 'the connection closed');
    assert.ok(!up.seen.includes('disconnect'));
  });
});

describe('MQTT bridge succession (persistent session)', () => {
  let up: Upstream | undefined;
  const bridges: MqttBridge[] = [];
  after(async () => {
    await Promise.all(bridges.map((b) => b.stop())); // a failed test must not leave one reconnecting
    if (up === undefined) return;
    for (const s of up.sockets) s.destroy();
    await new Promise((r) => up?.server.close(r));
  });

  test('the successor unsubscribes the filters it dropped, also through a predecessor that never connected', async () => {
    up = await fakeUpstream(true);
    const port = up.port;
    const make = (masks: string[], extra: Partial<BridgeConfig> = {}): MqttBridge => {
      const bridge = new MqttBridge(config(port, { in: masks, ...extra }), 'n', createMemoryLogger(), () => undefined, 8);
      bridges.push(bridge);
      return bridge;
    };
    const a = make(['p/#', 'q/#', 'r/#']);
    a.start();
    await until(() => a.state === 'online', 5000, 'a online');
    await a.stop();
    // b drops q/# but is replaced before it connects; c drops r/# as well.
    const b = make(['p/#', 'r/#']);
    b.succeed(a);
    await b.stop();
    const c = make(['p/#']);
    c.succeed(b);
    c.start();
    await until(() => up?.unsubscribed.length === 2, 3000, 'the UNSUBSCRIBEs');
    assert.deepEqual([...up.unsubscribed].sort(), ['+/q/#', '+/r/#']);
    await c.stop();
    // A clean successor, or another client id, resumes no session: nothing to unsubscribe.
    for (const extra of [{ cleanSession: true }, { clientId: 'other' }]) {
      const d = make([], extra);
      d.succeed(c);
      d.start();
      await until(() => d.state === 'online', 5000, 'd online');
      await d.stop();
    }
    assert.equal(up.unsubscribed.length, 2);
  });

  test('a persistent session with qos 0 is warned about (the upstream queues nothing for it)', async () => {
    up ??= await fakeUpstream(true);
    for (const [qos, warned] of [[0, true], [1, false]] as const) {
      const log = createMemoryLogger();
      const bridge = new MqttBridge(config(up.port, { qos }), 'n', log, () => undefined, 8);
      bridges.push(bridge);
      bridge.start();
      await bridge.stop();
      const lines = log.messages('warn').filter((l) => l.includes('clean_session false with qos 0'));
      assert.equal(lines.length, warned ? 1 : 0, `qos ${String(qos)}: ${log.messages().join(' | ')}`);
    }
  });
});
