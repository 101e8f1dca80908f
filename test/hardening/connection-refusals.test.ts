/**
 * Refused connections on every client listener (PSRT, MQTT, MQTT over WebSocket), with a real
 * psrtd:
 *  - server.max_connections 20 counts all listeners together: further connections are closed at
 *    once, logged once at once and then summed at most once a second, counted in /status and
 *    /metrics; connected clients keep working; closing some makes room again.
 *  - psrtd under `ulimit -n 128` with max_connections above what that allows: a warning at
 *    start, connections beyond the descriptor budget (128 − 64 reserve) are refused as
 *    `fd_exhausted` before the kernel would refuse them, the process never reaches its limit,
 *    and accepting resumes when descriptors are free again.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { encodeGreeting } from '../../src/protocol/encode.js';
import { startPsrtd, type Psrtd } from '../helpers/psrtd.js';
import { Bystander, type RawConn } from '../helpers/raw.js';
import { rawSession } from '../helpers/mqtt-raw.js';
import { Peer } from '../../scripts/lib/hardening/peer.js';
import { fdCount, sleep } from '../../scripts/lib/hardening/proc.js';

const GREETING_REPLY = Buffer.from([0xee, 0xaa, 0x01, 0x00]);

/** Opens `n` PSRT control connections at once; returns the served ones and the refused ones. */
async function openPsrt(port: number, n: number): Promise<{ served: Peer[]; refused: Peer[] }> {
  const peers = await Promise.all(Array.from({ length: n }, () => Peer.open(port)));
  for (const p of peers) p.send(encodeGreeting('control', false));
  const replies = await Promise.all(peers.map((p) => p.read(4, 3000)));
  const served = peers.filter((_p, i) => replies[i]?.equals(GREETING_REPLY) === true);
  const refused = peers.filter((_p, i) => replies[i] === null);
  assert.equal(served.length + refused.length, n, 'every connection either served or closed');
  return { served, refused };
}

/** Refusals reported by the log lines starting with `prefix` (empty for PSRT): 1 per first line + the summed counts. */
function loggedRefusals(server: Psrtd, prefix: string, what: string): { lines: number; total: number } {
  let lines = 0;
  let total = 0;
  for (const l of server.output) {
    // Test runs log without timestamps: a line starts with the listener's prefix.
    if (!l.startsWith(prefix) || !l.includes(what)) continue;
    const rest = l.slice(prefix.length);
    if (rest.startsWith('connection refused: ')) total += 1;
    else if (rest.startsWith('connections refused: ')) total += Number(/, (\d+) refused in the last \d+\.\d s/.exec(rest)?.[1] ?? NaN);
    else continue;
    lines++;
  }
  return { lines, total };
}

async function waitForRefusals(server: Psrtd, prefix: string, what: string, expected: number): Promise<number> {
  for (let i = 0; i < 60 && loggedRefusals(server, prefix, what).total < expected; i++) await sleep(100);
  const got = loggedRefusals(server, prefix, what);
  assert.equal(got.total, expected, `refusals logged as ${prefix}… ${what}:\n${server.output.join('\n')}`);
  return got.lines;
}

function get(server: Psrtd, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: server.statsPort ?? 0, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (s: string) => (body += s));
      res.on('end', () => {
        resolve(body);
      });
    });
    req.on('error', reject);
    req.end();
  });
}

async function refusedCounters(server: Psrtd): Promise<{ status: unknown; metrics: string[] }> {
  const status = (JSON.parse(await get(server, '/status')) as { connections_refused?: unknown }).connections_refused;
  const metrics = (await get(server, '/metrics')).split('\n').filter((l) => l.startsWith('psrt_connections_refused_total{'));
  return { status, metrics };
}

/** Retries (bounded) until a new PSRT connection is served: the server sees closes asynchronously. */
async function psrtServedAgain(port: number): Promise<Peer> {
  for (let i = 0; i < 30; i++) {
    const { served, refused } = await openPsrt(port, 1);
    for (const p of refused) p.destroy();
    if (served[0] !== undefined) return served[0];
    await sleep(100);
  }
  throw new Error('no connection accepted after closing some');
}

/** MQTT PINGREQ → PINGRESP on a connected session. */
async function mqttPing(conn: RawConn): Promise<void> {
  conn.send(Buffer.from([0xc0, 0x00]));
  assert.deepEqual(await conn.read(2), Buffer.from([0xd0, 0x00]));
}

