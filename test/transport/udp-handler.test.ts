/**
 * UdpHandler without sockets: outcome counters, per-sender ordering while bcrypt runs, the
 * bcrypt budget, and that nothing ever throws out of handle().
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AuthStore, PasswordVerifier, UdpKeys, makeAclEntry, type AclEntry } from '../../src/auth/index.js';
import { createMemoryLogger } from '../../src/log/index.js';
import { DEFAULT_UDP_LIMITS, UdpHandler, type UdpLimits, type UdpSender } from '../../src/transport/udp-handler.js';
import { AES, SPEC } from '../fixtures/vectors/spec-examples.js';
import { hex } from '../fixtures/vectors/hex.js';
import { plain, sealed } from '../helpers/udp-fixture.js';

/** Syntactically valid bcrypt hash; the fake bcrypt below decides what matches. */
const HASH = `$2b$04$${'a'.repeat(53)}`;

interface Published {
  topic: string;
  payload: string;
}

function deferred(): { promise: Promise<boolean>; resolve: (v: boolean) => void } {
  let resolve: (v: boolean) => void = () => undefined;
  const promise = new Promise<boolean>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

function setup(opts: { limits?: Partial<UdpLimits>; bcrypt?: (pw: string) => Promise<boolean>; throwOnPublish?: boolean } = {}) {
  const log = createMemoryLogger();
  let bcryptCalls = 0;
  const verifier = new PasswordVerifier({
    bcrypt: (password) => {
      bcryptCalls++;
      const pw = typeof password === 'string' ? password : Buffer.from(password).toString('utf8');
      return opts.bcrypt?.(pw) ?? Promise.resolve(pw === 'secret');
    },
  });
  const acl = new Map<string, AclEntry>([
    ['_', makeAclEntry({ pub: ['#'] })],
    ['user1', makeAclEntry({ pub: ['#'] })],
    ['limited', makeAclEntry({ pub: ['allowed/#'] })],
  ]);
  const auth = AuthStore.fromSnapshot(
    { acl: { kind: 'inline', name: 'test', text: '' }, allowAnonymous: true },
    log,
    {
      acl,
      passwords: new Map([['user1', HASH], ['limited', HASH], ['noacl', HASH]]),
      keys: UdpKeys.fromEntries([['user1', Buffer.from(AES.key, 'hex')]]),
    },
    verifier,
  );
  const published: Published[] = [];
  const broker = {
    publishExternal: (_p: number, topic: string, payload: Buffer) => {
      if (opts.throwOnPublish === true) throw new Error('broker exploded');
      published.push({ topic, payload: payload.toString() });
    },
  };
  const handler = new UdpHandler(
    { broker, auth, log, maxTopicDepth: 4, frameSize: 64 },
    { ...DEFAULT_UDP_LIMITS, ...opts.limits },
  );
  const replies: { to: string; code: number }[] = [];
  const sender = (port: number, ip = '10.0.0.1'): UdpSender => ({
    address: `${ip}:${port}`,
    ip,
    reply: (code) => replies.push({ to: `${ip}:${port}`, code }),
  });
  return { handler, log, published, replies, sender, bcryptCalls: () => bcryptCalls };
}

const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('UdpHandler', () => {
  it('counts every outcome; acks only op 01 after the op byte', async () => {
    const t = setup();
    const s = t.sender(1);
    t.handler.handle(hex(SPEC.udpPlainAck), s); // accepted + acked
    t.handler.handle(hex(SPEC.udpAnonNoAck), s); // accepted, no ack
    t.handler.handle(plain('user1', 'bad', 't', 'x'), s); // denied FE
    t.handler.handle(plain('noacl', 'secret', 't', 'x'), s); // denied FE (no ACL)
    t.handler.handle(plain('limited', 'secret', 'other', 'x'), s); // denied FE (pub ACL)
    t.handler.handle(plain('', '', 'a/b/c/d/e/f', 'x'), s); // rejected FF (too deep)
    t.handler.handle(hex('EE AA 01 00 00 75 00 70 00 01 7F FF 00 68'), s); // rejected FF (UTF-8)
    t.handler.handle(hex('EE AB 01 00 00'), s); // malformed
    t.handler.handle(hex(AES.aes256.datagram.replace('75 73 65 72 31', '75 73 65 72 32')), s); // no key
    t.handler.handle(hex(AES.aes128.datagram), s); // accepted + acked
    t.handler.handle(plain('', '', 'long', 'y'.repeat(100)), s); // truncated to 64 bytes, accepted
    await settle();
    const c = t.handler.counters;
    assert.deepEqual(
      Object.fromEntries(Object.entries(c)),
      { received: 11, truncated: 1, accepted: 4, acked: 8, denied: 3, rejected: 2, malformed: 1, undecryptable: 1, replayed: 0, rateLimited: 0, internalErrors: 0 },
    );
    // The UTF-8 FF is decided on arrival; publishes wait in the sender's lane behind the first
    // (asynchronous) password check and keep their order.
    assert.deepEqual(t.replies.map((r) => r.code), [0xff, 0x01, 0xfe, 0xfe, 0xfe, 0xff, 0x01, 0x01]);
    assert.equal(t.published.at(-1)?.payload.length, 64 - plain('', '', 'long', '').length);
  });

  it('keeps one sender in order while its plain datagram waits for bcrypt; others pass', async () => {
    const gate = deferred();
    const t = setup({ bcrypt: (pw) => (pw === 'secret' ? gate.promise : Promise.resolve(false)) });
    const a = t.sender(1);
    t.handler.handle(plain('user1', 'secret', 'first', '1'), a);
    t.handler.handle(sealed(AES.key, 'user1', 'second', '2'), a); // synchronous path, must wait
    t.handler.handle(sealed(AES.key, 'user1', 'other', '3'), t.sender(2)); // not blocked
    await settle();
    assert.deepEqual(t.published.map((p) => p.topic), ['other']);
    gate.resolve(true);
    await settle();
    assert.deepEqual(t.published.map((p) => p.topic), ['other', 'first', 'second']);
  });

  it('answers a retransmission after its original, with its outcome, while the original waits in the lane', async () => {
    const gate = deferred();
    const t = setup({ bcrypt: () => gate.promise });
    const a = t.sender(1);
    const refused = sealed(AES.key, 'user1', 'a/b/c/d/e/f/g', 'too deep'); // maxTopicDepth 4
    const delivered = sealed(AES.key, 'user1', 'ok', 'once');
    t.handler.handle(plain('user1', 'secret', 'first', '1'), a); // waits for bcrypt
    for (const d of [refused, refused, delivered, delivered]) t.handler.handle(d, a);
    await settle();
    assert.equal(t.replies.length, 0, 'nothing is answered before the datagrams ahead of it');
    gate.resolve(true);
    await settle();
    assert.deepEqual(t.replies.map((r) => r.code), [0x01, 0xff, 0xff, 0x01, 0x01]);
    assert.deepEqual(t.published.map((p) => p.payload), ['1', 'once']);
    assert.equal(t.handler.counters.replayed, 1); // the retransmission of the delivered one
    t.handler.handle(refused, a); // idle lane: judged at once, refused again
    assert.equal(t.replies.at(-1)?.code, 0xff);
  });

  it('never throws out of handle(); an exception is counted and the next datagram works', async () => {
    const t = setup({ throwOnPublish: true });
    assert.doesNotThrow(() => {
      t.handler.handle(sealed(AES.key, 'user1', 't', 'x'), t.sender(1));
      t.handler.handle(plain('', '', 't', 'x'), t.sender(1));
    });
    await settle();
    assert.equal(t.handler.counters.internalErrors, 2);
    assert.match(t.log.messages('error').join('\n'), /udp packet from 10\.0\.0\.1:1 error: Internal error: broker exploded/);
  });

  // The clock stands still here, so every admission is charged the initial 5 ms estimate and
  // nothing refills: the numbers below are exact. (Budget arithmetic: udp-limits.test.ts.)
  it('budget: a sender hammering wrong passwords is limited; other senders and known credentials are not', async () => {
    const t = setup({ limits: { perSenderMsPerS: 20, perIpMsPerS: 1000, globalMsPerS: 1000, maxInFlight: 10, now: () => 0 } });
    const flooder = t.sender(1);
    t.handler.handle(plain('user1', 'secret', 'ok', 'known'), flooder); // verified → exempt
    await settle();
    for (let i = 0; i < 20; i++) t.handler.handle(plain('user1', `wrong${i}`, 't', 'x', false), flooder);
    t.handler.handle(plain('user1', 'secret', 'ok', 'still'), flooder); // exempt: served anyway
    t.handler.handle(plain('limited', 'secret', 'allowed/x', 'new'), t.sender(2)); // own bucket
    await settle();
    assert.equal(t.handler.counters.rateLimited, 16); // 20 ms buys 4 checks at 5 ms
    assert.equal(t.bcryptCalls(), 1 + 4 + 1);
    assert.deepEqual(t.published.map((p) => p.payload), ['known', 'new', 'still']); // 2 is not behind 1
  });

  it('budget: the per-IP bucket caps a source spreading over ports; the in-flight cap bounds bcrypt', async () => {
    const t = setup({ limits: { perSenderMsPerS: 1000, perIpMsPerS: 25, maxInFlight: 10, now: () => 0 } });
    for (let i = 0; i < 10; i++) t.handler.handle(plain('user1', `w${i}`, 't', 'x', false), t.sender(100 + i));
    await settle();
    assert.equal(t.bcryptCalls(), 5);
    const gate = deferred();
    const u = setup({ limits: { maxInFlight: 2 }, bcrypt: () => gate.promise });
    for (let i = 0; i < 5; i++) u.handler.handle(plain('user1', `w${i}`, 't', 'x', false), u.sender(i, `10.0.1.${i}`));
    assert.equal(u.bcryptCalls(), 2);
    assert.equal(u.handler.counters.rateLimited, 3);
    u.handler.handle(plain('', '', 'anon', 'a'), u.sender(9)); // no bcrypt: never limited
    gate.resolve(false);
    await settle();
    assert.deepEqual(u.published.map((p) => p.topic), ['anon']);
  });

  it('throttles error lines to one per second per kind with a suppressed count', () => {
    const t = setup();
    for (let i = 0; i < 50; i++) t.handler.handle(hex('00'), t.sender(1));
    const lines = t.log.messages('error');
    assert.equal(lines.length, 1);
    assert.match(lines[0] ?? '', /^udp packet from 10\.0\.0\.1:1 error: Invalid data: /);
    assert.equal(t.handler.counters.malformed, 50);
  });
});
