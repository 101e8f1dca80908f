/**
 * STARTTLS peers for end-to-end tests. The TLS client runs over a small Duplex shim around the
 * TCP socket so the test controls the bytes on the wire exactly: by default the 3 greeting
 * bytes and the ClientHello go out in ONE write (one segment on loopback), which is what the
 * Rust client effectively does and what the server's unshift path must survive.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { connect as tlsConnect, type SecureVersion, type TLSSocket } from 'node:tls';
import { RawConn, hex, loginFrame } from './raw.js';

export interface TlsOpenOptions {
  /** Greeting: control (`EE AA 01`, default) or data (`EE AB 01`). */
  kind?: 'control' | 'data';
  /** Trusted CA (PEM). */
  ca: Buffer;
  /** Name checked against the certificate (default `localhost`). */
  servername?: string;
  /** Send the greeting alone and the ClientHello 50 ms later (instead of one write). */
  separate?: boolean;
  /** A session (ticket) from an earlier connection's 'session' event, to resume it. */
  session?: Buffer | undefined;
  maxVersion?: SecureVersion | undefined;
  /** Called with the TLS socket before the handshake (to watch 'session', isSessionReused...). */
  onSocket?: (secure: TLSSocket) => void;
}

function tcp(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = netConnect(port, '127.0.0.1');
    s.setNoDelay(true);
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** A Duplex over `raw` whose first write is prefixed with `prefix` (unless sent separately). */
function shim(raw: Socket, prefix: Buffer, separate: boolean): Duplex {
  let first = true;
  const duplex = new Duplex({
    write(chunk: Buffer, _enc, cb) {
      const out = first && !separate ? Buffer.concat([prefix, chunk]) : chunk;
      const delay = first && separate ? 50 : 0;
      first = false;
      setTimeout(() => raw.write(out, cb), delay);
    },
    read() {
      raw.resume();
    },
    destroy(err, cb) {
      raw.destroy();
      cb(err);
    },
  });
  if (separate) raw.write(prefix);
  raw.on('data', (b: Buffer) => {
    if (!duplex.push(b)) raw.pause();
  });
  raw.on('end', () => duplex.push(null));
  raw.on('error', (e) => duplex.destroy(e));
  raw.on('close', () => duplex.destroy());
  return duplex;
}

/** Opens a STARTTLS socket; resolves after the TLS handshake (rejects with the TLS error). */
export async function tlsOpen(port: number, opts: TlsOpenOptions): Promise<RawConn> {
  const raw = await tcp(port);
  const prefix = hex(opts.kind === 'data' ? 'EE AB 01' : 'EE AA 01');
  const transport = shim(raw, prefix, opts.separate === true);
  const secure: TLSSocket = tlsConnect({
    socket: transport,
    ca: opts.ca,
    servername: opts.servername ?? 'localhost',
    session: opts.session,
    maxVersion: opts.maxVersion,
  });
  opts.onSocket?.(secure);
  await new Promise<void>((resolve, reject) => {
    const onError = (e: Error): void => {
      raw.destroy();
      reject(e);
    };
    secure.once('error', onError);
    secure.once('secureConnect', () => {
      secure.off('error', onError);
      resolve();
    });
  });
  secure.once('close', () => raw.destroy());
  return RawConn.fromSocket(secure);
}

/** Control socket over TLS: greeting reply (inside TLS), login, token. */
export async function tlsLogin(port: number, ca: Buffer, user = '', password = ''): Promise<{ ctl: RawConn; token: Buffer }> {
  const ctl = await tlsOpen(port, { ca });
  ctl.send(loginFrame(user, password));
  const greeting = await ctl.read(4);
  if (!greeting.equals(hex('EE AA 01 00'))) throw new Error(`bad greeting reply ${greeting.toString('hex')}`);
  return { ctl, token: await ctl.read(32) };
}

/** Data socket over TLS for `token`; resolves after the server's `01`. */
export async function tlsAttachData(port: number, ca: Buffer, token: Buffer, timeoutByte = 255): Promise<RawConn> {
  const data = await tlsOpen(port, { ca, kind: 'data' });
  data.send(Buffer.concat([token, Buffer.from([timeoutByte])]));
  const reply = await data.read(5);
  if (!reply.equals(hex('EE AB 01 00 01'))) throw new Error(`data handshake refused: ${reply.toString('hex')}`);
  return data;
}
