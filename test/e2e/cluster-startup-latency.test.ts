/**
 * The first replicated message after a link comes up must not log a high-latency warning on
 * the neighbour: the link's start-up (connect, probe, a deliberately slow bcrypt login) is not
 * message latency. Messages published once the link is up keep their publish time.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hashSync } from '@node-rs/bcrypt';
import { freePort } from '../helpers/ports.js';
import { startPsrtd } from '../helpers/psrtd.js';
import { attachData, deliveredFrame, login, publishFrame, topicsFrame } from '../helpers/raw.js';

const PASSWORD = 'slow-login';
const ACL = '_:\n  sub: ["#"]\n  pub: ["#"]\nrepl:\n  replicator: true\n';
/** bcrypt cost 11: ~100+ ms per uncached check, far above latency_warn below. */
const SLOW_PASSWD = `repl:${hashSync(PASSWORD, 11)}\n`;
const LATENCY_WARN_US = 40_000;

test('link start-up is not counted as latency of the messages that waited for it', { timeout: 60_000 }, async () => {
  const portB = await freePort();
  const b = await startPsrtd({
    acl: ACL,
    passwd: SLOW_PASSWD,
    proto: { bind: [`127.0.0.1:${portB}`], timeout: 5 },
    server: { latency_warn: LATENCY_WARN_US },
  });
  const a = await startPsrtd({ acl: ACL, cluster: `- path: 127.0.0.1:${portB}\n  user: repl\n  password: ${PASSWORD}\n  timeout: 5\n` });
  try {
    const sub = await login(b.port);
    const data = await attachData(b.port, sub.token, 255);
    sub.ctl.send(topicsFrame(2, ['t']));
    assert.equal((await sub.ctl.read(1))[0], 1);
    const pub = (await login(a.port)).ctl;
    pub.send(publishFrame('t', 'first'));
    assert.equal((await pub.read(1))[0], 1);
    const first = deliveredFrame('t', 'first');
    assert.deepEqual(await data.read(first.length, 15_000), first);
    await a.waitForLog(/online/, 5000);
    // The bystander: a local publish on B is delivered as usual, and B logged no warning.
    const local = (await login(b.port)).ctl;
    local.send(publishFrame('t', 'local'));
    const second = deliveredFrame('t', 'local');
    assert.deepEqual(await data.read(second.length, 5000), second);
    assert.deepEqual(b.output.filter((l) => /high latency/i.test(l)), []);
    for (const c of [sub.ctl, data, pub, local]) c.destroy();
  } finally {
    await a.stop();
    await b.stop();
  }
});
