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

/** Returns null when TLS is not configured; throws PsrtError(Config) on any load error. */
export function loadTlsContext(settings: TlsSettings, log: BrokerLogger): SecureContext | null {
  if (settings.fips) {
    log.warn('proto.fips: FIPS 140 mode is not supported by psrt-node; continuing without it');
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
    throw new PsrtError(ErrorCode.Config, `unable to load TLS identity: ${msg}`, { cause: e });
  }
  return null;
}
