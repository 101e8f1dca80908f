/** PROTOCOL.md §10 items 33–36, data-socket life cycle, and unix sockets (§4.4). */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startPsrtd, type Psrtd } from '../helpers/psrtd.js';
import { Bystander, RawConn, attachData, deliveredFrame, hex, login, publishFrame, topicsFrame } from '../helpers/raw.js';

describe('data socket (§10 33–36)', () => {
  let server: Psrtd;
  let bystander: Bystander;
  before(async () => {
    server = await startPsrtd({ proto: { timeout: 10 }, unix: true });
    bystander = await Bystander.create(server.port);
  });
  after(async () => {
    bystander.close();
    assert.equal(await server.stop(), 0);
  });

  test('33: unknown token answers FF and closes', async () => {
    const d = await RawConn.open(server.port);
    d.send(Buffer.concat([hex('EE AB 00'), Buffer.alloc(32, 7), hex('0A')]));
    assert.deepEqual(await d.read(5), hex('EE AB 01 00 FF'));
    await d.expectClose();
    await bystander.check();
  });

  test('33b: the token of an ended session is refused', async () => {
    const { ctl, token } = await login(server.port);
    ctl.send('FF');
    await ctl.read(1);
    await ctl.expectClose();
    const d = await RawConn.open(server.port);
    d.send(Buffer.concat([hex('EE AB 00'), token, hex('0A')]));
    assert.deepEqual(await d.read(5), hex('EE AB 01 00 FF'));
    await d.expectClose();
  });

  test('34: a second data socket for the same session answers FF; the first keeps working', async () => {
    const { ctl, token } = await login(server.port);
    const first = await attachData(server.port, token, 255);
    const second = await RawConn.open(server.port);
    second.send(Buffer.concat([hex('EE AB 00'), token, hex('0A')]));
    assert.deepEqual(await second.read(5), hex('EE AB 01 00 FF'));
    await second.expectClose();
    ctl.send(Buffer.concat([topicsFrame(2, ['d/34']), publishFrame('d/34', 'still')]));
    assert.deepEqual(await ctl.read(2), hex('01 01'));
    const f = deliveredFrame('d/34', 'still');
    assert.deepEqual(await first.read(f.length), f);
    ctl.destroy();
    first.destroy();
  });

  test('a data socket closed by the client can be re-attached with the same token (§18 item 2)', async () => {
    const { ctl, token } = await login(server.port);
    const first = await attachData(server.port, token, 255);
    first.destroy();
    await new Promise((r) => setTimeout(r, 100));
    const again = await attachData(server.port, token, 255);
    ctl.send(Buffer.concat([topicsFrame(2, ['d/re']), publishFrame('d/re', 'x')]));
    assert.deepEqual(await ctl.read(2), hex('01 01'));
    const f = deliveredFrame('d/re', 'x');
    assert.deepEqual(await again.read(f.length), f);
    ctl.destroy();
    again.destroy();
  });

  test('ending the control socket closes its data socket', async () => {
    const { ctl, token } = await login(server.port);
    const data = await attachData(server.port, token, 255);
    ctl.destroy();
    await data.expectClose();
  });

  test('36: timeout byte 00 pings at a floor, not continuously', async () => {
    const { ctl, token } = await login(server.port);
    const data = await attachData(server.port, token, 0);
    await new Promise((r) => setTimeout(r, 550));
    const n = data.buffered;
    assert.ok(n >= 2 && n <= 7, `expected a few pings in 550 ms, got ${n}`);
    assert.deepEqual(await data.read(n), Buffer.alloc(n, 0));
    ctl.destroy();
    data.destroy();
  });

  test('idle data sockets get 00 pings every timeout/2; busy ones do not', async () => {
    const { ctl, token } = await login(server.port);
    const data = await attachData(server.port, token, 1); // 500 ms interval
    assert.deepEqual(await data.read(1, 1500), hex('00'));
    ctl.destroy();
    data.destroy();
  });

  test('bytes sent on the data socket after the handshake are ignored', async () => {
    const { ctl, token } = await login(server.port);
    const data = await attachData(server.port, token, 255);
    data.send('DE AD BE EF 01 02 03');
    ctl.send(Buffer.concat([topicsFrame(2, ['d/ign']), publishFrame('d/ign', 'ok')]));
    assert.deepEqual(await ctl.read(2), hex('01 01'));
    const f = deliveredFrame('d/ign', 'ok');
    assert.deepEqual(await data.read(f.length), f);
    ctl.destroy();
    data.destroy();
  });

  test('unix socket: no authentication, mode byte ignored, full rights, data socket works', async () => {
    const path = server.unixPath ?? '';
    const ctl = await RawConn.open(path);
    ctl.send('EE AA 05 09 00 00 00 6D 79 6E 61 6D 65 00 78 78'); // mode 05, login "myname", pw "xx"
    assert.deepEqual(await ctl.read(4), hex('EE AA 01 00'));
    const token = await ctl.read(32);
    const data = await RawConn.open(path);
    data.send(Buffer.concat([hex('EE AB 07'), token, hex('FF')]));
    assert.deepEqual(await data.read(5), hex('EE AB 01 00 01'));
    ctl.send(Buffer.concat([topicsFrame(2, ['#']), publishFrame('u/x', 'unix')]));
    assert.deepEqual(await ctl.read(2), hex('01 01'));
    const f = deliveredFrame('u/x', 'unix');
    assert.deepEqual(await data.read(f.length), f);
    ctl.destroy();
    data.destroy();
    await bystander.check();
  });

  test('unix and TCP clients share topics', async () => {
    const path = server.unixPath ?? '';
    const ctl = await RawConn.open(path);
    ctl.send('EE AA 00 01 00 00 00 00');
    await ctl.read(36);
    ctl.send(publishFrame('bystander/t', 'from-unix'));
    assert.deepEqual(await ctl.read(1), hex('01'));
    const f = deliveredFrame('bystander/t', 'from-unix');
    assert.deepEqual(await bystander.data.read(f.length), f);
    ctl.destroy();
  });
});

