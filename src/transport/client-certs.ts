/**
 * Client certificates (mutual TLS) on the MQTT TLS listeners: reading the CA and CRL files of
 * `mqtt.tls_client_ca` / `mqtt.tls_crl`, checking a client's certificate after the handshake,
 * and the user a certificate names (`mqtt.use_identity_as_username`).
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { DetailedPeerCertificate, TLSSocket } from 'node:tls';
import type { CertificateUser } from '../mqtt/context.js';

/** The client-certificate part of a TLS identity's settings (paths resolved). */
export interface ClientCertSettings {
  /** PEM file with the CA certificate(s) that sign client certificates. */
  readonly clientCa: string;
  /** PEM files with CRLs (any number of `X509 CRL` blocks each). */
  readonly crls: readonly string[];
}

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
const CRL_BLOCK = /-----BEGIN X509 CRL-----[\s\S]+?-----END X509 CRL-----/g;

/**
 * The CA certificates of `file`, each parsed: OpenSSL silently ignores what is not a
 * certificate in `ca`, which would leave every client refused with nothing in the log to say why.
 */
export function readClientCa(file: string): Buffer[] {
  const blocks = readFileSync(file, 'latin1').match(CERT_BLOCK) ?? [];
  if (blocks.length === 0) throw new Error(`mqtt.tls_client_ca: ${file}: no PEM certificate (-----BEGIN CERTIFICATE-----) in the file`);
  return blocks.map((pem, i) => {
    try {
      return Buffer.from(new X509Certificate(pem).toString(), 'latin1');
    } catch (e) {
      throw new Error(`mqtt.tls_client_ca: ${file}: certificate ${i + 1} is not valid: ${e instanceof Error ? e.message : String(e)}`);
    }
  });
}

/**
 * Every CRL of every file, one buffer each: Node's `crl` option reads only the first CRL of a
 * buffer, and a chain through an intermediate CA needs one CRL per CA.
 */
export function readCrls(files: readonly string[]): Buffer[] {
  return files.flatMap((file) => {
    const blocks = readFileSync(file, 'latin1').match(CRL_BLOCK) ?? [];
    if (blocks.length === 0) throw new Error(`mqtt.tls_crl: ${file}: no PEM CRL (-----BEGIN X509 CRL-----) in the file`);
    return blocks.map((pem) => Buffer.from(pem, 'latin1'));
  });
}

/** The verification hook of Node's TLS handle (what tls.Server checks after the handshake). */
interface VerifyingHandle {
  verifyError(): (Error & { code?: string }) | null;
}

/**
 * Why the client's certificate is refused, or null when it verified against the configured CA
 * (and CRL). Node's OpenSSL callback lets every handshake with a certificate finish and leaves
 * the verdict on the handle: tls.Server reads it in its 'secure' handler, a server-side
 * TLSSocket made by hand (as here, to hand each socket the current SecureContext) must read it
 * itself. Refuses when the hook is missing (fail closed: a Node without it cannot verify).
 * `clientCas`: fingerprints of the `tls_client_ca` certificates, to name the real fault when the
 * chain does not reach one of them (see untrustedIssuer).
 */
export function clientCertificateRefusal(socket: TLSSocket, clientCas: ReadonlySet<string>): string | null {
  const handle = (socket as unknown as { ssl?: Partial<VerifyingHandle> | null }).ssl;
  if (typeof handle?.verifyError !== 'function') return 'client certificate cannot be verified (no verification result from Node)';
  const error = handle.verifyError();
  if (error === null) return null;
  const openssl = `${error.message}${error.code === undefined ? '' : ` (${error.code})`}`;
  const issuer = untrustedIssuer(socket, clientCas);
  if (issuer === null) return `client certificate refused: ${openssl}`;
  return `client certificate refused: not issued by a CA in mqtt.tls_client_ca (issuer ${issuer}; OpenSSL: ${openssl})`;
}

/**
 * The issuer of the last certificate of the client's chain when no certificate of that chain is
 * one of `clientCas`, else null. OpenSSL reports the last error it met, and for a client that
 * sends its own root (mosquitto_pub sends what its --cafile holds) that is `unable to get
 * certificate CRL` with `tls_crl` or `self signed certificate in certificate chain` without:
 * both send the operator after the wrong file. Node completes the chain with the trusted CA when
 * it links to one, so a chain without one does not reach `tls_client_ca`.
 */
function untrustedIssuer(socket: TLSSocket, clientCas: ReadonlySet<string>): string | null {
  // Partial: an empty object without a certificate, no issuerCertificate past the chain's end.
  let cert: Partial<DetailedPeerCertificate> | undefined = socket.getPeerCertificate(true);
  let last = '';
  for (let depth = 0; cert?.fingerprint256 !== undefined && depth < MAX_CHAIN; depth++) {
    if (clientCas.has(cert.fingerprint256)) return null;
    last = subjectText(cert.issuer);
    if (cert.issuerCertificate === cert) break; // Node links a self-signed certificate to itself
    cert = cert.issuerCertificate;
  }
  return last === '' ? null : last;
}

/** A chain longer than this is not walked further (OpenSSL's default depth limit is 100). */
const MAX_CHAIN = 100;

/** `CN=test-ca, O=acme` from Node's subject object (escaped where it is logged). */
function subjectText(subject: unknown): string {
  if (typeof subject !== 'object' || subject === null) return '(no subject)';
  return Object.entries(subject).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : String(v)}`).join(', ');
}

/**
 * The user a verified certificate names: its subject's first CN, as Mosquitto takes it. An
 * empty or absent CN gives `{ user: null }` with the reason (the CONNECT is refused).
 */
export function certificateUser(socket: TLSSocket): CertificateUser {
  const subject: unknown = socket.getPeerCertificate().subject;
  const cn: unknown = typeof subject === 'object' && subject !== null ? (subject as Record<string, unknown>).CN : undefined;
  const first: unknown = Array.isArray(cn) ? cn[0] : cn;
  if (typeof first !== 'string' || first === '') return { user: null, why: 'the client certificate has no subject CN (mqtt.use_identity_as_username)' };
  return { user: first };
}
