/**
 * A client that repeats a failure at will must not write a log line per failure: denied
 * publishes (PSRT pipelined, MQTT QoS 0), malformed connections and WebSocket frames that `ws`
 * refuses. Per kind, the first line is logged as it is and the rest are summed in
 * `... and N more '<kind>' lines in the last 1.0 s` (broker/log-limiter.ts). Every failure is
 * accounted for (lines + summed counts = failures), and other clients keep getting their
 * messages meanwhile. Before: one line per failure (20,000 denied publishes, 20,000 lines), and
 * no line at all for a WebSocket closed by `ws`.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { WebSocket } from 'ws';
import { MqttBystander, connectPacket, publishPacket, readPacket, rawSession, sleep } from '../helpers/mqtt-raw.js';
import { startPsrtd, type Psrtd } from '../helpers/psrtd.js';
import { Bystander, hex, login, loginFrame, publishFrame } from '../helpers/raw.js';
import { PASSWORD, TEST_ACL, makePasswd } from '../helpers/users.js';

const N = 20_000;
const CHUNK = 1000;
const CONNECTIONS = 200;

interface Accounting {
  /** Lines of the kind (as they are, and summaries). */
  readonly lines: number;
  /** Failures they stand for. */
  readonly total: number;
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function account(server: Psrtd, line: RegExp, label: string): Accounting {
  const summary = new RegExp(`^\\.\\.\\. and ([\\d,]+) more '${escapeRe(label)}' lines in the last \\d+\\.\\d s$`);
  let lines = 0;
  let total = 0;
  for (const l of server.output) {
    const m = summary.exec(l);
    if (m !== null) {
      lines++;
      total += Number((m[1] ?? '').replace(/,/g, ''));
    } else if (line.test(l)) {
      lines++;
      total++;
    }
  }
  return { lines, total };
}

/** Waits until `expected` failures are accounted for (the summary follows within ~1 s). */
async function accounted(server: Psrtd, line: RegExp, label: string, expected: number): Promise<Accounting> {
  const deadline = performance.now() + 5000;
  for (;;) {
    const a = account(server, line, label);
    if (a.total >= expected || performance.now() > deadline) return a;
    await sleep(50);
  }
}

/** At most one line as it is and one summary per second of flood (and a second of slack). */
function assertBounded(a: Accounting, floodMs: number): void {
  const bound = 2 * (Math.ceil(floodMs / 1000) + 1);
  assert.ok(a.lines <= bound, `${a.lines} log lines for one flood of ${Math.round(floodMs)} ms (at most ${bound})`);
}

