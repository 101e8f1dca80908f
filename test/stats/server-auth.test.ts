/** SERVER.md §13.1–13.2: method, Authorization header, admin rule, routing — every branch. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createMemoryLogger } from '../../src/log/index.js';
import { StatsServer, type StatsAssets } from '../../src/stats/index.js';
import { FakeAuth, FakeBroker, basic, get, rawRequest } from './helpers.js';

const ASSETS: StatsAssets = {
  files: new Map([
    ['/', { body: Buffer.from('<!doctype html><title>PSRT stats</title>'), contentType: 'text/html; charset=utf-8' }],
    ['/chart.min.js', { body: Buffer.from('/* chart */'), contentType: 'application/javascript; charset=utf-8' }],
  ]),
  warnings: [],
};

async function startWith(anonymousAdmin: boolean | null): Promise<{ stats: StatsServer; port: number; auth: FakeAuth }> {
  const users = new Map<string, { password: string | null; admin: boolean }>([
    ['admin', { password: 'pw', admin: true }],
    ['user', { password: 'pw', admin: false }],
    ['colon', { password: 'a:b', admin: true }],
  ]);
  if (anonymousAdmin !== null) users.set('_', { password: null, admin: anonymousAdmin });
  const auth = new FakeAuth(users);
  const stats = await StatsServer.start(
    { broker: new FakeBroker(), auth, log: createMemoryLogger(), dataQueueSize: 16, version: '0.3.6', assets: ASSETS },
    { address: '127.0.0.1:0', host: '127.0.0.1', port: 0 },
  );
  return { stats, port: Number(/:(\d+)$/.exec(stats.address)?.[1]), auth };
}

describe('stats server: `_` is not an admin', () => {
  let stats: StatsServer;
  let port: number;
  let auth: FakeAuth;
  before(async () => ({ stats, port, auth } = await startWith(false)));
  after(() => stats.close());

  test('non-GET methods (HEAD included) → 405, empty body, before any auth', async () => {
    for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'HEAD']) {
      const r = await get(port, '/status', { method, headers: { authorization: 'garbage' } });
      assert.equal(r.status, 405, method);
      assert.equal(r.body, '');
    }
  });

  test('no credentials → 401 with the realm header and an empty body, whatever the path', async () => {
    for (const path of ['/', '/status', '/nope', '/metrics', '/topics']) {
      const r = await get(port, path);
      assert.equal(r.status, 401, path);
      assert.equal(r.headers['www-authenticate'], 'Basic realm="?"');
      assert.equal(r.body, '');
    }
  });

  test('a scheme other than Basic counts as no credentials', async () => {
    const r = await get(port, '/status', { headers: { authorization: 'Bearer abc' } });
    assert.equal(r.status, 401);
    assert.equal(r.headers['www-authenticate'], 'Basic realm="?"');
  });

  test('admin with the right password → 200; the query string is ignored', async () => {
    const r = await get(port, '/status?x=1', { headers: { authorization: basic('admin', 'pw') } });
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'application/json');
    assert.equal((JSON.parse(r.body) as { version: string }).version, '0.3.6');
  });

  test('the scheme is case-insensitive; the password may contain colons', async () => {
    const lower = `basic ${Buffer.from('admin:pw').toString('base64')}`;
    assert.equal((await get(port, '/status', { headers: { authorization: lower } })).status, 200);
    assert.equal((await get(port, '/status', { headers: { authorization: basic('colon', 'a:b') } })).status, 200);
  });

  test('wrong password, unknown user, non-admin with the right password → 401', async () => {
    for (const [u, p] of [['admin', 'bad'], ['ghost', 'pw'], ['user', 'pw'], ['', '']] as const) {
      const r = await get(port, '/status', { headers: { authorization: basic(u, p) } });
      assert.equal(r.status, 401, `${u}:${p}`);
      assert.equal(r.headers['www-authenticate'], 'Basic realm="?"');
    }
  });

  test('after authorisation: exact paths only, anything else → 404 with an empty body', async () => {
    const headers = { authorization: basic('admin', 'pw') };
    for (const path of ['/status/', '/Status', '/index.html', '/chart.min.js/x', '//status', '/a/../status']) {
      const r = await get(port, path, { headers });
      assert.equal(r.status, 404, path);
      assert.equal(r.body, '');
    }
    const page = await get(port, '/', { headers });
    assert.equal(page.status, 200);
    assert.equal(page.headers['content-type'], 'text/html; charset=utf-8');
    const chart = await get(port, '/chart.min.js', { headers });
    assert.equal(chart.headers['content-type'], 'application/javascript; charset=utf-8');
  });

  test('absolute-form request target routes on its path', async () => {
    const auth64 = Buffer.from('admin:pw').toString('base64');
    const r = await rawRequest(port, Buffer.from(`GET http://example.com/status?q HTTP/1.1\r\nHost: x\r\nAuthorization: Basic ${auth64}\r\nConnection: close\r\n\r\n`));
    assert.equal(r.status, 200);
  });

  test('400 branches carry the reference texts and never reach the password check', async () => {
    const before = auth.verifications;
    const cases: [string, string][] = [
      ['Basic', 'Invalid authorization header'],
      ['Basic !!!!', 'Unable to decode credentials: Invalid byte 33, offset 0.'],
      ['Basic YWRtQ', 'Unable to decode credentials: Encoded text cannot have a 6-bit remainder.'],
      ['Basic YR==', 'Unable to decode credentials: Invalid last symbol 82, offset 1.'],
      ['Basic  YWRtaW46cHc', 'Unable to decode credentials: Invalid byte 32, offset 0.'], // 2nd space is data
      ['Basic /w==', 'Unable to parse credentials string: invalid utf-8 sequence of 1 bytes from index 0'],
      ['Basic 4oI=', 'Unable to parse credentials string: incomplete utf-8 byte sequence from index 0'],
      ['Basic YWRtaW4=', 'Basic authorization error: password not specified'],
      ['Basic ', 'Invalid authorization header'], // Node strips trailing whitespace, as hyper does
    ];
    for (const [header, text] of cases) {
      const r = await get(port, '/status', { headers: { authorization: header } });
      assert.equal(r.status, 400, header);
      assert.equal(r.body, text, header);
    }
    assert.equal(auth.verifications, before);
  });

  test('a header value that is not visible ASCII → 400 "Unable to decode authorization header"', async () => {
    const req = Buffer.concat([
      Buffer.from('GET /status HTTP/1.1\r\nHost: x\r\nAuthorization: Basic '),
      Buffer.from([0xe9]),
      Buffer.from('\r\nConnection: close\r\n\r\n'),
    ]);
    const r = await rawRequest(port, req);
    assert.equal(r.status, 400);
    assert.equal(r.body, 'Unable to decode authorization header');
  });
});

