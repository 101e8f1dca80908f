/**
 * Login work is budgeted per source address, and unknown users cost as much as known ones.
 *
 * Pass criteria, against a real psrtd whose password file has cost-10 bcrypt hashes:
 * - failed logins of an unknown user take at least half as long as failed logins of a known
 *   user (median of 5 each; before: ~1 ms against one bcrypt, which told who exists);
 * - while 100 clients from 127.0.0.2 keep logging in with wrong passwords over TCP, a correct
 *   login from 127.0.0.1 over TCP, and an admin's /status request over HTTP, each complete
 *   within 1.5 s (before: several seconds, as the bcrypt queue grew). The measured times are
 *   printed (docs/security.md quotes them).
 */
import assert from 'node:assert/strict';
import { hashSync } from '@node-rs/bcrypt';
import { get } from 'node:http';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { sleep } from '../../scripts/lib/hardening/proc.js';
import { startPsrtd, type Psrtd } from '../helpers/psrtd.js';
import { hex, login, loginFrame } from '../helpers/raw.js';

const ACL = 'alice:\n  sub: ["#"]\n  pub: ["#"]\n  admin: true\n';

/** One login attempt from `localAddress`; resolves with its duration in ms (closed = failed). */
function attempt(port: number, user: string, password: string, localAddress = '127.0.0.1'): Promise<number> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const s = connect({ host: '127.0.0.1', port, localAddress });
    s.on('error', () => undefined);
    s.once('connect', () => {
      s.write(Buffer.concat([hex('EE AA 00'), loginFrame(user, password)]));
    });
    let got = 0;
    s.on('data', (d: Buffer) => {
      got += d.length;
      if (got >= 4 + 32) {
        s.destroy();
        resolve(performance.now() - t0); // greeting reply + token: logged in
      }
    });
    s.once('close', () => {
      resolve(performance.now() - t0);
    });
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

function timedStatus(port: number, auth: string): Promise<{ ms: number; status: number }> {
  const t0 = performance.now();
  return new Promise((res, rej) => {
    get({ host: '127.0.0.1', port, path: '/status', headers: { authorization: `Basic ${Buffer.from(auth).toString('base64')}` } }, (r) => {
      r.resume();
      r.on('end', () => { res({ ms: performance.now() - t0, status: r.statusCode ?? 0 }); });
    }).on('error', rej);
  });
}

describe('login budget and dummy verification', () => {
  let server: Psrtd;
  before(async () => {
    server = await startPsrtd({
      acl: ACL,
      passwd: `alice:${hashSync('right', 10)}\nbob:${hashSync('other', 10)}\n`,
      auth: { allow_anonymous: false },
      server: { bind_stats: '127.0.0.1:0' },
      proto: { timeout: 30 },
    });
  });
  after(async () => {
    assert.equal(await server.stop(), 0);
  });

  test('unknown users fail as slowly as known ones', async () => {
    const known: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 5; i++) {
      known.push(await attempt(server.port, 'alice', `wrong-${i}`));
      unknown.push(await attempt(server.port, 'mallory', `wrong-${i}`));
    }
    console.log(`# failed login, median of 5: known user ${median(known).toFixed(1)} ms, unknown user ${median(unknown).toFixed(1)} ms`);
    assert.ok(median(unknown) >= median(known) / 2, `unknown ${median(unknown).toFixed(1)} ms vs known ${median(known).toFixed(1)} ms`);
  });

  test('a wrong-password flood from one address does not hold up another address', async () => {
    const { ctl } = await login(server.port, 'alice', 'right'); // also warms the success cache path
    ctl.destroy();
    let flooding = true;
    let attempts = 0;
    const workers = Array.from({ length: 100 }, async (_, w) => {
      for (let i = 0; flooding; i++) {
        await attempt(server.port, 'bob', `flood-${w}-${i}`, '127.0.0.2');
        attempts++;
        await sleep(5);
      }
    });
    try {
      await sleep(1000);
      const tcp: number[] = [];
      for (let i = 0; i < 3; i++) tcp.push(await attempt(server.port, 'alice', `right`)); // cached after the first
      const fresh = await attempt(server.port, 'bob', 'other'); // never verified before: a real bcrypt
      const http = await timedStatus(server.statsPort ?? 0, 'bob:other-wrong-for-http');
      const httpOk = await timedStatus(server.statsPort ?? 0, 'alice:right');
      console.log(`# during the flood (${attempts} attempts so far): TCP logins ${tcp.map((t) => t.toFixed(0)).join('/')} ms, uncached TCP login ${fresh.toFixed(0)} ms, HTTP 401 ${http.ms.toFixed(0)} ms, HTTP 200 ${httpOk.ms.toFixed(0)} ms`);
      assert.ok(Math.max(...tcp, fresh) < 1500, 'TCP logins within 1.5 s');
      assert.equal(http.status, 401);
      assert.equal(httpOk.status, 200);
      assert.ok(Math.max(http.ms, httpOk.ms) < 1500, 'HTTP answers within 1.5 s');
    } finally {
      flooding = false;
      await Promise.all(workers);
    }
  });
});
