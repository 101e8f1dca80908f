/**
 * UDP publishing end to end (PROTOCOL.md §8.3–8.5, §9.13–9.14, §10 items 38–40) against a real
 * psrtd: every step of §8.3 with the ack (or the silence) it must produce, deliveries checked
 * on a TCP subscriber.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { AES, SPEC } from '../fixtures/vectors/spec-examples.js';
import { UDP_DATAGRAMS } from '../fixtures/vectors/udp.js';
import { startPsrtd, type Psrtd } from '../helpers/psrtd.js';
import { hex } from '../helpers/raw.js';
import { OTHER_KEY, Subscriber, UDP_ACL, USER1_KEY, plain, sealed, udpPasswd } from '../helpers/udp-fixture.js';
import { ACK_DENIED, ACK_ERROR, ACK_OK, UdpPeer } from '../helpers/udp-peer.js';
import { PASSWORD } from '../helpers/users.js';

const FRAME_SIZE = 512;

/** Deterministic pseudo-random bytes (LCG), so a failing garbage case can be replayed. */
function garbage(seed: number, length: number, avoid: number | null = null): Buffer {
  const out = Buffer.alloc(length);
  let x = seed >>> 0;
  for (let i = 0; i < length; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    let b = x >>> 24;
    if (b === avoid) b ^= 0x01;
    out[i] = b;
  }
  return out;
}