describe('stats server: `_` is an admin', () => {
  let stats: StatsServer;
  let port: number;
  before(async () => ({ stats, port } = await startWith(true)));
  after(() => stats.close());

  test('no credentials → 200 (anonymous admin), and 404 for unknown paths', async () => {
    assert.equal((await get(port, '/status')).status, 200);
    assert.equal((await get(port, '/')).status, 200);
    assert.equal((await get(port, '/missing')).status, 404);
  });

  test('another scheme → treated as anonymous → 200', async () => {
    assert.equal((await get(port, '/status', { headers: { authorization: 'Bearer x' } })).status, 200);
  });

  test('wrong credentials do not fall back to anonymous → 401', async () => {
    const r = await get(port, '/status', { headers: { authorization: basic('admin', 'bad') } });
    assert.equal(r.status, 401);
    assert.equal(r.headers['www-authenticate'], 'Basic realm="?"');
  });

  test('a malformed header is still 400 and 405 still comes first', async () => {
    assert.equal((await get(port, '/status', { headers: { authorization: 'x' } })).status, 400);
    assert.equal((await get(port, '/status', { method: 'HEAD' })).status, 405);
  });
});

describe('stats server: no ACL entry for `_`', () => {
  test('no credentials → 401', async () => {
    const { stats, port } = await startWith(null);
    try {
      const r = await get(port, '/');
      assert.equal(r.status, 401);
      assert.equal(r.headers['www-authenticate'], 'Basic realm="?"');
    } finally {
      await stats.close();
    }
  });
});

describe('stats server: start-up', () => {
  test('logs the reference lines and the bound address; binding an address in use fails', async () => {
    const log = createMemoryLogger();
    const opts = { broker: new FakeBroker(), auth: new FakeAuth(new Map()), log, dataQueueSize: 1, version: '0.3.6', assets: ASSETS };
    const first = await StatsServer.start(opts, { address: '127.0.0.1:0', host: '127.0.0.1', port: 0 });
    try {
      assert.deepEqual(log.messages('info'), ['binding stats server to: 127.0.0.1:0', `listening on HTTP ${first.address}`]);
      const port = Number(/:(\d+)$/.exec(first.address)?.[1]);
      await assert.rejects(
        StatsServer.start(opts, { address: `127.0.0.1:${port}`, host: '127.0.0.1', port }),
        /unable to bind stats server to 127\.0\.0\.1:\d+: .*EADDRINUSE/,
      );
    } finally {
      await first.close();
    }
  });
});
