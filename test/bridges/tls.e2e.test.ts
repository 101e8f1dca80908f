/**
 * NATS bridge over TLS with a client certificate, against a nats-server that verifies client
 * certificates (a CA made at test time): with the right CA and certificate the bridge comes
 * online and messages cross; with a CA that did not sign the server it never does.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connect } from '@nats-io/transport-node';
import { makeTestPki, type TestPki } from '../helpers/certs.js';
import { until } from '../helpers/engines.js';
import { freePort } from '../helpers/ports.js';
import type { Psrtd } from '../helpers/psrtd.js';
import { Collector, bridgeStatus, publishAll, startBridged } from './util.js';

function makeClientCert(pki: TestPki): { cert: string; key: string } {
  const run = (args: string[]): void => { execFileSync('openssl', args, { cwd: pki.dir, stdio: ['ignore', 'ignore', 'pipe'] }); };
  run(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'client.key']);
  run(['req', '-new', '-key', 'client.key', '-out', 'client.csr', '-subj', '/CN=psrtd-bridge']);
  writeFileSync(join(pki.dir, 'client.ext'), 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n');
  run(['x509', '-req', '-in', 'client.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'client.crt', '-days', '2', '-extfile', 'client.ext']);
  return { cert: join(pki.dir, 'client.crt'), key: join(pki.dir, 'client.key') };
}

describe('NATS bridge over TLS with a client certificate', () => {
  let pki: TestPki;
  let client: { cert: string; key: string };
  let server: ChildProcess;
  let port: number;
  const nodes: Psrtd[] = [];

  before(async () => {
    pki = makeTestPki();
    client = makeClientCert(pki);
    port = await freePort();
    server = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(port), '--tls', '--tlscert', pki.serverCert, '--tlskey', pki.serverKey,
      '--tlsverify', '--tlscacert', pki.caCert], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 300));
  });

  after(async () => {
    for (const n of nodes) await n.stop();
    if (server.pid !== undefined && server.exitCode === null) {
      const exited = new Promise((r) => server.once('exit', r));
      process.kill(server.pid, 'SIGTERM');
      await exited;
    }
    pki.remove();
  });

  test('the right CA and client certificate: online, messages cross both ways', async () => {
    const node = await startBridged('tls-node', [{
      name: 'secure', type: 'nats', servers: [`tls://127.0.0.1:${port}`], in: ['sec/in'], out: ['sec/out'],
      extra: { tls_ca: pki.caCert, tls_cert: client.cert, tls_key: client.key },
    }]);
    nodes.push(node);
    await until(async () => (await bridgeStatus(node, 'secure')).state === 'online', 20_000, 'TLS bridge online');
    const tls = { ca: readFileSync(pki.caCert, 'utf8'), cert: readFileSync(client.cert, 'utf8'), key: readFileSync(client.key, 'utf8') };
    const nc = await connect({ servers: `tls://127.0.0.1:${port}`, tls });
    const got: string[] = [];
    nc.subscribe('sec.out', { callback: (_e, m) => { got.push(m.string()); } });
    await nc.flush();
    const sub = await Collector.open(node.port, ['sec/in']);
    nc.publish('sec.in', 'inbound');
    await sub.waitFor(1);
    assert.equal(sub.messages[0]?.payload.toString(), 'inbound');
    await publishAll(node.port, 'sec/out', ['outbound']);
    await until(() => got.length === 1, 10_000, 'export over TLS');
    assert.deepEqual(got, ['outbound']);
    sub.close();
    await nc.close();
  });

  test('a CA that did not sign the server: never online, local traffic unaffected', async () => {
    const node = await startBridged('tls-bad', [{
      name: 'secure', type: 'nats', servers: [`tls://127.0.0.1:${port}`], out: ['x/#'],
      extra: { tls_ca: pki.otherCaCert, tls_cert: client.cert, tls_key: client.key },
    }]);
    nodes.push(node);
    const local = await Collector.open(node.port, ['x/#']);
    await publishAll(node.port, 'x/y', ['1', '2']);
    await local.waitFor(2, 5000);
    local.close();
    await new Promise((r) => setTimeout(r, 1500));
    const s = await bridgeStatus(node, 'secure');
    assert.notEqual(s.state, 'online');
    assert.equal(s.connects, 0);
    assert.equal(s.buffered, 2);
  });
});
