/** TLS identity for STARTTLS (SERVER.md §4.5): PKCS#12 (empty password) or PEM cert + key. */
import { X509Certificate, constants } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureContext } from 'node:tls';
import type { BrokerLogger } from '../broker/ports.js';
import { ErrorCode, PsrtError } from '../protocol/errors.js';
import { readClientCa, readCrls, type ClientCertSettings } from './client-certs.js';

export interface TlsSettings {
  readonly tlsPkcs12: string | undefined;
  readonly tlsCert: string | undefined;
  readonly tlsKey: string | undefined;
  readonly fips: boolean;
  /** MQTT listeners only: client certificates are requested and verified against these files. */
  readonly clientCerts?: ClientCertSettings | undefined;
}

/** Config section the settings come from, for log lines (`proto.tls_cert: …`). */
export type TlsSection = 'proto' | 'mqtt';

/** A SecureContext and the SHA-256 fingerprints of the client CAs it trusts (none without client certificates). */
interface BuiltContext {
  readonly secureContext: SecureContext;
  readonly clientCas: ReadonlySet<string>;
}

/**
 * The identity a TLS listener hands each new connection. SIGHUP swaps in a context built from
 * the same files (certificate rotation without a restart, as Mosquitto 2.0 does); connections
 * already up keep the context they were made with. Each context gets random ticket keys from
 * Node, so tickets issued before a reload are not resumed after it.
 */
export class TlsIdentity {
  /** The files' bytes the current context was built from (see reload). */
  private loaded: Buffer | null;

  private constructor(
    private readonly settings: TlsSettings,
    private readonly section: TlsSection,
    private readonly log: BrokerLogger,
    private current: BuiltContext,
  ) {
    this.loaded = identityBytes(settings);
  }

  /** Null when TLS is not configured; throws PsrtError(Config) on any load error. */
  static load(settings: TlsSettings, log: BrokerLogger, section: TlsSection = 'proto'): TlsIdentity | null {
    if (settings.fips) {
      // Decision 5: accepted for config compatibility, but Node's bundled OpenSSL has no FIPS module.
      log.warn('proto.fips: FIPS mode is not supported by psrt-node; continuing without it');
    }
    const context = buildContext(settings, section, log, false);
    return context === null ? null : new TlsIdentity(settings, section, log, context);
  }

  get context(): SecureContext {
    return this.current.secureContext;
  }

  /** Fingerprints (SHA-256) of the `mqtt.tls_client_ca` certificates the current context trusts. */
  get clientCas(): ReadonlySet<string> {
    return this.current.clientCas;
  }

  /** The handshake requests a client certificate and refuses one that does not verify. */
  get requiresClientCertificate(): boolean {
    return this.settings.clientCerts !== undefined;
  }

  /**
   * Re-reads the files. A file that cannot be loaded, a key that does not match the certificate
   * or an expired certificate is refused (logged) and the current identity stays in use.
   */
  reload(): boolean {
    // Unchanged files keep their context, and with it its ticket keys: a SIGHUP for an ACL or
    // password change must not turn the next reconnect storm into full handshakes.
    const bytes = identityBytes(this.settings);
    if (bytes !== null && this.loaded !== null && bytes.equals(this.loaded)) return true;
    try {
      const next = buildContext(this.settings, this.section, this.log, true);
      if (next === null) return true;
      this.current = next;
      this.loaded = bytes;
      this.log.info(`reloaded TLS identity (${tlsFiles(this.settings, this.section)})`);
      return true;
    } catch (e) {
      this.log.error(`TLS reload failed: ${e instanceof Error ? e.message : String(e)}; keeping the current identity`);
      return false;
    }
  }
}

/**
 * The identity files' contents (client CA and CRLs included), concatenated; null when one cannot
 * be read (reload reports it).
 */
