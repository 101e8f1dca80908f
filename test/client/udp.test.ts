/** PsrtUdpClient against a spec-only UDP fake built on the protocol's UDP codec. */
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import type { LookupAddress } from 'node:dns';
import dnsPromises from 'node:dns/promises';
import { once } from 'node:events';
import { syncBuiltinESMExports } from 'node:module';
import { after, before, describe, it, mock } from 'node:test';
import { PsrtUdpClient, parseKey } from '../../src/client/index.js';
import {
  decryptUdp,
  encodeUdpAck,
  openUdpPlain,
  parseUdpEnvelope,
  parseUdpInner,
} from '../../src/protocol/udp.js';

const KEY = parseKey('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');

interface Seen {
  login: string;
  password: string | null;
  topic: string;
  payload: string;
  ack: boolean;
  type: number;
}

describe('UDP client (fake UDP server)', () => {
  let server: Socket;
  let address: string;
  const seen: Seen[] = [];
  /** Ack code by topic; 'none' = stay silent. */
  const replyFor = (topic: string): number | 'none' => (topic === 'silent' ? 'none' : topic === 'denied' ? 0xfe : 1);

  before(async () => {
    server = createSocket('udp4');
    server.on('message', (msg, rinfo) => {
      const env = parseUdpEnvelope(msg);
      assert.ok(env);
      let inner: Buffer | null;
      let password: string | null = null;
      if (env.authType === 0) {
        const p = openUdpPlain(env.rest);
        inner = p?.inner ?? null;
        password = p?.password ?? null;
      } else inner = decryptUdp(env.authType, KEY, env.rest);
      assert.ok(inner, 'decryptable');
      const r = parseUdpInner(inner);
      assert.ok(r.kind === 'publish', 'a publish');
      seen.push({ login: env.login, password, topic: r.topic, payload: r.payload.toString(), ack: r.ack, type: env.authType });
      const code = replyFor(r.topic);
      if (r.ack && code !== 'none') server.send(encodeUdpAck(code), rinfo.port, rinfo.address);
    });
    server.bind(0, '127.0.0.1');
    await once(server, 'listening');
    address = `127.0.0.1:${server.address().port}`;
  });
  after(() => {
    server.close();
  });

  it('plain datagrams with ack and without', async () => {
    const c = await PsrtUdpClient.create({ path: address, user: 'u', password: 'p' });
    await c.publishConfirmed('t/1', 'one');
    await c.publish('t/2', 'two');
    await c.publishConfirmed('t/3', 'three'); // sequencing: t/2 has arrived before t/3's ack
    c.close();
    assert.deepEqual(seen.slice(-3).map((s) => [s.login, s.password, s.topic, s.payload, s.ack, s.type]), [
      ['u', 'p', 't/1', 'one', true, 0],
      ['u', 'p', 't/2', 'two', false, 0],
      ['u', 'p', 't/3', 'three', true, 0],
    ]);
  });

  it('AES-256-GCM (type 03) and AES-128-GCM (type 02)', async () => {
    const c256 = await PsrtUdpClient.create({ path: address, user: 'user1', key: KEY });
    const c128 = await PsrtUdpClient.create({ path: address, key: KEY.toString('hex'), cipher: 'aes-128-gcm' });
    await c256.publishConfirmed('enc', 'x');
    await c128.publishConfirmed('enc', 'y');
    c256.close();
    c128.close();
    assert.deepEqual(seen.slice(-2).map((s) => [s.type, s.login, s.payload]), [[3, 'user1', 'x'], [2, '', 'y']]);
  });

  it('FE → AccessDenied; no ack → Timeout; concurrent confirmed publishes are serialised', async () => {
    const c = await PsrtUdpClient.create({ path: address, timeout: 0.2 });
    await assert.rejects(c.publishConfirmed('denied', 'x'), { code: 'PSRT_ACCESS_DENIED' });
    await assert.rejects(c.publishConfirmed('silent', 'x'), { code: 'PSRT_TIMEOUT' });
    await Promise.all(Array.from({ length: 20 }, (_, i) => c.publishConfirmed(`s/${i}`, String(i))));
    assert.deepEqual(seen.slice(-20).map((s) => s.topic), Array.from({ length: 20 }, (_, i) => `s/${i}`));
    c.close();
    await assert.rejects(c.publish('t', 'x'), { code: 'PSRT_NOT_CONNECTED' });
  });

  it('validates keys, priorities and ack timeouts', async () => {
    assert.throws(() => parseKey('abcd'), /32 bytes/);
    const c = await PsrtUdpClient.create({ path: address });
    await assert.rejects(c.publish('t', 'x', { priority: 0 }), /priority/);
    // Not a timeout at once: a timer cannot hold these.
    for (const timeout of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, 3e6]) {
      await assert.rejects(c.publishConfirmed('t', 'x', { timeout }), RangeError, `timeout ${timeout}`);
    }
    c.close();
  });

  it('refuses a wildcard or NUL in the topic locally (psrtd answers FF, or drops it unseen without an ack)', async () => {
    const c = await PsrtUdpClient.create({ path: address, timeout: 1 });
    try {
      const before = seen.length;
      await assert.rejects(c.publish('a/#', 'x'), { code: 'PSRT_WILDCARD_PUBLISH' });
      await assert.rejects(c.publishConfirmed('a/+/b', 'x'), { code: 'PSRT_WILDCARD_PUBLISH' });
      await assert.rejects(c.publishConfirmed('a\0b', 'x'), { code: 'PSRT_INVALID_DATA_BLOCK' });
      await c.publishConfirmed('a/b', 'x');
      assert.deepEqual(seen.slice(before).map((s) => s.topic), ['a/b'], 'only the valid topic was sent');
    } finally {
      c.close();
    }
  });

  it('a payload too large for one datagram fails with that reason, not a bare EMSGSIZE', async () => {
    const c = await PsrtUdpClient.create({ path: address, timeout: 1 });
    try {
      const big = Buffer.alloc(70_000);
      await assert.rejects(c.publish('t', big), { code: 'PSRT_IO', message: /more than one UDP datagram can carry/ });
      await assert.rejects(c.publishConfirmed('t', big), { code: 'PSRT_IO', message: /more than one UDP datagram can carry/ });
    } finally {
      c.close();
    }
  });

  it('a name with IPv6 and IPv4 addresses is sent to over IPv4, as the reference does (UDP listens on 0.0.0.0)', async () => {
    const v6: LookupAddress = { address: '::1', family: 6 };
    const v4: LookupAddress = { address: '127.0.0.1', family: 4 };
    // The OS's order (RFC 6724 puts ::1 first when /etc/hosts has both, as Debian's does).
    const dualStack = (_host: string, o?: { all?: boolean }): Promise<LookupAddress | LookupAddress[]> =>
      Promise.resolve(o?.all === true ? [v6, v4] : v6);
    mock.method(dnsPromises, 'lookup', dualStack);
    syncBuiltinESMExports(); // the client's `import { lookup }` sees the mock
    try {
      const c = await PsrtUdpClient.create({ path: `dual-stack.test:${address.split(':')[1]}`, timeout: 1 });
      try {
        await c.publishConfirmed('v4', 'x');
      } finally {
        c.close();
      }
      assert.equal(seen.at(-1)?.topic, 'v4');
    } finally {
      mock.restoreAll();
      syncBuiltinESMExports();
    }
  });
});