describe('log floods from client behaviour', () => {
  let server: Psrtd;
  let psrt: Bystander;
  let mqttBystander: MqttBystander;
  before(async () => {
    server = await startPsrtd({ acl: TEST_ACL, passwd: makePasswd(), proto: { timeout: 30 }, server: { data_queue_bytes: 4096 }, mqtt: { ws_bind: ['127.0.0.1:0'], max_packet_size: 4096 } });
    psrt = await Bystander.create(server.port);
    mqttBystander = await MqttBystander.create(server.mqttPort);
  });
  after(async () => {
    psrt.close();
    await mqttBystander.close();
    assert.equal(await server.stop(), 0);
  });

  test('PSRT: 20,000 pipelined denied publishes log a line and a summary; a bystander is served', async () => {
    const { ctl } = await login(server.port, 'limited', PASSWORD);
    const chunk = Buffer.concat(Array.from({ length: CHUNK }, () => publishFrame('denied/x', 'p')));
    const t0 = performance.now();
    for (let sent = 0; sent < N; sent += CHUNK) {
      ctl.send(chunk);
      const replies = await ctl.read(CHUNK, 10_000);
      assert.ok(replies.every((b) => b === 0xfe), 'every publish answered FE');
      await psrt.check();
    }
    const floodMs = performance.now() - t0;
    ctl.destroy();
    const a = await accounted(server, /^pub access deneid for denied\/x to limited@127\.0\.0\.1:\d+$/, 'pub access deneid', N);
    assert.equal(a.total, N, 'every denied publish is a line or counted in a summary');
    assertBounded(a, floodMs);
  });

  test('MQTT: 20,000 denied QoS 0 publishes log a line and a summary; a bystander is served', async () => {
    const c = await rawSession(server.mqttPort, { clientId: 'denied-flood', username: 'limited', password: PASSWORD });
    const chunk = Buffer.concat(Array.from({ length: CHUNK }, () => publishPacket('denied/x', 'p')));
    const t0 = performance.now();
    for (let sent = 0; sent < N; sent += CHUNK) {
      c.send(chunk);
      await mqttBystander.check();
    }
    c.send(publishPacket('allowed/end', 'e', { qos: 1, id: 7 })); // answered after every publish before it
    assert.equal((await readPacket(c, 10_000)).type, 4, 'PUBACK');
    const floodMs = performance.now() - t0;
    c.destroy();
    const a = await accounted(server, /^mqtt: pub access denied for denied\/x to limited@127\.0\.0\.1:\d+ \(denied-flood\)$/, 'mqtt: pub access denied', N);
    assert.equal(a.total, N);
    assertBounded(a, floodMs);
  });

  test('200 MQTT connections with a malformed packet: bounded lines, every one counted', async () => {
    const t0 = performance.now();
    await Promise.all(Array.from({ length: CONNECTIONS }, (_, i) => closedAfter(server.mqttPort, Buffer.concat([connectPacket({ clientId: `bad-${i}` }), hex('00 00')]))));
    const floodMs = performance.now() - t0;
    const a = await accounted(server, /^mqtt: client anonymous@127\.0\.0\.1:\d+ \(bad-\d+\) error: reserved packet type 0$/, 'mqtt: client error', CONNECTIONS);
    assert.equal(a.total, CONNECTIONS);
    assertBounded(a, floodMs);
    await mqttBystander.check();
  });

  test('200 PSRT connections with an unknown op: bounded lines, every one counted', async () => {
    const t0 = performance.now();
    await Promise.all(Array.from({ length: CONNECTIONS }, () => closedAfter(server.port, hex('EE AA 00 01000000 00 7F'))));
    const floodMs = performance.now() - t0;
    const line = /^Client 127\.0\.0\.1:\d+ error\. Invalid data: Invalid operation: 127$/;
    const a = await accounted(server, line, 'Client error. Invalid data (PSRT_INVALID_OP)', CONNECTIONS);
    assert.equal(a.total, CONNECTIONS);
    assertBounded(a, floodMs);
    await psrt.check();
  });

  test('failed logins are not rate-limited: every one is logged with its address (PSRT and MQTT)', async () => {
    // Sequential, so the per-address login budget never queues them: 10 bad passwords each.
    const logins = 10;
    for (let i = 0; i < logins; i++) {
      await closedAfter(server.port, Buffer.concat([hex('EE AA 00'), loginFrame('limited', `wrong-${i}`)]));
      await closedAfter(server.mqttPort, connectPacket({ clientId: `badpw-${i}`, username: 'limited', password: `wrong-${i}` }));
    }
    const psrtLines = (): number => server.output.filter((l) => /^Client 127\.0\.0\.1:\d+ error\. Access denied: login failed for limited from 127\.0\.0\.1:\d+$/.test(l)).length;
    const mqttLines = (): number => server.output.filter((l) => /^mqtt: client 127\.0\.0\.1:\d+ \(badpw-\d+\): /.test(l)).length;
    const deadline = performance.now() + 5000;
    while ((psrtLines() < logins || mqttLines() < logins) && performance.now() < deadline) await sleep(50);
    assert.equal(psrtLines(), logins);
    assert.equal(mqttLines(), logins);
    assert.ok(!server.output.some((l) => /more 'Client error\. Access denied|more 'mqtt: login/.test(l)), 'no summary line for failed logins');
    await psrt.check();
  });

  test('WebSocket messages above the message limit (server.data_queue_bytes): the close by ws is logged with its code, rate-limited', async () => {
    const clients = 20;
    const t0 = performance.now();
    await Promise.all(Array.from({ length: clients }, () => oversizeWs(server.mqttWsPort)));
    const floodMs = performance.now() - t0;
    const line = /^mqtt: WebSocket client 127\.0\.0\.1:\d+ error: Max payload size exceeded \(WS_ERR_UNSUPPORTED_MESSAGE_LENGTH\), closed with code 1009$/;
    const a = await accounted(server, line, 'mqtt: WebSocket client error', clients);
    assert.equal(a.total, clients);
    assertBounded(a, floodMs);
    await mqttBystander.check();
  });
});

/** Connects, sends `bytes`, resolves when the server closed (or after 5 s). */
function closedAfter(port: number, bytes: Buffer): Promise<void> {
  return new Promise((res) => {
    const s = connect(port, '127.0.0.1', () => {
      s.write(bytes);
    });
    const t = setTimeout(() => {
      s.destroy();
    }, 5000);
    s.on('error', () => { /* close follows */ });
    s.on('close', () => {
      clearTimeout(t);
      res();
    });
    s.resume();
  });
}

/** A WebSocket whose first message is twice the message limit; resolves on its close. */
function oversizeWs(port: number): Promise<void> {
  return new Promise((res) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/mqtt`, 'mqtt');
    const t = setTimeout(() => {
      ws.terminate();
    }, 5000);
    ws.on('open', () => {
      ws.send(Buffer.alloc(8192, 0x30));
    });
    ws.on('error', () => { /* close follows */ });
    ws.on('close', () => {
      clearTimeout(t);
      res();
    });
  });
}
