/**
 * TLS 1.2 renegotiation on the MQTT TLS listeners with client certificates: a client verified
 * with its own certificate renegotiates presenting another one (of a CA psrtd does not trust)
 * before its WebSocket upgrade. Node verifies the first handshake only and psrtd reads the wss
 * user when the upgrade arrives, so without the refusal it logged in as the second
 * certificate's CN. The client is Debian's pyOpenSSL (python3-openssl): Node's TLS client cannot
 * change its certificate between handshakes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { makeTestPki, type TestPki } from '../helpers/certs.js';
import { makeClientCert, type ClientCert } from '../helpers/client-certs.js';
import { SYSTEM_PYTHON, requirePyOpenSsl, runTool } from '../helpers/mqtt-tools.js';
import { startPsrtd, type Psrtd } from '../helpers/psrtd.js';

const ACL = [
  'dev1:', '  sub: ["dev1/#"]', '  pub: ["dev1/#"]',
  'dev2:', '  sub: ["dev2/#"]', '  pub: ["dev2/#"]', '',
].join('\n');

/**
 * argv: port, wss|mqtts, cert, key, second cert, second key, CA of the server (runTool kills it
 * after 15 s). Prints one JSON object: how far it got (renegotiated, upgrade, connack, suback as
 * hex) or the error. Without the refusal, over wss the SUBACK granted dev2/# (ends in 01).
 */
const RENEGOTIATE = String.raw`
import base64, json, os, socket, sys, time
from OpenSSL import SSL, crypto
port, mode, cert, key, cert2, key2, ca = sys.argv[1:8]
out = {}
def frame(p):
    if mode != "wss":
        return p
    m = os.urandom(4)
    return bytes([0x82, 0x80 | len(p)]) + m + bytes(b ^ m[i % 4] for i, b in enumerate(p))
def answer():
    time.sleep(0.3)
    return c.recv(65536)
ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
ctx.set_max_proto_version(SSL.TLS1_2_VERSION)
ctx.load_verify_locations(ca)
ctx.use_certificate_file(cert)
ctx.use_privatekey_file(key)
c = SSL.Connection(ctx, socket.create_connection(("127.0.0.1", int(port))))  # blocking: pyOpenSSL turns a timeout into WantReadError
c.set_connect_state()
try:
    c.do_handshake()
    c.use_certificate(crypto.load_certificate(crypto.FILETYPE_PEM, open(cert2, "rb").read()))
    c.use_privatekey(crypto.load_privatekey(crypto.FILETYPE_PEM, open(key2, "rb").read()))
    c.renegotiate()
    c.do_handshake()
    out["renegotiated"] = True
    if mode == "wss":
        c.sendall(b"GET /mqtt HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  + b"Sec-WebSocket-Key: " + base64.b64encode(os.urandom(16)) + b"\r\nSec-WebSocket-Version: 13\r\n"
                  + b"Sec-WebSocket-Protocol: mqtt\r\n\r\n")
        out["upgrade"] = answer().split(b"\r\n")[0].decode()
    c.sendall(frame(bytes([0x10, 12, 0, 4]) + b"MQTT" + bytes([4, 2, 0, 30, 0, 0])))
    out["connack"] = answer().hex()
    c.sendall(frame(bytes([0x82, 11, 0, 1, 0, 6]) + b"dev2/#" + bytes([1])))
    out["suback"] = answer().hex()
except Exception as e:
    out["error"] = repr(e)
print(json.dumps(out))
`;

interface Outcome {
  readonly renegotiated?: boolean;
  readonly upgrade?: string;
  readonly connack?: string;
  readonly suback?: string;
  readonly error?: string;
}


describe('MQTT client certificates: TLS renegotiation is refused', () => {
  let pki: TestPki;
  let server: Psrtd;
  let dev1: ClientCert;
  let forged: ClientCert;
  before(async () => {
    requirePyOpenSsl();
    pki = makeTestPki();
    dev1 = makeClientCert(pki, 'dev1', '/CN=dev1');
    forged = makeClientCert(pki, 'forged', '/CN=dev2', 'other-ca');
    server = await startPsrtd({
      acl: ACL,
      mqtt: {
        bind_tls: ['127.0.0.1:0'], wss_bind: ['127.0.0.1:0'], tls_cert: pki.serverCert, tls_key: pki.serverKey,
        tls_client_ca: pki.caCert, require_certificate: true, use_identity_as_username: true,
      },
    });
  });
  after(async () => {
    await server.stop();
    pki.remove();
  });

  for (const mode of ['wss', 'mqtts'] as const) {
    it(`${mode}: a client verified as dev1 cannot renegotiate with an untrusted certificate named dev2`, async () => {
      const port = mode === 'wss' ? server.mqttWssPort : server.mqttTlsPort;
      const r = await runTool(SYSTEM_PYTHON, ['-c', RENEGOTIATE, String(port), mode, dev1.cert, dev1.key, forged.cert, forged.key, pki.caCert]);
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout) as Outcome;
      assert.notEqual(out.renegotiated, true, `the renegotiation was refused: ${r.stdout}`);
      assert.match(out.error ?? '', /no renegotiation/, r.stdout);
      assert.ok(!server.output.some((l) => l.includes('client connected: dev2@')), 'nobody logged in as dev2');
    });
  }
});
