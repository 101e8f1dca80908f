/**
 * TLS session resumption (session tickets) against a real psrtd: a client that presents the
 * session of an earlier connection gets an abbreviated handshake, on PSRT STARTTLS control and
 * data sockets and on the MQTT TLS listener, with TLS 1.3 and with TLS 1.2-only clients.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { connect as tlsConnect, type SecureVersion, type TLSSocket } from 'node:tls';
import { makeTestPki, type TestPki } from '../helpers/certs.js';
import { connectPacket } from '../helpers/mqtt-raw.js';
import { startPsrtd, type Psrtd } from '../helpers/psrtd.js';
import { RawConn, hex, loginFrame } from '../helpers/raw.js';
import { tlsOpen } from '../helpers/tls-peer.js';

interface Opened {
  readonly conn: RawConn;
  readonly secure: TLSSocket;
  /** The first session (ticket) the server sent on this connection; rejects after 5 s. */
  readonly session: Promise<Buffer>;
}

/** Resolves with the first 'session' event of `secure` (registered before the handshake). */
function firstSession(secure: TLSSocket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error('no session ticket within 5 s')); }, 5000);
    secure.once('session', (s: Buffer) => {
      clearTimeout(timer);
      resolve(s);
    });
    secure.once('close', () => { clearTimeout(timer); });
  });
}

async function psrtOpen(port: number, ca: Buffer, kind: 'control' | 'data', maxVersion: SecureVersion, session?: Buffer): Promise<Opened> {
  const seen: { secure?: TLSSocket; session?: Promise<Buffer> } = {};
  const conn = await tlsOpen(port, {
    ca, kind, session, maxVersion,
    onSocket: (s) => {
      seen.secure = s;
      seen.session = firstSession(s);
      seen.session.catch(() => undefined); // awaited (and reported) only where a test needs it
    },
  });
  if (seen.secure === undefined || seen.session === undefined) throw new Error('tlsOpen did not report its socket');
  return { conn, secure: seen.secure, session: seen.session };
}

/** Control socket: login, greeting reply, token. */
async function psrtLogin(o: Opened): Promise<Buffer> {
  o.conn.send(loginFrame('', ''));
  assert.deepEqual(await o.conn.read(4), hex('EE AA 01 00'));
  return o.conn.read(32);
}

async function psrtAttach(o: Opened, token: Buffer): Promise<void> {
  o.conn.send(Buffer.concat([token, Buffer.from([255])]));
  assert.deepEqual(await o.conn.read(5), hex('EE AB 01 00 01'));
}

/** MQTT TLS: handshake, CONNECT, CONNACK accepted. */
async function mqttOpen(port: number, ca: Buffer, maxVersion: SecureVersion, session?: Buffer): Promise<Opened> {
  const secure = tlsConnect({ host: '127.0.0.1', port, ca, servername: 'localhost', session, maxVersion });
  const ticket = firstSession(secure);
  ticket.catch(() => undefined);
  await new Promise<void>((resolve, reject) => {
    secure.once('secureConnect', () => { secure.off('error', reject); resolve(); });
    secure.once('error', reject);
  });
  const conn = RawConn.fromSocket(secure);
  conn.send(connectPacket({ clientId: 'resume-test' }));
  assert.deepEqual(await conn.read(4), hex('20 02 00 00'));
  return { conn, secure, session: ticket };
}

let pki: TestPki;
let server: Psrtd;
before(async () => {
  pki = makeTestPki();
  server = await startPsrtd({
    proto: { tls_cert: pki.serverCert, tls_key: pki.serverKey, timeout: 10 },
    mqtt: { bind_tls: ['127.0.0.1:0'] },
  });
});
after(async () => {
  await server.stop();
  pki.remove();
});

for (const maxVersion of ['TLSv1.3', 'TLSv1.2'] as const) {
  describe(`session resumption, client up to ${maxVersion}`, () => {
    test('PSRT STARTTLS control and data sockets resume a session', async () => {
      const open: Opened[] = [];
      try {
        const ctl1 = await psrtOpen(server.port, pki.caPem, 'control', maxVersion);
        open.push(ctl1);
        const token1 = await psrtLogin(ctl1);
        assert.equal(ctl1.secure.isSessionReused(), false);
        assert.equal(ctl1.secure.getProtocol(), maxVersion);
        const ctlSession = await ctl1.session;

        const ctl2 = await psrtOpen(server.port, pki.caPem, 'control', maxVersion, ctlSession);
        open.push(ctl2);
        const token2 = await psrtLogin(ctl2);
        assert.equal(ctl2.secure.isSessionReused(), true, 'second control socket resumed');

        // a full data handshake, then a data socket resuming the data socket's session
        const data1 = await psrtOpen(server.port, pki.caPem, 'data', maxVersion);
        open.push(data1);
        await psrtAttach(data1, token1);
        assert.equal(data1.secure.isSessionReused(), false);
        const data2 = await psrtOpen(server.port, pki.caPem, 'data', maxVersion, await data1.session);
        open.push(data2);
        await psrtAttach(data2, token2);
        assert.equal(data2.secure.isSessionReused(), true, 'second data socket resumed');
      } finally {
        for (const o of open) o.conn.destroy();
      }
    });

    test('MQTT TLS listener resumes a session', async () => {
      const first = await mqttOpen(server.mqttTlsPort, pki.caPem, maxVersion);
      try {
        assert.equal(first.secure.isSessionReused(), false);
        assert.equal(first.secure.getProtocol(), maxVersion);
        const session = await first.session;
        first.conn.destroy();
        const second = await mqttOpen(server.mqttTlsPort, pki.caPem, maxVersion, session);
        try {
          assert.equal(second.secure.isSessionReused(), true, 'second MQTT connection resumed');
        } finally {
          second.conn.destroy();
        }
      } finally {
        first.conn.destroy();
      }
    });
  });
}

test('a ticket of one psrtd is not accepted by a restarted one (full handshake, still connects)', async () => {
  const first = await psrtOpen(server.port, pki.caPem, 'control', 'TLSv1.3');
  await psrtLogin(first);
  const session = await first.session;
  first.conn.destroy();
  const other = await startPsrtd({ proto: { tls_cert: pki.serverCert, tls_key: pki.serverKey, timeout: 10 } });
  try {
    const c = await psrtOpen(other.port, pki.caPem, 'control', 'TLSv1.3', session);
    try {
      await psrtLogin(c);
      assert.equal(c.secure.isSessionReused(), false);
    } finally {
      c.conn.destroy();
    }
  } finally {
    await other.stop();
  }
});
