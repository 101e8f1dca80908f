/**
 * The Node.js floor of the TLS handshake benchmark (`--tls-handshakes --floor`): the least a
 * Node server does for the same handshakes, run with psrtd's node options and environment, so
 * that every run shows what Node's TLS sockets cost on this machine next to what psrtd costs.
 *
 *   PSRT STARTTLS: a net server reads the 3-byte greeting, wraps the socket in a TLSSocket (as
 *                  psrtd does) and writes `EE AA 01 00` once it is secure;
 *   MQTT TLS:      a tls.Server writes a CONNACK for the first bytes it reads.
 *
 * No greeting or CONNECT checks, no sessions, no logging, no deadlines: not a server, a floor.
 * Usage: node dist/bench/load/tls-floor.js KEY CERT; prints `tls-floor psrt=PORT mqtt=PORT`.
 */
import { readFileSync } from 'node:fs';
import { createServer as netServer, type AddressInfo, type Socket } from 'node:net';
import { createSecureContext, createServer as tlsServer, TLSSocket } from 'node:tls';

const [keyFile = '', certFile = ''] = process.argv.slice(2);
const key = readFileSync(keyFile);
const cert = readFileSync(certFile);
const context = createSecureContext({ key, cert });
const CONNACK = Buffer.from([0x20, 2, 0, 0]);
const PSRT_REPLY = Buffer.from([0xee, 0xaa, 0x01, 0x00]);
const ignore = (): void => undefined;

function startTls(raw: Socket): void {
  const greeting = raw.read(3) as Buffer | null;
  if (greeting === null) {
    raw.destroy();
    return;
  }
  const secure = new TLSSocket(raw, { isServer: true, secureContext: context });
  secure.on('secure', () => secure.write(PSRT_REPLY));
  secure.on('data', ignore);
  secure.on('error', ignore);
}

const psrt = netServer({ noDelay: true }, (raw) => {
  raw.on('error', ignore);
  raw.once('readable', () => { startTls(raw); });
});
const mqtt = tlsServer({ key, cert, noDelay: true }, (s) => {
  s.on('data', () => s.write(CONNACK));
  s.on('error', ignore);
});
mqtt.on('tlsClientError', ignore);
psrt.listen(0, '127.0.0.1', () => {
  mqtt.listen(0, '127.0.0.1', () => {
    const port = (s: typeof psrt): number => (s.address() as AddressInfo).port;
    process.stdout.write(`tls-floor psrt=${port(psrt)} mqtt=${port(mqtt)}\n`);
  });
});
process.on('SIGTERM', () => process.exit(0));