function identityBytes(settings: TlsSettings): Buffer | null {
  const own = settings.tlsPkcs12 !== undefined ? [settings.tlsPkcs12] : [settings.tlsCert, settings.tlsKey];
  const client = settings.clientCerts;
  const files = client === undefined ? own : [...own, client.clientCa, ...client.crls];
  try {
    return Buffer.concat(files.map((f) => (f === undefined ? Buffer.alloc(0) : readFileSync(f))));
  } catch {
    return null;
  }
}

/**
 * Returns null when TLS is not configured; throws PsrtError(Config) on any load error.
 * Session resumption needs nothing more: every context gets random ticket keys from Node at
 * creation (in memory, so a restart invalidates tickets), and a TLSSocket wrapped around an
 * accepted socket with it issues TLS 1.3 and 1.2 tickets like tls.Server does (covered by
 * test/e2e/tls-resume.test.ts). No session-ID cache: tickets keep the server stateless.
 */
function buildContext(settings: TlsSettings, section: TlsSection, log: BrokerLogger, reload: boolean): BuiltContext | null {
  try {
    const verify = clientVerification(settings.clientCerts, log);
    const clientCas = new Set((verify.ca ?? []).map((pem) => new X509Certificate(pem).fingerprint256));
    if (settings.tlsPkcs12 !== undefined) {
      log.info(`loading TLS PKCS12 ${settings.tlsPkcs12}`);
      return { secureContext: createSecureContext({ pfx: readFileSync(settings.tlsPkcs12), passphrase: '', ...NO_RENEGOTIATION, ...verify }), clientCas };
    }
    if (settings.tlsCert !== undefined) {
      log.info(`loading TLS cert ${settings.tlsCert}`);
      const cert = readFileSync(settings.tlsCert);
      const keyFile = settings.tlsKey ?? '';
      log.info(`loading TLS key ${keyFile}`);
      const context = createSecureContext({ cert, key: readFileSync(keyFile), ...NO_RENEGOTIATION, ...verify });
      checkValidity(cert, settings.tlsCert, log, reload);
      return { secureContext: context, clientCas };
    }
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    const hint = hintFor(msg, settings);
    throw new PsrtError(ErrorCode.Config, `unable to load TLS identity (${tlsFiles(settings, section)}): ${msg}${hint}`, { cause: e });
  }
  return null;
}

/**
 * OpenSSL's reason from a TLS error message, for the log: Node's text is
 * `<thread>:error:0A00009C:SSL routines:ssl3_get_record:http request:../deps/openssl/…/ssl3_record.c:341:`,
 * whose build path and line say nothing to an operator. Other errors are kept as they are.
 */
export function tlsErrorText(message: string): string {
  const m = /:error:[0-9A-Fa-f]+:[^:]*:([^:]*):([^:]+)(?::[^:]*:\d+:)?\s*$/.exec(message.trim());
  if (m === null) return message.trim();
  const [, where = '', reason = ''] = m;
  return where === '' ? reason : `${reason} (${where})`;
}

/**
 * Every server context refuses TLS 1.2 renegotiation, as Mosquitto does. Node's own limits
 * (CLIENT_RENEG_LIMIT, disableRenegotiation()) act only on sockets of a tls.Server, and psrtd
 * wraps accepted sockets by hand (STARTTLS, MQTT TLS, wss): without this a client could make the
 * server run full handshakes as often as it liked (CPU), and with client certificates present a
 * second, unverified certificate (see clientVerification). TLS 1.3 has no renegotiation.
 */
const NO_RENEGOTIATION = { secureOptions: constants.SSL_OP_NO_RENEGOTIATION } as const;

/** Client-certificate options of a SecureContext. */
interface ClientVerification {
  ca?: Buffer[];
  crl?: Buffer[];
  sessionIdContext?: string;
  sessionTimeout?: number;
}

/**
 * Seconds a resumable session (ticket) of a verified client lasts: a resumption does not verify
 * the certificate again, so this bounds how long one that expired meanwhile can still come back
 * (OpenSSL's own default is two hours).
 */
