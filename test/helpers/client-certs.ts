/**
 * Client certificates for mutual-TLS tests, made at test time with the `openssl` CLI on top of
 * a TestPki (certs.ts): certificates signed by its CA or by the other CA, one without a CN, an
 * expired one, and CRLs from a small `openssl ca` database kept in the PKI directory.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestPki } from './certs.js';

const DAYS = '36500';

export interface ClientCert {
  readonly cert: string;
  readonly key: string;
  /** PEM text, for MQTT.js (`cert`, `key`). */
  readonly certPem: Buffer;
  readonly keyPem: Buffer;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

const CLIENT_EXT = 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n';

/** An `openssl ca` database for the PKI's CA (expired certificates, revocation, CRLs). */
function caDatabase(dir: string): void {
  mkdirSync(join(dir, 'client-db'), { recursive: true });
  writeFileSync(join(dir, 'client-db', 'index.txt'), '', { flag: 'a' });
  try {
    readFileSync(join(dir, 'client-db', 'serial'));
  } catch {
    writeFileSync(join(dir, 'client-db', 'serial'), '1000\n');
    writeFileSync(join(dir, 'client-db', 'crlnumber'), '01\n');
  }
  writeFileSync(
    join(dir, 'client-ca.cnf'),
    [
      '[ca]', 'default_ca=x', '[x]', 'database=client-db/index.txt', 'serial=client-db/serial',
      'crlnumber=client-db/crlnumber', 'new_certs_dir=client-db', 'default_md=sha256', 'default_crl_days=3650',
      'policy=p', 'unique_subject=no', '[p]', 'commonName=optional', 'organizationName=optional',
      '[ext]', 'basicConstraints=CA:FALSE', 'extendedKeyUsage=clientAuth', '',
    ].join('\n'),
  );
}

function keyAndCsr(dir: string, name: string, subject: string): void {
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${name}.key`], dir);
  openssl(['req', '-new', '-key', `${name}.key`, '-out', `${name}.csr`, '-subj', subject], dir);
}

function result(dir: string, name: string): ClientCert {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  return { cert, key, certPem: readFileSync(cert), keyPem: readFileSync(key) };
}

/** A client certificate for `subject` (e.g. `/CN=dev1`), signed by the PKI's CA or its other CA. */
export function makeClientCert(pki: TestPki, name: string, subject: string, issuer: 'ca' | 'other-ca' = 'ca'): ClientCert {
  const dir = pki.dir;
  keyAndCsr(dir, name, subject);
  writeFileSync(join(dir, 'client.ext'), CLIENT_EXT);
  openssl([
    'x509', '-req', '-in', `${name}.csr`, '-CA', `${issuer}.crt`, '-CAkey', `${issuer}.key`, '-CAcreateserial',
    '-out', `${name}.crt`, '-days', DAYS, '-extfile', 'client.ext',
  ], dir);
  return result(dir, name);
}

/** A client certificate of the PKI's CA that expired in 2021 (`openssl ca` can back-date). */
export function makeExpiredClientCert(pki: TestPki, name: string, subject: string): ClientCert {
  const dir = pki.dir;
  caDatabase(dir);
  keyAndCsr(dir, name, subject);
  openssl([
    'ca', '-batch', '-config', 'client-ca.cnf', '-cert', 'ca.crt', '-keyfile', 'ca.key', '-in', `${name}.csr`,
    '-out', `${name}.crt`, '-startdate', '20200101000000Z', '-enddate', '20210101000000Z', '-extensions', 'ext', '-notext',
  ], dir);
  return result(dir, name);
}

/**
 * A CRL of the PKI's CA revoking `revoked` (and every certificate revoked by earlier calls: the
 * database remembers them), written to `file` in the PKI directory; returns its path.
 */
export function makeCrl(pki: TestPki, file: string, revoked: readonly ClientCert[] = []): string {
  const dir = pki.dir;
  caDatabase(dir);
  const base = ['-batch', '-config', 'client-ca.cnf', '-cert', 'ca.crt', '-keyfile', 'ca.key'];
  for (const c of revoked) openssl(['ca', ...base, '-revoke', c.cert], dir);
  openssl(['ca', ...base, '-gencrl', '-out', file], dir);
  return join(dir, file);
}
