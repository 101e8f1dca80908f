/** STARTTLS (CA file, system CAs only, wrong name) and Unix sockets (incl. waiting for them). */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PsrtClient } from '../../src/client/index.js';
import { FakeServer } from './fake-server.js';
import { sleep, tempDir, TLS_DIR, within } from './util.js';

describe('transports (fake server)', () => {
  let tls: FakeServer;
  before(async () => {
    tls = await FakeServer.start({
      tls: { key: readFileSync(join(TLS_DIR, 'server.key')), cert: readFileSync(join(TLS_DIR, 'server.crt')) },
    });
  });
  after(async () => {
    await tls.close();
  });

  it('STARTTLS with a CA file: both sockets encrypted, host name checked', async () => {
    const port = tls.address.split(':')[1]!;
    const client = await PsrtClient.connect({
      path: `localhost:${port}`,
      tls: { caFile: join(TLS_DIR, 'ca.crt') },
    });
    await client.subscribe('x');
    const it = client.messages();
    await client.publish('x', 'secret');
    assert.equal((await within(2000, it.next())).value?.payload.toString(), 'secret');
    await client.bye();
  });

  it('STARTTLS to an IP address checks the IP SAN', async () => {
    const client = await PsrtClient.connect({
      path: tls.address,
      tls: { ca: readFileSync(join(TLS_DIR, 'ca.crt')), systemCa: false },
    });
    await client.bye();
  });

  it('rejects an untrusted certificate (system CAs only)', async () => {
    await assert.rejects(PsrtClient.connect({ path: tls.address, tls: true, timeout: 2 }), (e: Error) => {
      assert.match(e.message, /TLS handshake failed/);
      return true;
    });
  });

  it('rejects a certificate for another name', async () => {
    await assert.rejects(
      PsrtClient.connect({
        path: tls.address,
        tls: { caFile: join(TLS_DIR, 'ca.crt'), servername: 'example.org' },
        timeout: 2,
      }),
      /TLS handshake failed/,
    );
  });

  it('TLS client to a server without TLS gets a hint', async () => {
    const strict = await FakeServer.start();
    try {
      // The fake server refuses mode 01 when it has no TLS identity.
      await assert.rejects(
        PsrtClient.connect({ path: strict.address, tls: true, timeout: 2 }),
        /closed the connection during the TLS handshake \(is TLS enabled there\?\)/,
      );
    } finally {
      await strict.close();
    }
  });

  it('TLS client: a server that closed before the ClientHello still gets the hint, not a timeout', async () => {
    // A plain-only server closes as soon as it has read the TLS greeting. Whether its FIN
    // arrives before or after our ClientHello is a race; force "before" by closing at once.
    const quick = createServer((s) => {
      s.on('error', () => undefined);
      s.end();
    });
    await new Promise<void>((resolve) => quick.listen(0, '127.0.0.1', resolve));
    const addr = quick.address();
    const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
    try {
      for (const opt of [{ caFile: join(TLS_DIR, 'ca.crt') }, true] as const) {
        const started = performance.now();
        await assert.rejects(
          PsrtClient.connect({ path: `127.0.0.1:${port}`, tls: opt, timeout: 3 }),
          /TLS handshake failed: the server closed the connection during the TLS handshake \(is TLS enabled there\?\)/,
        );
        assert.ok(performance.now() - started < 1500, 'not a timeout');
      }
    } finally {
      quick.close();
    }
  });

  it('unix socket path, waiting for the socket file to appear', async () => {
    const dir = tempDir();
    const path = join(dir.path, 'psrt.sock');
    let server: FakeServer | undefined;
    try {
      const connecting = PsrtClient.connect({ path, socketWaitTimeout: 3, tls: true });
      await sleep(250);
      server = await FakeServer.start({ path });
      const client = await within(4000, connecting);
      await client.subscribe('u');
      await client.bye();
      assert.equal(server.sessions.length, 1);
    } finally {
      await server?.close();
      dir.remove();
    }
  });

  it('unix socket that never appears → clear error after socketWaitTimeout', async () => {
    const dir = tempDir();
    try {
      await assert.rejects(
        PsrtClient.connect({ path: join(dir.path, 'none.sock'), socketWaitTimeout: 0.3 }),
        /did not appear within 0.3s/,
      );
    } finally {
      dir.remove();
    }
  });
});