describe('UDP: the §8.3 paths (anonymous allowed, key_file, udp_frame_size 512)', () => {
  let server: Psrtd;
  let sub: Subscriber;
  let peer: UdpPeer;
  before(async () => {
    server = await startPsrtd({
      udp: true,
      acl: UDP_ACL,
      passwd: udpPasswd(),
      keys: `user1: ${USER1_KEY}\nnorights: ${OTHER_KEY}\nghost: ${OTHER_KEY}\n`,
      // The fixed §9.14 vectors are sent more than once here: replay protection off.
      proto: { udp_frame_size: FRAME_SIZE, timeout: 10, udp_replay_window: 0 },
    });
    assert.ok(server.udpPort > 0);
    sub = await Subscriber.create(server.port);
    peer = await UdpPeer.open(server.udpPort);
  });
  after(async () => {
    peer.close();
    await sub.data.expectSilence(100); // no delivery the tests did not expect
    sub.close();
    assert.equal(await server.stop(), 0);
  });

  test('logs the bind and the actual address', async () => {
    await server.waitForLog(/^binding UDP socket to: 127\.0\.0\.1:0$/);
    await server.waitForLog(new RegExp(`^listening on UDP 127\\.0\\.0\\.1:${server.udpPort}$`));
    await server.waitForLog(/No ACL defined for the key ghost/);
  });

  test('§9.13 with ack: exact reply bytes, delivered to the TCP subscriber', async () => {
    assert.deepEqual(await peer.request(SPEC.udpPlainAck), hex(SPEC.udpAckOk));
    await sub.expect('mytopic', 'hello');
  });

  test('§9.13 without ack (op 21) and anonymous: delivered, no reply', async () => {
    await peer.send(SPEC.udpPlainNoAck);
    await sub.expect('mytopic', 'hello');
    await peer.send(SPEC.udpAnonNoAck);
    await sub.expect('mytopic', 'hello');
    await sub.probe(peer);
  });

  test('§9.14 vectors: type 03 and type 02 accepted and delivered', async () => {
    assert.deepEqual(await peer.request(AES.aes256.datagram), ACK_OK);
    await sub.expect('mytopic', 'hello');
    assert.deepEqual(await peer.request(AES.aes128.datagram), ACK_OK);
    await sub.expect('mytopic', 'hello');
  });

  test('every datagram of the §8.3 vector table gets exactly its ack or silence', async () => {
    for (const v of UDP_DATAGRAMS) {
      await peer.send(v.hex);
      const e = v.expect;
      if (e.kind === 'error' && e.ack) assert.deepEqual(await peer.next(), ACK_ERROR, v.name);
      if (e.kind === 'publish') {
        if (e.ack) assert.deepEqual(await peer.next(), ACK_OK, v.name);
        await sub.expect(e.topic, e.payload, e.priority);
      }
      await sub.probe(peer); // the next ack is the probe's: nothing else was replied or delivered
    }
  });

  test('wrong password, unknown user, anonymous with a password: FE; op 21: silence', async () => {
    assert.deepEqual(await peer.request(plain('user1', 'wrong', 't', 'x')), ACK_DENIED);
    assert.deepEqual(await peer.request(plain('nobody', PASSWORD, 't', 'x')), ACK_DENIED);
    assert.deepEqual(await peer.request(plain('', PASSWORD, 't', 'x')), ACK_DENIED);
    await peer.send(plain('user1', 'wrong', 't', 'x', false));
    await sub.probe(peer);
    await server.waitForLog(/udp packet from 127\.0\.0\.1:\d+ error: Access denied: login failed for user1/);
  });

  test('no ACL entry: FE for a password user; an encrypted user without ACL entry has no key', async () => {
    assert.deepEqual(await peer.request(plain('noacl', PASSWORD, 't', 'x')), ACK_DENIED);
    await peer.send(sealed(OTHER_KEY, 'ghost', 't', 'x'));
    await sub.probe(peer);
  });

  test('pub ACL: denied topic FE (plain and encrypted), allowed topic 01', async () => {
    assert.deepEqual(await peer.request(plain('limited', PASSWORD, 'denied/x', 'no')), ACK_DENIED);
    assert.deepEqual(await peer.request(plain('limited', PASSWORD, 'allowed/x', 'yes')), ACK_OK);
    await sub.expect('allowed/x', 'yes');
    assert.deepEqual(await peer.request(sealed(OTHER_KEY, 'norights', 'any', 'no')), ACK_DENIED);
    await peer.send(plain('limited', PASSWORD, 'denied/x', 'no', false));
    await sub.probe(peer);
  });

  test('topic checks after normalisation: too deep FF, wildcard FF, `/a//b` delivered as a/b', async () => {
    assert.deepEqual(await peer.request(plain('', '', 'a/'.repeat(9) + 'b', 'deep')), ACK_ERROR);
    assert.deepEqual(await peer.request(plain('', '', '//a/'.repeat(4) + 'b', 'ok')), ACK_OK);
    await sub.expect('a/a/a/a/b', 'ok');
    for (const topic of ['a/+/b', 'a/#', '#', '+', 'x#y']) {
      assert.deepEqual(await peer.request(plain('', '', topic, 'w')), ACK_ERROR, topic);
    }
    assert.deepEqual(await peer.request(plain('', '', '/a//b', 'n', true, 0x01)), ACK_OK);
    await sub.expect('a/b', 'n', 0x01);
    assert.deepEqual(await peer.request(sealed(USER1_KEY, 'user1', 'a/#', 'w')), ACK_ERROR);
  });

  test('encrypted: wrong key, tampered, key of another user, op 21: silence or delivery only', async () => {
    await peer.send(sealed(OTHER_KEY, 'user1', 't', 'wrong key'));
    const good = sealed(USER1_KEY, 'user1', 't', 'tampered');
    good[good.length - 20] = (good[good.length - 20] ?? 0) ^ 0x80;
    await peer.send(good);
    await peer.send(sealed(USER1_KEY, 'norights', 't', 'key of user1 for norights'));
    await sub.probe(peer);
    await peer.send(sealed(USER1_KEY, 'user1', 'enc/noack', 'n', { ack: false, aes128: true }));
    await sub.expect('enc/noack', 'n');
    await sub.probe(peer);
  });

  test('oversize: truncated to udp_frame_size, the cut message is delivered; encrypted fails', async () => {
    const payload = Buffer.from('0123456789'.repeat(100));
    const datagram = plain('user1', PASSWORD, 'big', payload);
    assert.ok(datagram.length > FRAME_SIZE);
    assert.deepEqual(await peer.request(datagram), ACK_OK);
    const head = datagram.length - payload.length;
    await sub.expect('big', payload.subarray(0, FRAME_SIZE - head));
    await peer.send(sealed(USER1_KEY, 'user1', 'big', payload));
    await sub.probe(peer);
    const fit = Buffer.alloc(FRAME_SIZE - plain('user1', PASSWORD, 'fit', '').length, 0x61);
    assert.equal(plain('user1', PASSWORD, 'fit', fit).length, FRAME_SIZE);
    assert.deepEqual(await peer.request(plain('user1', PASSWORD, 'fit', fit)), ACK_OK);
    await sub.expect('fit', fit); // exactly udp_frame_size: nothing cut
  });

  test('garbage never gets a reply and never hurts; its log lines are throttled', async () => {
    const started = performance.now();
    const logBefore = server.output.length;
    for (let i = 0; i < 600; i++) {
      const len = i % 97;
      let g: Buffer;
      if (i % 3 === 0) g = garbage(i, len); // anything (first byte rarely EE)
      else if (i % 3 === 1) g = Buffer.concat([hex('EE AA 01 00'), Buffer.from([i % 2 === 0 ? 2 : 3]), garbage(i, len)]);
      else g = Buffer.concat([hex('EE AA 01 00 00'), garbage(i, len, 0)]); // plain, no 00 at all
      if (g[0] === 0xee && g[1] === 0xaa && g[2] === 1 && g[3] === 0 && g[4] === 0 && i % 3 === 0) continue;
      await peer.send(g);
    }
    await sub.probe(peer);
    const seconds = (performance.now() - started) / 1000;
    const lines = server.output.slice(logBefore).filter((l) => l.includes('udp packet from'));
    assert.ok(lines.length <= 3 * (Math.ceil(seconds) + 1), `${lines.length} log lines in ${seconds} s`);
  });
});