describe('connections refused at server.max_connections', () => {
  let server: Psrtd;
  before(async () => {
    server = await startPsrtd({
      proto: { timeout: 10 },
      server: { max_connections: 20, bind_stats: '127.0.0.1:0' },
      mqtt: { ws_bind: ['127.0.0.1:0'] },
    });
  });
  after(async () => {
    assert.equal(await server.stop(), 0);
  });

  test('all listeners share the limit; refusals closed, logged, counted; room again after closes', async () => {
    assert.ok(server.output.some((l) => l.includes('max_connections: 20 (server.max_connections; open-files limit')));
    const bystander = await Bystander.create(server.port);
    const mqtt = await rawSession(server.mqttPort, { clientId: 'keeps-working' });
    const first = await openPsrt(server.port, 17);
    assert.equal(first.served.length, 17, '2 + 1 + 17 = 20 sockets fit');
    const t0 = performance.now();
    const over = await openPsrt(server.port, 10);
    assert.equal(over.refused.length, 10);
    const mqttOver = await Promise.all(Array.from({ length: 5 }, () => Peer.open(server.mqttPort)));
    const wsOver = await Promise.all(Array.from({ length: 3 }, () => Peer.open(server.mqttWsPort)));
    for (const p of [...over.refused, ...mqttOver, ...wsOver]) assert.ok(await p.closesWithin(3000), 'a refused connection is closed');
    const what = 'server.max_connections (20) reached';
    const psrtLines = await waitForRefusals(server, '', what, 10);
    await waitForRefusals(server, 'mqtt: ', what, 5);
    await waitForRefusals(server, 'mqtt websocket: ', what, 3);
    const seconds = (performance.now() - t0) / 1000;
    assert.ok(psrtLines <= 2 + Math.floor(seconds), `${psrtLines} PSRT lines in ${seconds.toFixed(1)} s`);
    const counters = await refusedCounters(server);
    assert.deepEqual(counters.status, { max_connections: 18, fd_exhausted: 0 });
    assert.deepEqual(counters.metrics, [
      'psrt_connections_refused_total{reason="max_connections"} 18',
      'psrt_connections_refused_total{reason="fd_exhausted"} 0',
    ]);
    await bystander.check();
    await mqttPing(mqtt);
    for (const p of first.served.slice(0, 5)) p.destroy();
    const again = await psrtServedAgain(server.port);
    const mqttAgain = await rawSession(server.mqttPort, { clientId: 'after-closes' });
    await mqttPing(mqttAgain);
    for (const p of [...first.served, ...over.refused, ...mqttOver, ...wsOver, again]) p.destroy();
    mqttAgain.destroy();
    mqtt.destroy();
    bystander.close();
  });
});

describe('connections refused when descriptors run out', () => {
  let server: Psrtd;
  before(async () => {
    server = await startPsrtd({
      nofile: 128,
      proto: { timeout: 10 },
      server: { max_connections: 10_000, bind_stats: '127.0.0.1:0' },
      mqtt: {},
    });
  });
  after(async () => {
    assert.equal(await server.stop(), 0);
  });

  test('ulimit -n 128: 48 sockets served (16 descriptors kept for the stats server), the rest refused as fd_exhausted, accepting resumes', async () => {
    assert.ok(
      server.output.some((l) => l.includes('server.max_connections (10,000) is above what the open-files limit 128 allows (48 connections, 64 kept in reserve, 16 for the stats server)')),
      'start-up warning',
    );
    const pid = server.proc.pid ?? 0;
    const bystander = await Bystander.create(server.port);
    const t0 = performance.now();
    const { served, refused } = await openPsrt(server.port, 80);
    assert.equal(served.length, 46, 'the bystander\'s 2 sockets + 46 fill the budget of 48');
    for (const p of refused) assert.ok(await p.closesWithin(3000), 'a refused connection is closed');
    const mqttOver = await Promise.all(Array.from({ length: 4 }, () => Peer.open(server.mqttPort)));
    for (const p of mqttOver) assert.ok(await p.closesWithin(3000));
    assert.ok(fdCount(pid) < 128, `psrtd holds ${fdCount(pid)} descriptors, below its limit`);
    const what = 'out of file descriptors (open-files limit 128, 64 kept in reserve, 16 for the stats server)';
    const lines = await waitForRefusals(server, '', what, 34);
    await waitForRefusals(server, 'mqtt: ', what, 4);
    const seconds = (performance.now() - t0) / 1000;
    assert.ok(lines <= 2 + Math.floor(seconds), `${lines} lines in ${seconds.toFixed(1)} s`);
    assert.ok(server.output.some((l) => l.includes(`${what}; raise LimitNOFILE / ulimit -n (see docs/operations.md)`)));
    const counters = await refusedCounters(server);
    assert.deepEqual(counters.status, { max_connections: 0, fd_exhausted: 38 });
    assert.ok(counters.metrics.includes('psrt_connections_refused_total{reason="fd_exhausted"} 38'));
    await bystander.check();
    for (const p of served.slice(0, 10)) p.destroy();
    const again = await psrtServedAgain(server.port);
    const mqtt = await rawSession(server.mqttPort, { clientId: 'after-closes' });
    await mqttPing(mqtt);
    await bystander.check();
    for (const p of [...served, ...refused, ...mqttOver, again]) p.destroy();
    mqtt.destroy();
    bystander.close();
  });
});
