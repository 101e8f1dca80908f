/** PROTOCOL.md §10 items 15–32 (control requests), each followed by a bystander check. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startPsrtd, type Psrtd } from '../helpers/psrtd.js';
import {
  Bystander,
  attachData,
  deliveredFrame,
  hex,
  login,
  publishFrame,
  topicsFrame,
  type RawConn,
} from '../helpers/raw.js';
import { PASSWORD, TEST_ACL, makePasswd } from '../helpers/users.js';

describe('control requests (§10 15–32)', () => {
  let server: Psrtd;
  let bystander: Bystander;
  // A subscriber on everything, to observe what gets delivered.
  let watcher: { ctl: RawConn; data: RawConn };
  before(async () => {
    server = await startPsrtd({
      acl: TEST_ACL,
      passwd: makePasswd(),
      proto: { timeout: 10 },
      server: { max_topic_depth: 3, max_pub_size: 1000, max_topic_length: 100 },
    });
    bystander = await Bystander.create(server.port);
    const w = await login(server.port);
    watcher = { ctl: w.ctl, data: await attachData(server.port, w.token, 255) };
  });
  after(async () => {
    bystander.close();
    watcher.ctl.destroy();
    watcher.data.destroy();
    assert.equal(await server.stop(), 0);
  });

  async function session(user = '', pw = ''): Promise<RawConn> {
    return (await login(server.port, user, pw)).ctl;
  }

  async function expectReply(ctl: RawConn, bytes: string | Buffer, reply: string): Promise<void> {
    ctl.send(bytes);
    assert.deepEqual(await ctl.read(hex(reply).length), hex(reply));
  }

  async function expectClosed(bytes: string | Buffer, user = '', pw = ''): Promise<void> {
    const ctl = await session(user, pw);
    ctl.send(bytes);
    await ctl.expectClose();
    await bystander.check();
  }

  test('NOP (§9.5) answers 01', async () => {
    const ctl = await session();
    await expectReply(ctl, '00 00 00', '01 01 01');
    ctl.destroy();
  });

  test('15: unknown op codes close (including 21 on TCP)', async () => {
    for (const op of ['04', '10', '21', '7F', 'FE']) await expectClosed(op);
  });

  test('16: (UN)SUBSCRIBE LEN > max_topic_length closes before the body', async () => {
    await expectClosed('02 65 00 00 00');
    await expectClosed('03 65 00 00 00');
  });

  test('17: a non-UTF-8 topic piece closes and nothing of the request applies', async () => {
    await expectClosed(Buffer.concat([hex('02 08 00 00 00'), Buffer.from('ok/t\0'), hex('C3 28 00')]));
    await expectClosed('03 02 00 00 00 C3 28');
  });

  test('18: LEN = 0 and only-00 bodies are no-ops answered 01', async () => {
    const ctl = await session();
    await expectReply(ctl, '02 00 00 00 00', '01');
    await expectReply(ctl, '02 03 00 00 00 00 00 00', '01');
    await expectReply(ctl, '03 00 00 00 00', '01');
    ctl.destroy();
  });

  test('19: ACL denial answers FE; earlier topics of the request stay subscribed', async () => {
    const { ctl, token } = await login(server.port, 'limited', PASSWORD);
    const data = await attachData(server.port, token, 255);
    await expectReply(ctl, topicsFrame(2, ['allowed/a', 'denied/x', 'allowed/b']), 'FE');
    const pub = await session();
    await expectReply(pub, publishFrame('allowed/b', 'B'), '01');
    await expectReply(pub, publishFrame('allowed/a', 'A'), '01');
    const frame = deliveredFrame('allowed/a', 'A');
    assert.deepEqual(await data.read(frame.length), frame); // allowed/b was never subscribed
    await server.waitForLog(/sub access deneid for denied\/x to limited@127\.0\.0\.1:\d+/);
    for (const c of [ctl, data, pub]) c.destroy();
    await bystander.check();
  });

  test('Decision 2: ACL "plus/+" does not grant "plus/#"; ACL "allowed/#" does not grant "allowed"', async () => {
    const ctl = (await login(server.port, 'limited', PASSWORD)).ctl;
    await expectReply(ctl, topicsFrame(2, ['plus/x']), '01');
    await expectReply(ctl, topicsFrame(2, ['plus/+']), '01');
    await expectReply(ctl, topicsFrame(2, ['plus/#']), 'FE');
    await expectReply(ctl, topicsFrame(2, ['#']), 'FE');
    await expectReply(ctl, topicsFrame(2, ['allowed']), 'FE');
    await expectReply(ctl, topicsFrame(2, ['allowed/#']), '01');
    ctl.destroy();
  });

  test('20: too deep answers FF; earlier topics applied', async () => {
    const ctl = await session();
    await expectReply(ctl, topicsFrame(2, ['a/b/c/d', 'a/b/c/d/e', 'x']), 'FF');
    await expectReply(ctl, topicsFrame(3, ['a/b/c/d', 'a/b/c/d/e']), 'FF');
    ctl.destroy();
    await bystander.check();
  });

  test('21: unsubscribing something never subscribed answers 01', async () => {
    const ctl = await session();
    await expectReply(ctl, topicsFrame(3, ['never/subscribed']), '01');
    ctl.destroy();
  });

  test('22: PUBLISH LEN > max_pub_size closes before the body', async () => {
    await expectClosed('01 7F E9 03 00 00');
  });

  test('23: PUBLISH body without 00 (and LEN = 0) closes', async () => {
    await expectClosed('01 7F 03 00 00 00 61 62 63');
    await expectClosed('01 7F 00 00 00 00');
    // The body is parsed in place in the read: a 00 of the next request in the same read must
    // not end its topic (short topics are scanned inline, long ones natively).
    for (const body of [Buffer.from('abc'), Buffer.alloc(100, 0x61)]) {
      const head = hex('01 7F 00 00 00 00');
      head.writeUInt32LE(body.length, 2);
      await expectClosed(Buffer.concat([head, body, publishFrame('next/one', 'x'), hex('00')]));
    }
  });

  test('24: PUBLISH with empty topic closes', async () => {
    await expectClosed('01 7F 03 00 00 00 00 68 69');
  });

  test('25: PUBLISH topic not UTF-8 closes', async () => {
    await expectClosed('01 7F 04 00 00 00 C3 28 00 68');
  });

  test('26: PUBLISH too deep answers FF and the session continues', async () => {
    const ctl = await session();
    await expectReply(ctl, publishFrame('a/b/c/d/e', 'x'), 'FF');
    await expectReply(ctl, '00', '01');
    ctl.destroy();
  });

  test('27: PUBLISH topic with + or # anywhere closes', async () => {
    await expectClosed(publishFrame('a/+', 'x'));
    await expectClosed(publishFrame('a+b', 'x'));
    await expectClosed(publishFrame('#', 'x'));
  });

  test('28: PUBLISH denied by ACL answers FE', async () => {
    const ctl = (await login(server.port, 'limited', PASSWORD)).ctl;
    await expectReply(ctl, publishFrame('denied/x', 'x'), 'FE');
    await expectReply(ctl, publishFrame('allowed/x', 'x'), '01');
    ctl.destroy();
    const nr = (await login(server.port, 'norights', PASSWORD)).ctl;
    await expectReply(nr, publishFrame('allowed/x', 'x'), 'FE');
    await expectReply(nr, topicsFrame(2, ['allowed/x']), 'FE');
    nr.destroy();
  });

  test('29, 30: empty message delivered; "/" and "//a//b" normalised; priority passed through', async () => {
    const { ctl, token } = await login(server.port);
    const data = await attachData(server.port, token, 255);
    await expectReply(ctl, topicsFrame(2, ['+', 'a/b']), '01');
    await expectReply(ctl, publishFrame('/', '', 0x00), '01');
    await expectReply(ctl, publishFrame('//a//b', 'zz', 0xff), '01');
    const f1 = deliveredFrame('', '', 0x00);
    const f2 = deliveredFrame('a/b', 'zz', 0xff);
    assert.deepEqual(await data.read(f1.length + f2.length), Buffer.concat([f1, f2]));
    ctl.destroy();
    data.destroy();
  });

  test('each session gets a message once however many masks match; publisher gets its own', async () => {
    const { ctl, token } = await login(server.port);
    const data = await attachData(server.port, token, 255);
    await expectReply(ctl, topicsFrame(2, ['#', 'x/#', 'x/+', 'x/y', '+/y']), '01');
    await expectReply(ctl, publishFrame('x/y', 'once'), '01');
    await expectReply(ctl, '00', '01');
    const f = deliveredFrame('x/y', 'once');
    assert.deepEqual(await data.read(f.length), f);
    await data.expectSilence(100);
    ctl.destroy();
    data.destroy();
  });

  test('pipelined publishes are answered in order and delivered in order', async () => {
    const { ctl, token } = await login(server.port);
    const data = await attachData(server.port, token, 255);
    await expectReply(ctl, topicsFrame(2, ['seq']), '01');
    const frames = Array.from({ length: 500 }, (_, i) => publishFrame('seq', `m${i}`));
    ctl.send(Buffer.concat(frames));
    assert.deepEqual(await ctl.read(500), Buffer.alloc(500, 1));
    const expected = Buffer.concat(frames.map((_, i) => deliveredFrame('seq', `m${i}`)));
    assert.deepEqual(await data.read(expected.length), expected);
    ctl.destroy();
    data.destroy();
  });

  test('31: PUBLISH_REPL edge cases', async () => {
    const sub = await login(server.port);
    const subData = await attachData(server.port, sub.token, 255);
    await expectReply(sub.ctl, topicsFrame(2, ['repl/t']), '01');
    const repl = (await login(server.port, 'repl', PASSWORD)).ctl;
    await expectReply(repl, '11 05 00 00 00 6E 6F 62 6F 64', 'E0'); // "nobod": no subscribers
    // stage 1 + stage 2 (§9.10 layout): prio 05, timestamp, LEN 5 "hello"
    await expectReply(repl, Buffer.concat([hex('11 06 00 00 00'), Buffer.from('repl/t')]), '02');
    await expectReply(repl, '05 15 CD 85 3D FE 9C 97 17 05 00 00 00 68 65 6C 6C 6F', '01');
    const f = deliveredFrame('repl/t', 'hello', 0x05);
    assert.deepEqual(await subData.read(f.length), f);
    // a non-replicator gets FE
    const plain = await session();
    await expectReply(plain, Buffer.concat([hex('11 06 00 00 00'), Buffer.from('repl/t')]), 'FE');
    plain.destroy();
    // topic LEN > max_topic_length, non-UTF-8 topic, body LEN > max_pub_size: close
    await expectClosed('11 65 00 00 00', 'repl', PASSWORD);
    await expectClosed('11 02 00 00 00 C3 28', 'repl', PASSWORD);
    const r2 = (await login(server.port, 'repl', PASSWORD)).ctl;
    await expectReply(r2, Buffer.concat([hex('11 06 00 00 00'), Buffer.from('repl/t')]), '02');
    r2.send('7F 00 00 00 00 00 00 00 00 E9 03 00 00');
    await r2.expectClose();
    for (const c of [sub.ctl, subData, repl]) c.destroy();
    await bystander.check();
  });

  test('cluster extension ops 12/13: unknown ops (close) for non-replicators; checked for replicators', async () => {
    await expectClosed('12 00 00 00 00');
    await expectClosed('13 7F 00 00 00 00 00 00 00 00 02 00 00 00 61 00');
    const sub = await login(server.port);
    const subData = await attachData(server.port, sub.token, 255);
    await expectReply(sub.ctl, topicsFrame(2, ['x/r']), '01');
    const repl = (await login(server.port, 'repl', PASSWORD)).ctl;
    await expectReply(repl, Buffer.concat([hex('12 03 00 00 00'), Buffer.from('x/r')]), '02');
    await expectReply(repl, Buffer.concat([hex('12 03 00 00 00'), Buffer.from('x/q')]), 'E0');
    // prio 05, timestamp, LEN 6 "x/r" 00 "hi"
    await expectReply(repl, Buffer.concat([hex('13 05 00 00 00 00 00 00 00 00 06 00 00 00'), Buffer.from('x/r\0hi')]), '01');
    const f = deliveredFrame('x/r', 'hi', 0x05);
    assert.deepEqual(await subData.read(f.length), f);
    repl.destroy();
    // a replicated publish body without 00, and one over the length limit, close the link
    await expectClosed(Buffer.concat([hex('13 7F 00 00 00 00 00 00 00 00 03 00 00 00'), Buffer.from('abc')]), 'repl', PASSWORD);
    await expectClosed('13 7F 00 00 00 00 00 00 00 00 FF FF 00 00', 'repl', PASSWORD);
    sub.ctl.destroy();
    subData.destroy();
    await bystander.check();
  });

  test('32: BYE answers 01, then closes the control and the data socket', async () => {
    const { ctl, token } = await login(server.port);
    const data = await attachData(server.port, token, 255);
    ctl.send('FF');
    assert.deepEqual(await ctl.read(1), hex('01'));
    await ctl.expectClose();
    await data.expectClose();
    await bystander.check();
  });

  test('many requests in one write, split at every offset, give the same replies', async () => {
    const stream = Buffer.concat([
      hex('00'),
      topicsFrame(2, ['s/1', 's/2']),
      publishFrame('s/1', 'abc'),
      topicsFrame(3, ['s/2']),
      hex('00'),
    ]);
    for (let cut = 1; cut < stream.length; cut += 3) {
      const ctl = await session();
      ctl.send(stream.subarray(0, cut));
      await new Promise((r) => setTimeout(r, 2));
      ctl.send(stream.subarray(cut));
      assert.deepEqual(await ctl.read(5), hex('01 01 01 01 01'));
      ctl.destroy();
    }
  });
});
