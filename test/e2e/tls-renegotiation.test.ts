/**
 * TLS 1.2 renegotiation is refused on every TLS listener (PSRT STARTTLS control and data
 * sockets, MQTT TLS), as Mosquitto refuses it. Node's renegotiation limits act only on sockets
 * of a tls.Server and psrtd wraps accepted sockets itself, so without the refusal a client could
 * make psrtd run a full handshake (~1 ms of CPU with RSA) as often as it liked on one connection.
 * The client is Debian's pyOpenSSL (python3-openssl): Node's TLS client cannot renegotiate on
 * demand. After the refusal psrtd keeps serving (a normal PSRT login still works).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { makeTestPki, type TestPki } from '../helpers/certs.js';
import { SYSTEM_PYTHON, requirePyOpenSsl, runTool } from '../helpers/mqtt-tools.js';
import { startPsrtd, type Psrtd } from '../helpers/psrtd.js';
import { hex, loginFrame } from '../helpers/raw.js';
import { tlsOpen } from '../helpers/tls-peer.js';

/**
 * argv: port, greeting (hex: sent in plain before the TLS handshake, PSRT STARTTLS; '' for MQTT
 * TLS), CA. Prints one JSON object: `renegotiated` true when a second handshake completed,
 * else the error.
 */
const RENEGOTIATE = String.raw`
import json, socket, sys
from OpenSSL import SSL
port, greeting, ca = sys.argv[1:4]
out = {}
ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
ctx.set_max_proto_version(SSL.TLS1_2_VERSION)
ctx.load_verify_locations(ca)
raw = socket.create_connection(("127.0.0.1", int(port)))
raw.sendall(bytes.fromhex(greeting))
c = SSL.Connection(ctx, raw)
c.set_connect_state()
try:
    c.do_handshake()
    out["handshake"] = True
    if greeting:
        out["reply"] = c.recv(4).hex()  # PSRT's greeting reply comes first, inside TLS
    c.renegotiate()
    c.do_handshake()
    out["renegotiated"] = True
except Exception as e:
    out["error"] = repr(e)
print(json.dumps(out))
`;

interface Outcome {
  readonly handshake?: boolean;
  readonly reply?: string;
  readonly renegotiated?: boolean;
  readonly error?: string;
}


describe('TLS renegotiation is refused on every TLS listener', () => {
  let pki: TestPki;
  let server: Psrtd;
  before(async () => {
    requirePyOpenSsl();
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

  const cases = [
    ['PSRT STARTTLS control socket', () => server.port, 'eeaa01'],
    ['PSRT STARTTLS data socket', () => server.port, 'eeab01'],
    ['MQTT TLS', () => server.mqttTlsPort, ''],
  ] as const;
  for (const [name, port, greeting] of cases) {
    it(`${name}: the first handshake completes, a renegotiation is refused`, async () => {
      const r = await runTool(SYSTEM_PYTHON, ['-c', RENEGOTIATE, String(port()), greeting, pki.caCert]);
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout) as Outcome;
      assert.equal(out.handshake, true, r.stdout);
      if (greeting !== '') assert.equal(out.reply, `${greeting}00`, r.stdout);
      assert.notEqual(out.renegotiated, true, `a second handshake completed: ${r.stdout}`);
      assert.match(out.error ?? '', /no renegotiation/, r.stdout);
    });
  }

  it('psrtd keeps serving: a PSRT STARTTLS login afterwards', async () => {
    const conn = await tlsOpen(server.port, { ca: pki.caPem, kind: 'control' });
    try {
      conn.send(loginFrame('', ''));
      assert.deepEqual(await conn.read(4), hex('EE AA 01 00'));
      assert.equal((await conn.read(32)).length, 32);
    } finally {
      conn.destroy();
    }
  });
});
