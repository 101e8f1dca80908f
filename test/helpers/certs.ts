/**
 * Test PKI made at test time with the `openssl` CLI (never checked-in certificates that could
 * expire): a CA, a server identity for localhost/127.0.0.1 as PEM and as PKCS#12 (empty
 * password, like SERVER.md §4.5 expects), and an unrelated second CA for "wrong CA" tests.
 * Everything is valid for 100 years.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const DAYS = '36500';

export interface TestPki {
  readonly dir: string;
  readonly caCert: string;
  readonly serverCert: string;
  /** EC key in SEC1 PEM (`BEGIN EC PRIVATE KEY`): the server must accept non-PKCS#8 keys. */
  readonly serverKey: string;
  /** server cert + key + CA chain, empty password, current OpenSSL 3 algorithms. */
  readonly serverP12: string;
  /** The same identity in the legacy PKCS#12 encryption (RC2/3DES) OpenSSL 1.x wrote. */
  readonly serverP12Legacy: string | null;
  /** A CA that did not sign the server certificate. */
  readonly otherCaCert: string;
  /** PEM text of caCert, for `tls.connect({ ca })`. */
  readonly caPem: Buffer;
  readonly otherCaPem: Buffer;
  remove(): void;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function makeCa(dir: string, name: string, cn: string): void {
  openssl([
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', DAYS, '-subj', `/CN=${cn}`,
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ], dir);
}

/** Creates the PKI in a fresh temp dir (about 100 ms). Call remove() when done. */
export function makeTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'psrt-pki-'));
  makeCa(dir, 'ca', 'psrt-node test CA');
  makeCa(dir, 'other-ca', 'psrt-node other CA');
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'server.key'], dir);
  openssl(['req', '-new', '-key', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost'], dir);
  writeFileSync(
    join(dir, 'server.ext'),
    [
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature',
      'extendedKeyUsage=serverAuth',
      '',
    ].join('\n'),
  );
  openssl([
    'x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial',
    '-out', 'server.crt', '-days', DAYS, '-extfile', 'server.ext',
  ], dir);
  const p12Args = ['pkcs12', '-export', '-in', 'server.crt', '-inkey', 'server.key', '-certfile', 'ca.crt', '-passout', 'pass:'];
  openssl([...p12Args, '-out', 'server.p12'], dir);
  let legacy: string | null = join(dir, 'server-legacy.p12');
  try {
    openssl([...p12Args, '-legacy', '-out', 'server-legacy.p12'], dir);
  } catch {
    legacy = null; // this openssl has no legacy provider
  }
  return {
    dir,
    caCert: join(dir, 'ca.crt'),
    serverCert: join(dir, 'server.crt'),
    serverKey: join(dir, 'server.key'),
    serverP12: join(dir, 'server.p12'),
    serverP12Legacy: legacy,
    otherCaCert: join(dir, 'other-ca.crt'),
    caPem: readFileSync(join(dir, 'ca.crt')),
    otherCaPem: readFileSync(join(dir, 'other-ca.crt')),
    remove: () => {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A certificate for the server key of `pki` (signed by its CA) that expired in 2021: OpenSSL 3.0's
 * `x509` cannot back-date, so `openssl ca` with explicit dates signs it. Returns its path.
 */
export function makeExpiredCert(pki: TestPki): string {
  const dir = pki.dir;
  mkdirSync(join(dir, 'ca-db'), { recursive: true });
  writeFileSync(join(dir, 'ca-db', 'index.txt'), '');
  writeFileSync(join(dir, 'ca-db', 'serial'), '01\n');
  writeFileSync(
    join(dir, 'ca.cnf'),
    [
      '[ca]', 'default_ca=x', '[x]', 'database=ca-db/index.txt', 'serial=ca-db/serial', 'new_certs_dir=ca-db',
      'default_md=sha256', 'policy=p', '[p]', 'commonName=supplied',
      '[ext]', 'subjectAltName=DNS:localhost,IP:127.0.0.1', 'basicConstraints=CA:FALSE', '',
    ].join('\n'),
  );
  openssl([
    'ca', '-batch', '-config', 'ca.cnf', '-cert', 'ca.crt', '-keyfile', 'ca.key', '-in', 'server.csr',
    '-out', 'expired.crt', '-startdate', '20200101000000Z', '-enddate', '20210101000000Z', '-extensions', 'ext', '-notext',
  ], dir);
  return join(dir, 'expired.crt');
}
