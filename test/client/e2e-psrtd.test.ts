/** The client library against a spawned psrtd: every transport, auth, errors, UDP. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PsrtClient, PsrtUdpClient, type Message } from '../../src/client/index.js';
import { startPsrtd, TEST_KEY_HEX, TEST_PASSWORD, type Psrtd } from './helpers.js';
import { within } from './util.js';

async function nextMessage(it: AsyncIterator<Message>): Promise<Message> {
  const r = await within(5000, it.next(), 'message');
  assert.equal(r.done, false);
  return r.value;
}

describe('client against psrtd', () => {
  let d: Psrtd;
  before(async () => {
    d = await startPsrtd();
  });
  after(async () => {
    await d.stop();
  });

  it('anonymous pub/sub over TCP; topics arrive normalised', async () => {
    const sub = await PsrtClient.connect({ path: d.tcp });
    const pub = await PsrtClient.connect({ path: d.tcp, dataStream: false });
    await sub.subscribe(['e2e/#', 'other']);
    const it = sub.messages();
    await pub.publish('/e2e//x', 'hello');
    const m = await nextMessage(it);
    assert.equal(m.topic, 'e2e/x');
    assert.equal(m.payload.toString(), 'hello');
    assert.equal(m.priority, 0x7f);
    await Promise.all([sub.bye(), pub.bye()]);
  });

  it('10,000 pipelined publishes reach a subscriber complete and in order', async () => {
    const sub = await PsrtClient.connect({ path: d.tcp });
    const pub = await PsrtClient.connect({ path: d.tcp, dataStream: false, queueSize: 16384 });
    await sub.subscribe('order');
    const n = 10_000;
    const got: number[] = [];
    const done = new Promise<void>((resolve) => {
      sub.on('message', (m) => {
        got.push(m.payload.readUInt32LE(0));
        if (got.length === n) resolve();
      });
    });
    const sent = Array.from({ length: n }, (_, i) => {
      const b = Buffer.alloc(4);
      b.writeUInt32LE(i);
      return pub.publish('order', b);
    });
    await within(20_000, Promise.all(sent), 'publishes');
    await within(20_000, done, 'deliveries');
    assert.deepEqual(got, Array.from({ length: n }, (_, i) => i));
    await Promise.all([sub.bye(), pub.bye()]);
  });

  it('login: good password works, bad one → LoginFailed', async () => {
    const c = await PsrtClient.connect({ path: d.tcp, user: 'user1', password: TEST_PASSWORD });
    await c.publish('x', 'y');
    await c.bye();
    await assert.rejects(
      PsrtClient.connect({ path: d.tcp, user: 'user1', password: 'wrong' }),
      { code: 'PSRT_LOGIN_FAILED' },
    );
  });

  it('FE (ACL) and FF (too deep) reject the operation, the connection survives', async () => {
    const c = await PsrtClient.connect({ path: d.tcp, user: 'reader', password: TEST_PASSWORD });
    await assert.rejects(c.publish('a', 'b'), { code: 'PSRT_ACCESS_DENIED' });
    await assert.rejects(c.subscribe('x/'.repeat(70) + 'y'), { code: 'PSRT_SERVER_ERROR' });
    await c.subscribe('fine');
    assert.equal(c.connected, true);
    await c.bye();
  });

  it('unix socket', async () => {
    const c = await PsrtClient.connect({ path: d.unix });
    await c.subscribe('u/x');
    const it = c.messages();
    await c.publish('u/x', 'via unix');
    assert.equal((await nextMessage(it)).payload.toString(), 'via unix');
    await c.bye();
  });

  it('STARTTLS with the test CA and the host name', async () => {
    const c = await PsrtClient.connect({ path: d.tcpName, tls: { caFile: d.caFile } });
    await c.subscribe('tls');
    const it = c.messages();
    await c.publish('tls', 'encrypted');
    assert.equal((await nextMessage(it)).payload.toString(), 'encrypted');
    await c.bye();
  });

  it('UDP: plain, AES-256, AES-128, with and without ack; FE for a user without pub', async () => {
    const sub = await PsrtClient.connect({ path: d.tcp });
    await sub.subscribe('udp/#');
    const it = sub.messages();
    const plain = await PsrtUdpClient.create({ path: d.udp, user: 'user1', password: TEST_PASSWORD });
    const aes256 = await PsrtUdpClient.create({ path: d.udp, user: 'user1', key: TEST_KEY_HEX });
    const aes128 = await PsrtUdpClient.create({ path: d.udp, key: TEST_KEY_HEX, cipher: 'aes-128-gcm' });
    const denied = await PsrtUdpClient.create({ path: d.udp, user: 'reader', password: TEST_PASSWORD, timeout: 2 });
    try {
      await plain.publishConfirmed('udp/plain', 'p');
      assert.equal((await nextMessage(it)).topic, 'udp/plain');
      await aes256.publishConfirmed('udp/256', 'a');
      assert.equal((await nextMessage(it)).topic, 'udp/256');
      await aes128.publish('udp/128', 'b');
      assert.equal((await nextMessage(it)).payload.toString(), 'b');
      await assert.rejects(denied.publishConfirmed('udp/no', 'x'), { code: 'PSRT_ACCESS_DENIED' });
    } finally {
      for (const u of [plain, aes256, aes128, denied]) u.close();
      await sub.bye();
    }
  });
});
