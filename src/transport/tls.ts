/** TLS identity for STARTTLS (SERVER.md §4.5): PKCS#12 (empty password) or PEM cert + key. */
import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureContext } from 'node:tls';
import type { BrokerLogger } from '../broker/ports.js';
import { ErrorCode, PsrtError } from '../protocol/errors.js';

export interface TlsSettings {
  readonly tlsPkcs12: string | undefined;
  readonly tlsCert: string | undefined;
  readonly tlsKey: string | undefined;
  readonly fips: boolean;
}

/**
 * Returns null when TLS is not configured; throws PsrtError(Config) on any load error.
 * Session resumption needs nothing more: every context gets random ticket keys from Node at
 * creation (in memory, so a restart invalidates tickets), and a TLSSocket wrapped around an
 * accepted socket with it issues TLS 1.3 and 1.2 tickets like tls.Server does (covered by
 * test/e2e/tls-resume.test.ts). No session-ID cache: tickets keep the server stateless.
 */
export function loadTlsContext(settings: TlsSettings, log: BrokerLogger): SecureContext | null {
  if (settings.fips) {
    // Decision 5: accepted for config compatibility, but Node's bundled OpenSSL has no FIPS module.
    log.warn('proto.fips: FIPS mode is not supported by psrt-node; continuing without it');
  }
  try {
    if (settings.tlsPkcs12 !== undefined) {
      log.info(`loading TLS PKCS12 ${settings.tlsPkcs12}`);
      return createSecureContext({ pfx: readFileSync(settings.tlsPkcs12), passphrase: '' });
    }
    if (settings.tlsCert !== undefined) {
      log.info(`loading TLS cert ${settings.tlsCert}`);
      const cert = readFileSync(settings.tlsCert);
      const keyFile = settings.tlsKey ?? '';
      log.info(`loading TLS key ${keyFile}`);
      return createSecureContext({ cert, key: readFileSync(keyFile) });
    }
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    const hint = /unsupported pkcs12/i.test(msg) ? LEGACY_PKCS12_HINT : '';
    throw new PsrtError(ErrorCode.Config, `unable to load TLS identity (${tlsFiles(settings)}): ${msg}${hint}`, { cause: e });
  }
  return null;
}

/**
 * The configured files, for load errors: OpenSSL's own messages (`PEM routines::no start line`,
 * `EISDIR`) do not say which file or key they are about.
 */
function tlsFiles(settings: TlsSettings): string {
  if (settings.tlsPkcs12 !== undefined) return `proto.tls_pkcs12: ${settings.tlsPkcs12}`;
  return `proto.tls_cert: ${settings.tlsCert ?? ''}, proto.tls_key: ${settings.tlsKey ?? ''}`;
}

/**
 * OpenSSL 1.x wrote PKCS#12 with RC2/3DES, which Node's OpenSSL 3 only reads with its legacy
 * provider; the reference (system OpenSSL) may still load such files, so say how to proceed.
 */
const LEGACY_PKCS12_HINT =
  ' (the file probably uses the legacy PKCS#12 encryption of OpenSSL 1.x: convert it with' +
  ' `openssl pkcs12 -legacy -in old.p12 -nodes -passin pass: -out identity.pem` and' +
  ' `openssl pkcs12 -export -in identity.pem -out new.p12 -passout pass:`,' +
  ' or start psrtd with NODE_OPTIONS=--openssl-legacy-provider; see docs/tls-udp.md)';