describe('timeouts (§7, §10 1, 14, 35)', () => {
  let server: Psrtd;
  before(async () => {
    server = await startPsrtd({ proto: { timeout: 0.5 } });
  });
  after(async () => {
    await server.stop();
  });

  async function closedWithin(c: RawConn, minMs: number, maxMs: number): Promise<void> {
    const t0 = performance.now();
    await c.expectClose(maxMs + 500, 100);
    const dt = performance.now() - t0;
    assert.ok(dt >= minMs && dt <= maxMs, `closed after ${dt.toFixed(0)} ms, expected ${minMs}–${maxMs}`);
  }

  test('1: fewer than 3 greeting bytes within T closes', async () => {
    const c = await RawConn.open(server.port);
    c.send('EE AA');
    await closedWithin(c, 350, 1000);
  });

  test('14: an idle control session is closed after T; its data socket too', async () => {
    const { ctl, token } = await login(server.port);
    const data = await attachData(server.port, token, 255);
    await closedWithin(ctl, 350, 1000);
    await data.expectClose();
  });

  test('14b: a request trickled byte by byte does not stretch the deadline (slowloris)', async () => {
    const { ctl } = await login(server.port);
    const frame = publishFrame('slow/topic', 'x'.repeat(40));
    let i = 0;
    const timer = setInterval(() => {
      if (i < frame.length && !ctl.closed) ctl.send(frame.subarray(i, ++i));
    }, 50);
    try {
      await closedWithin(ctl, 350, 1000);
    } finally {
      clearInterval(timer);
    }
  });

  test('14c: NOPs keep a session alive past T', async () => {
    const { ctl } = await login(server.port);
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setTimeout(r, 200));
      ctl.send('00');
      assert.deepEqual(await ctl.read(1), hex('01'));
    }
    ctl.destroy();
  });

  test('35: a data handshake shorter than 33 bytes closes after T', async () => {
    const { ctl, token } = await login(server.port);
    const d = await RawConn.open(server.port);
    d.send(Buffer.concat([hex('EE AB 00'), token.subarray(0, 10)]));
    await closedWithin(d, 350, 1000);
    ctl.destroy();
  });

  test('login frame not sent within T closes', async () => {
    const c = await RawConn.open(server.port);
    c.send('EE AA 00 05 00');
    await closedWithin(c, 350, 1000);
  });
});
