/**
 * The stats server cannot take the descriptors that max_connections promises to clients.
 *
 * psrtd runs under `ulimit -n 256` with `server.bind_stats`: the stats server may hold a
 * sixteenth of the open-files limit (here 16) and those descriptors are kept out of the client
 * budget (256 − 64 in reserve − 16 = 176). Idle stats connections from four addresses try to
 * take 64 descriptors; every one of the 176 client sockets is still served, and the 177th is
 * refused with the logged, counted fd_exhausted refusal. Before, the stats server held up to
 * 4,096 connections outside the budget: 208 of them let only 69 of 236 MQTT clients connect,
 * the rest dropped silently by libuv's out-of-descriptors accept. Connections the stats server
 * closes at its cap are logged, at most once a second (its per-address cap: stats-connections.test.ts).
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { encodeGreeting } from '../../src/protocol/encode.js';
import { startPsrtd, type Psrtd } from '../helpers/psrtd.js';
import { Peer } from '../../scripts/lib/hardening/peer.js';
import { fdCount } from '../../scripts/lib/hardening/proc.js';

const NOFILE = 256;
const BUDGET = NOFILE - 64 - 16;
const GREETING_REPLY = Buffer.from([0xee, 0xaa, 0x01, 0x00]);

/** An idle connection to the stats port from `localAddress`; resolves once connected (or closed). */
function statsSocket(port: number, localAddress: string): Promise<Socket> {
  return new Promise((resolve) => {
    const s = connect({ port, host: '127.0.0.1', localAddress });
    s.on('error', () => { /* refused beyond the caps: close follows */ });
    s.once('connect', () => { resolve(s); });
    s.once('close', () => { resolve(s); });
  });
}

describe('stats connections and the client descriptor budget', () => {
  let server: Psrtd;
  before(async () => {
    server = await startPsrtd({ nofile: NOFILE, proto: { timeout: 10 }, server: { bind_stats: '127.0.0.1:0' } });
  });
  after(async () => {
    assert.equal(await server.stop(), 0);
  });

  test(`ulimit -n ${NOFILE}: 64 idle stats connections do not cost a client socket; all ${BUDGET} are served`, async () => {
    assert.ok(
      server.output.some((l) => l.includes(`max_connections: ${BUDGET} (from the open-files limit ${NOFILE}, 64 kept in reserve, 16 for the stats server;`)),
      'start-up line names the stats reserve',
    );
    const statsPort = server.statsPort ?? 0;
    const addresses = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5'];
    const stats = await Promise.all(addresses.flatMap((a) => Array.from({ length: 16 }, () => statsSocket(statsPort, a))));
    const peers = await Promise.all(Array.from({ length: BUDGET + 1 }, () => Peer.open(server.port)));
    for (const p of peers) p.send(encodeGreeting('control', false));
    const replies = await Promise.all(peers.map((p) => p.read(4, 3000)));
    const served = replies.filter((r) => r?.equals(GREETING_REPLY) === true).length;
    assert.equal(served, BUDGET, `${served} of ${BUDGET + 1} client sockets served (the budget is ${BUDGET})`);
    const pid = server.proc.pid ?? 0;
    assert.ok(fdCount(pid) < NOFILE, `psrtd holds ${fdCount(pid)} descriptors, below its limit`);
    await server.waitForLog(/connection refused: out of file descriptors \(open-files limit 256, 64 kept in reserve, 16 for the stats server\)/);
    // The stats server's own refusals are logged (rate-limited) too: 48 of the 64 met its cap.
    await server.waitForLog(/^stats: connection refused: the stats server's connection limit \(16\) reached$/);
    for (const s of stats) s.destroy();
    for (const p of peers) p.destroy();
  });
});
