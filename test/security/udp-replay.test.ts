/**
 * AES-GCM UDP replay protection and the anonymous key `_`, against a real psrtd.
 *
 * Pass criteria: a datagram built with the reference packet layout (random nonce, AES-256 and
 * AES-128) is delivered once; the very same bytes sent again are acknowledged `01` but not
 * delivered, and counted as `replayed` in /metrics; fresh datagrams of the same user keep
 * working. With `udp_replay_window: 0` a replay is delivered again (the flag works both ways).
 * With `allow_anonymous: false`, a datagram sealed with the key of `_` (login `_` or empty) is
 * denied (`FE`) and not delivered; with `allow_anonymous: true` it is delivered. A refused
 * datagram (`FE`, `FF`, or dropped after decryption) sent again gets the same answer, never an
 * `01` for a message that was not delivered.
 */
import assert from 'node:assert/strict';
import { get } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { OP_PUBLISH, UDP_AUTH_AES_256_GCM } from '../../src/protocol/constants.js';
import { encodeUdpEncrypted } from '../../src/protocol/udp.js';
import { randomBytes } from 'node:crypto';
import { startPsrtd, type Psrtd } from '../helpers/psrtd.js';
import { OTHER_KEY, Subscriber, UDP_ACL, USER1_KEY, sealed, udpPasswd } from '../helpers/udp-fixture.js';
import { ACK_DENIED, ACK_ERROR, ACK_OK, UdpPeer } from '../helpers/udp-peer.js';

const ANON_KEY = 'ab'.repeat(32);

function metrics(port: number): Promise<string> {
  return new Promise((res, rej) => {
    get({ host: '127.0.0.1', port, path: '/metrics' }, (r) => {
      let body = '';
      r.setEncoding('utf8');
      r.on('data', (c: string) => (body += c));
      r.on('end', () => { res(body); });
    }).on('error', rej);
  });
}

async function serverWith(opts: { allowAnonymous: boolean; replayWindow?: number }): Promise<{ server: Psrtd; sub: Subscriber; peer: UdpPeer }> {
  const server = await startPsrtd({
    udp: true,
    acl: UDP_ACL,
    passwd: udpPasswd(),
    keys: `user1: ${USER1_KEY}\n_: ${ANON_KEY}\nlimited: ${OTHER_KEY}\n`,
    auth: { allow_anonymous: opts.allowAnonymous },
    server: { bind_stats: '127.0.0.1:0' },
    proto: { timeout: 10, ...(opts.replayWindow === undefined ? {} : { udp_replay_window: opts.replayWindow }) },
  });
  const sub = await Subscriber.create(server.port, 'user1', 'secret');
  const peer = await UdpPeer.open(server.udpPort);
  return { server, sub, peer };
}

describe('UDP replay protection (default on)', () => {
  let s: Awaited<ReturnType<typeof serverWith>>;
  before(async () => {
    s = await serverWith({ allowAnonymous: true });
  });
  after(async () => {
    s.peer.close();
    s.sub.close();
    assert.equal(await s.server.stop(), 0);
  });

  test('the same AES-256 and AES-128 datagrams sent again are acknowledged but not delivered again', async () => {
    const { peer, sub } = s;
    for (const aes128 of [false, true]) {
      const datagram = sealed(USER1_KEY, 'user1', 'replay/t', `once-${aes128}`, { aes128 });
      assert.deepEqual(await peer.request(datagram), ACK_OK);
      await sub.expect('replay/t', `once-${aes128}`);
      assert.deepEqual(await peer.request(datagram), ACK_OK, 'a retransmission is acknowledged');
      const fresh = sealed(USER1_KEY, 'user1', 'replay/t', `fresh-${aes128}`, { aes128 });
      assert.deepEqual(await peer.request(fresh), ACK_OK);
      await sub.expect('replay/t', `fresh-${aes128}`); // the next frame: the replay was not delivered
    }
    const unacked = sealed(USER1_KEY, 'user1', 'replay/t', 'no-ack', { ack: false });
    await peer.send(unacked);
    await sub.expect('replay/t', 'no-ack');
    await peer.send(unacked);
    await sub.probe(peer, 'user1', 'secret');
    const text = await metrics(s.server.statsPort ?? 0);
    assert.match(text, /psrt_udp_datagrams_total\{[^}]*outcome="replayed"[^}]*\} 3/);
    await s.server.waitForLog(/replayed datagram \(nonce already seen\) for user1/);
  });

  test('a refused datagram sent again is refused again, not acknowledged as delivered', async () => {
    const { peer, sub } = s;
    // `limited` may publish to allowed/# only: FE, twice (a lost FE makes the sender retransmit).
    const denied = sealed(OTHER_KEY, 'limited', 'replay/denied', 'x');
    assert.deepEqual(await peer.request(denied), ACK_DENIED);
    assert.deepEqual(await peer.request(denied), ACK_DENIED, 'retransmitted after a denial');
    const wildcard = sealed(USER1_KEY, 'user1', 'replay/+', 'x');
    assert.deepEqual(await peer.request(wildcard), ACK_ERROR);
    assert.deepEqual(await peer.request(wildcard), ACK_ERROR, 'retransmitted after an FF');
    // Priority 00 with op 01: dropped without an answer after decryption, both times.
    const dropped = encodeUdpEncrypted(UDP_AUTH_AES_256_GCM, Buffer.from(USER1_KEY, 'hex'), randomBytes(12), OP_PUBLISH, 0, 'user1', 'replay/p0', Buffer.from('x'));
    await peer.send(dropped);
    await peer.send(dropped);
    await sub.probe(peer, 'user1', 'secret'); // the next ack is the probe's: no reply to either
    assert.equal(peer.pending, 0);
  });
});

describe('UDP replay protection off (udp_replay_window: 0), anonymous key disabled', () => {
  let s: Awaited<ReturnType<typeof serverWith>>;
  before(async () => {
    s = await serverWith({ allowAnonymous: false, replayWindow: 0 });
  });
  after(async () => {
    s.peer.close();
    s.sub.close();
    assert.equal(await s.server.stop(), 0);
  });

  test('with the window at 0 a replay is delivered again (reference behaviour)', async () => {
    const datagram = sealed(USER1_KEY, 'user1', 'replay/t', 'twice');
    assert.deepEqual(await s.peer.request(datagram), ACK_OK);
    await s.sub.expect('replay/t', 'twice');
    assert.deepEqual(await s.peer.request(datagram), ACK_OK);
    await s.sub.expect('replay/t', 'twice');
  });

  test('key `_` with allow_anonymous false: denied (FE), not delivered, whether the login is `_` or empty', async () => {
    assert.deepEqual(await s.peer.request(sealed(ANON_KEY, '_', 'anon/t', 'x')), ACK_DENIED);
    assert.deepEqual(await s.peer.request(sealed(ANON_KEY, '', 'anon/t', 'y')), ACK_DENIED);
    await s.sub.probe(s.peer, 'user1', 'secret');
    await s.server.waitForLog(/anonymous login failed \(auth\.allow_anonymous is false\)/);
  });
});

describe('anonymous key allowed', () => {
  let s: Awaited<ReturnType<typeof serverWith>>;
  before(async () => {
    s = await serverWith({ allowAnonymous: true });
  });
  after(async () => {
    s.peer.close();
    s.sub.close();
    assert.equal(await s.server.stop(), 0);
  });

  test('key `_` with allow_anonymous true: delivered', async () => {
    assert.deepEqual(await s.peer.request(sealed(ANON_KEY, '_', 'anon/t', 'x')), ACK_OK);
    await s.sub.expect('anon/t', 'x');
  });
});
