/**
 * server.max_connections (issue 7 item 4): psrtd with max_connections 20 gets 40 simultaneous
 * connections. Pass criteria: exactly 20 get the greeting reply, the other 20 are closed
 * without one; `connection refused: server.max_connections (20) reached` is logged once (the
 * line is rate-limited to one per second, and the refusals all happen within that second);
 * after the 40 close, a well-behaved client (control + data socket) works normally.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { encodeGreeting } from '../../src/protocol/encode.js';
import { startPsrtd, type Psrtd } from '../helpers/psrtd.js';
import { Bystander } from '../helpers/raw.js';
import { Peer } from '../../scripts/lib/hardening/peer.js';
import { fdCount, sleep } from '../../scripts/lib/hardening/proc.js';

const REFUSED_LINE = 'connection refused: server.max_connections (20) reached';

describe('server.max_connections', () => {
  let server: Psrtd;
  before(async () => {
    server = await startPsrtd({ proto: { timeout: 10 }, server: { max_connections: 20 } });
  });
  after(async () => {
    assert.equal(await server.stop(), 0);
  });

  test('40 connections with max_connections 20: 20 served, 20 refused, one log line, then normal service', async () => {
    const pid = server.proc.pid ?? 0;
    const idleFds = fdCount(pid);
    const t0 = performance.now();
    const peers = await Promise.all(Array.from({ length: 40 }, () => Peer.open(server.port)));
    for (const p of peers) p.send(encodeGreeting('control', false));
    const replies = await Promise.all(peers.map((p) => p.read(4, 3000)));
    const elapsed = performance.now() - t0;
    const served = replies.filter((r) => r?.equals(Buffer.from([0xee, 0xaa, 0x01, 0x00])) === true).length;
    assert.equal(served, 20, 'connections that got the greeting reply');
    const refused = peers.filter((_p, i) => replies[i] === null);
    assert.equal(refused.length, 20);
    for (const p of refused) assert.ok(await p.closesWithin(3000), 'a refused connection is closed');
    await server.waitForLog(/connection refused: server\.max_connections \(20\) reached/);
    const lines = server.output.filter((l) => l.includes(REFUSED_LINE)).length;
    assert.ok(lines >= 1 && lines <= 1 + Math.floor(elapsed / 1000), `${lines} refusal lines in ${elapsed.toFixed(0)} ms`);
    for (const p of peers) p.destroy();
    for (let i = 0; i < 100 && fdCount(pid) > idleFds; i++) await sleep(50);
    assert.equal(fdCount(pid), idleFds, 'every connection released');
    // Each closed socket gave back exactly one place: 20 fit again, the 21st does not.
    const again = await Promise.all(Array.from({ length: 21 }, () => Peer.open(server.port)));
    for (const p of again) p.send(encodeGreeting('control', false));
    const againReplies = await Promise.all(again.map((p) => p.read(4, 3000)));
    assert.equal(againReplies.filter((r) => r !== null).length, 20, 'places after every socket closed');
    for (const p of again) p.destroy();
    for (let i = 0; i < 100 && fdCount(pid) > idleFds; i++) await sleep(50);
    const client = await Bystander.create(server.port);
    await client.check();
    client.close();
  });
});