const CLIENT_SESSION_SECONDS = 300;

/**
 * `ca` (the only CAs trusted for client certificates: Node's default roots are not), `crl` (Node
 * then checks revocation for every certificate of the chain below the root) and a session id
 * context: OpenSSL refuses to resume a session whose peer was verified without one (`session id
 * context uninitialized`, an internal-error alert), so every reconnect with a ticket would fail.
 * tls.Server sets one itself; a context made by hand must. Renegotiation is refused for every
 * context (NO_RENEGOTIATION), which matters most here: Node verifies the first handshake only,
 * so a client verified with one certificate could renegotiate with any self-signed one and, over
 * wss, where the user is read when the upgrade arrives, log in as that one's CN.
 */
function clientVerification(client: ClientCertSettings | undefined, log: BrokerLogger): ClientVerification {
  if (client === undefined) return {};
  log.info(`loading TLS client CA ${client.clientCa}`);
  const verification: ClientVerification = {
    ca: readClientCa(client.clientCa),
    sessionIdContext: 'psrtd-mqtt',
    sessionTimeout: CLIENT_SESSION_SECONDS,
  };
  if (client.crls.length === 0) return verification;
  log.info(`loading TLS CRL ${client.crls.join(', ')}`);
  return { ...verification, crl: readCrls(client.crls) };
}

/**
 * An expired leaf certificate makes every verifying client fail. At start-up it is only a
 * warning (the reference starts with it, and there is nothing else to serve); on reload it is
 * refused, since the identity in use is the better one to keep.
 */
function checkValidity(pem: Buffer, file: string, log: BrokerLogger, reload: boolean): void {
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(pem);
  } catch {
    return; // OpenSSL loaded it (it reads more PEM variants): its dates are the clients' concern
  }
  const now = Date.now();
  if (Date.parse(leaf.validTo) < now) {
    const msg = `TLS certificate ${file} expired on ${leaf.validTo}`;
    if (reload) throw new Error(msg);
    log.warn(msg);
  } else if (Date.parse(leaf.validFrom) > now) {
    log.warn(`TLS certificate ${file} is not valid before ${leaf.validFrom}`);
  }
}

/**
 * The configured files, for load errors: OpenSSL's own messages (`PEM routines::no start line`,
 * `EISDIR`) do not say which file or key they are about.
 */
function tlsFiles(settings: TlsSettings, section: TlsSection): string {
  const own = settings.tlsPkcs12 !== undefined
    ? `${section}.tls_pkcs12: ${settings.tlsPkcs12}`
    : `${section}.tls_cert: ${settings.tlsCert ?? ''}, ${section}.tls_key: ${settings.tlsKey ?? ''}`;
  const client = settings.clientCerts;
  if (client === undefined) return own;
  const crl = client.crls.length === 0 ? '' : `, mqtt.tls_crl: ${client.crls.join(', ')}`;
  return `${own}, mqtt.tls_client_ca: ${client.clientCa}${crl}`;
}

/**
 * What to change, where OpenSSL's message does not say it. psrtd (like the reference) has no
 * passphrase option, so an encrypted key reads as `bad decrypt` and a PKCS#12 file with a
 * password as `mac verify failure`.
 */
function hintFor(msg: string, settings: TlsSettings): string {
  if (/unsupported pkcs12/i.test(msg)) return LEGACY_PKCS12_HINT;
  if (settings.tlsPkcs12 !== undefined && /mac verify failure/i.test(msg)) {
    return ' (the PKCS#12 file needs an empty password: re-export it with `openssl pkcs12 -export ... -passout pass:`)';
  }
  if (settings.tlsPkcs12 === undefined && /bad decrypt|bad password|interrupted or cancelled/i.test(msg)) {
    return ' (the private key is encrypted; psrtd has no passphrase option: store it decrypted, e.g.' +
      ' `openssl pkey -in encrypted.key -out server.key`, readable by psrtd only)';
  }
  return '';
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
