import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseHtpasswd, PasswordVerifier } from '../../src/auth/index.js';
import { loadBcrypt } from '../../src/auth/password-verifier.js';
import { htpasswdProblems, readHtpasswdSteps } from '../../src/auth/htpasswd.js';
import { runSteps } from '../../src/auth/steps.js';
import { cAtoi, looksLikeMosquittoHash, mosquittoHashProblem, parseMosquittoHash, verifyMosquittoHash } from '../../src/auth/mosquitto-hash.js';
import { fixture } from '../config/fixtures.js';

/** Written by mosquitto_passwd 2.0.11 (see test/fixtures/config/README.md). */
const FILE = readFileSync(fixture('mosquitto-passwd'), 'utf8');
const HASHES = parseHtpasswd(FILE, true);
const PASSWORDS: Readonly<Record<string, string>> = { alice: 'correct horse', bob: 'pässwörd ✓', carol: 'old-1.x', dave: '' };
/** glibc crypt SHA-512 (`openssl passwd -6 -salt saltsalt secret`): not Mosquitto's format. */
const CRYPT_SHA512 = '$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1';
/** The Latin-1 bytes of "café" (63 61 66 e9: not UTF-8), as a device may send them. */
const LATIN1_CAFE = Buffer.from('636166e9', 'hex');
/** mosquitto_passwd 2.0.11 of LATIN1_CAFE (given as bytes on its command line): `$7$` and `-H sha512`. */
const LATIN1_PBKDF2 = '$7$101$XDMivnFfSr8jYFIy$tR54AQnQGx5MZYRTE3BqMSjmCnRQXpWQHSGiiQa8WOmi9EH058tnJIxVYZCJbxhG3gpftTL61XMmP39uurizWg==';
const LATIN1_SHA512 = '$6$9kmPSfvFXE5b6YD8$6MtC5C55pK/GlxcG12uE4GIEGMHznpL+/L1g2WhRPRk+oHTkuHGLdh5t9+++bb4DtdZeVa+H02ZqcAbDyFfYcg==';

function hashOf(user: string): string {
  const hash = HASHES.get(user);
  assert.ok(hash !== undefined, user);
  return hash;
}

describe('Mosquitto password hashes', () => {
  it('verifies mosquitto_passwd output ($7$ PBKDF2-SHA512 and $6$ SHA-512)', async () => {
    for (const [user, password] of Object.entries(PASSWORDS)) {
      const parsed = parseMosquittoHash(hashOf(user));
      assert.ok(parsed !== undefined, user);
      assert.equal(parsed.kind, user === 'carol' ? 'sha512' : 'pbkdf2-sha512');
      assert.equal(await verifyMosquittoHash(password, parsed), true, user);
      assert.equal(await verifyMosquittoHash(`${password}x`, parsed), false, user);
      assert.equal(await verifyMosquittoHash(` ${password}`, parsed), false, user);
    }
  });

  it('never takes an empty password, as Mosquitto (dave\'s hash is of the empty string)', async () => {
    const v = new PasswordVerifier({ mosquittoHashes: true });
    assert.equal(await v.verify('dave', '', hashOf('dave')), false);
    assert.equal(await v.verify('alice', 'correct horse', hashOf('alice')), true);
  });

  it('verifies hashes mosquitto_passwd writes now, and only with their password', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'psrt-mosq-passwd-'));
    try {
      const file = join(dir, 'passwd');
      execFileSync('mosquitto_passwd', ['-c', '-b', file, 'eve', 'fresh:pass with spaces'], { timeout: 10_000 });
      execFileSync('mosquitto_passwd', ['-H', 'sha512', '-b', file, 'frank', 'f'], { timeout: 10_000 });
      const hashes = parseHtpasswd(readFileSync(file, 'utf8'), true);
      const v = new PasswordVerifier({ mosquittoHashes: true });
      assert.equal(await v.verify('eve', 'fresh:pass with spaces', hashes.get('eve')), true);
      assert.equal(await v.verify('eve', 'fresh:pass with space', hashes.get('eve')), false);
      assert.equal(await v.verify('frank', 'f', hashes.get('frank')), true);
      assert.equal(await v.verify('frank', 'g', hashes.get('frank')), false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads exactly the format: damaged hashes, glibc crypt and bcrypt are not Mosquitto hashes', () => {
    const alice = hashOf('alice');
    const bad = [
      alice.replace('$101$', '$0$'),
      alice.replace('$101$', '$99999999$'),
      alice.replace('$7$', '$8$'),
      alice.slice(0, -4), // 60 bytes
      alice.replace('==', ''), // no padding
      alice.replace('+', '-'), // base64url
      alice.replace(/\$icORqzHG4qG5QcJv\$/, '$$'), // no salt
      alice.replace(/\$icORqzHG4qG5QcJv\$/, '$icORqzHG4qG5QcJvAAAA$'), // a 15-byte salt: Mosquitto drops it too
      hashOf('carol').replace('$6$', '$6$rounds=5000$'),
      CRYPT_SHA512,
      '$2y$05$' + 'a'.repeat(53),
    ];
    for (const hash of bad) assert.equal(parseMosquittoHash(hash), undefined, hash);
    assert.equal(looksLikeMosquittoHash(CRYPT_SHA512), false);
    assert.equal(looksLikeMosquittoHash(alice.slice(0, -4)), true);
  });

  it('PasswordVerifier accepts them only with mosquittoHashes, and remembers a success', async () => {
    const off = new PasswordVerifier();
    assert.equal(off.checkOf(hashOf('alice')), undefined);
    assert.equal(await off.verify('alice', PASSWORDS.alice ?? '', hashOf('alice')), false);
    const on = new PasswordVerifier({ mosquittoHashes: true });
    assert.equal(on.isRemembered('alice', 'correct horse', hashOf('alice')), false);
    assert.equal(await on.verify('alice', 'correct horse', hashOf('alice')), true);
    assert.equal(on.isRemembered('alice', 'correct horse', hashOf('alice')), true);
    assert.equal(on.isRemembered('alice', 'correct horsE', hashOf('alice')), false);
    assert.equal(await on.verify('carol', 'old-1.x', hashOf('carol')), true);
    assert.equal(await on.verify('carol', 'old-1.x\0', hashOf('carol')), false);
    assert.equal(await on.verify('nobody', 'x', CRYPT_SHA512), false);
  });

  it('makes the dummy of unknown users like the file: a Mosquitto file does not reveal who exists', async () => {
    const on = new PasswordVerifier({ mosquittoHashes: true });
    await on.prepareDummies([hashOf('alice')], 12); // 12: a bcrypt dummy would take ~0.2 s a check
    const started = on.computations;
    assert.equal(await on.verify('ghost', 'correct horse', undefined), false);
    assert.equal(on.computations, started + 1); // a PBKDF2 of 101 iterations, not a bcrypt
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < 20; i++) await on.verify(`ghost${String(i)}`, 'p', undefined);
    const perDummyMs = Number(process.hrtime.bigint() - t0) / 20e6;
    assert.ok(perDummyMs < 5, `a dummy check took ${perDummyMs.toFixed(2)} ms: not PBKDF2-like`);
  });

  it('in a file that mixes kinds, gives each unknown login the dummy of one kind, fixed per login, in the file\'s proportions', async () => {
    let bcryptChecks = 0;
    const v = new PasswordVerifier({ mosquittoHashes: true, failureTtlMs: 0, bcrypt: () => Promise.resolve(++bcryptChecks < 0) });
    const bcryptHash = await (await loadBcrypt()).hash('x', 4);
    // One bcrypt user among Mosquitto ones, first: with a single dummy like the first hash, every
    // Mosquitto user (a hundred times faster than bcrypt) would tell by timing that it exists.
    await v.prepareDummies([bcryptHash, hashOf('alice'), hashOf('bob'), hashOf('dave'), '{SHA}never-matches'], 5);
    const viaBcrypt: boolean[] = [];
    for (let i = 0; i < 80; i++) {
      const before = bcryptChecks;
      assert.equal(await v.verify(`ghost${String(i)}`, 'p', undefined), false);
      viaBcrypt.push(bcryptChecks > before);
    }
    const share = viaBcrypt.filter(Boolean).length / viaBcrypt.length;
    assert.ok(share > 0.02 && share < 0.5, `bcrypt dummies: ${String(share)} of unknown logins, the file has 1 in 4`);
    for (let i = 0; i < 10; i++) {
      const before = bcryptChecks;
      await v.verify(`ghost${String(i)}`, 'q', undefined);
      assert.equal(bcryptChecks > before, viaBcrypt[i], `ghost${String(i)} answered with another kind`);
    }
  });

  it('reports Mosquitto lines in the password file by what they are', () => {
    const damaged = `x:${hashOf('alice').slice(0, -4)}\n`;
    const off = htpasswdProblems(FILE + damaged);
    assert.equal(off.length, 5);
    assert.ok(off.every((p) => !p.damaged && /mosquitto_passwd hash .*auth\.mosquitto_passwords: true/.test(p.problem)), JSON.stringify(off));
    const on = runSteps(readHtpasswdSteps(FILE + damaged + `glibc:${CRYPT_SHA512}\n`, true));
    assert.deepEqual(on.problems.map((p) => [p.line, p.damaged]), [[5, true], [6, false]]);
    assert.match(on.problems[0]?.problem ?? '', /mosquitto_passwd hash of x is damaged: not \$7\$/);
    assert.match(on.problems[1]?.problem ?? '', /not a bcrypt hash \(use htpasswd -B or mosquitto_passwd\)/);
    assert.deepEqual(on.weakLines, [3]);
  });
  it('verifies the bytes of a binary password as Mosquitto hashes them: raw, up to the first NUL', async () => {
    for (const hash of [LATIN1_PBKDF2, LATIN1_SHA512]) {
      const parsed = parseMosquittoHash(hash);
      assert.ok(parsed !== undefined, hash);
      assert.equal(await verifyMosquittoHash(LATIN1_CAFE, parsed), true, hash);
      assert.equal(await verifyMosquittoHash(Buffer.concat([LATIN1_CAFE, Buffer.from('00ff80', 'hex')]), parsed), true, hash);
      assert.equal(await verifyMosquittoHash('café', parsed), false, hash); // the UTF-8 c3 a9 is another password
      assert.equal(await verifyMosquittoHash(LATIN1_CAFE.toString('utf8'), parsed), false, hash); // what U+FFFD decoding made of it
    }
    const alice = parseMosquittoHash(hashOf('alice'));
    assert.ok(alice !== undefined);
    assert.equal(await verifyMosquittoHash(Buffer.from('correct horse'), alice), true);
    assert.equal(await verifyMosquittoHash(Buffer.from('\0correct horse'), alice), false);
  });

  it('PasswordVerifier: MQTT bytes as Mosquitto takes them; text keeps refusing a NUL, also after the bytes verified', async () => {
    const v = new PasswordVerifier({ mosquittoHashes: true });
    assert.equal(await v.verify('latin', LATIN1_CAFE, LATIN1_PBKDF2), true);
    assert.equal(await v.verify('latin', Buffer.from('café'), LATIN1_PBKDF2), false);
    assert.equal(await v.verify('latin6', LATIN1_CAFE, LATIN1_SHA512), true);
    // UTF-8 passwords verify alike as text (PSRT) and as bytes (MQTT), and share the cache.
    assert.equal(await v.verify('bob', Buffer.from('pässwörd ✓'), hashOf('bob')), true);
    const runs = v.computations;
    assert.equal(await v.verify('bob', 'pässwörd ✓', hashOf('bob')), true);
    assert.equal(v.isRemembered('bob', Buffer.from('pässwörd ✓'), hashOf('bob')), true);
    assert.equal(v.computations, runs);
    const padded = Buffer.from('correct horse\0\0\0junk');
    assert.equal(await v.verify('alice', padded, hashOf('alice')), true);
    assert.equal(v.isRemembered('alice', padded, hashOf('alice')), true);
    assert.equal(v.isRemembered('alice', padded.toString('utf8'), hashOf('alice')), false);
    assert.equal(await v.verify('alice', padded.toString('utf8'), hashOf('alice')), false);
    // A hash of "": no empty password, nor a NUL and more (Mosquitto hashes none of it and lets it in; psrtd does not).
    assert.equal(await v.verify('dave', Buffer.alloc(0), hashOf('dave')), false);
    assert.equal(await v.verify('dave', Buffer.from([0]), hashOf('dave')), false);
    assert.equal(await v.verify('dave', Buffer.from([0, 0x41]), hashOf('dave')), false);
    assert.equal(await v.verify('dave', '\0', hashOf('dave')), false);
  });

  it('computes C\'s atoi as glibc does (strtol, then the low 32 bits)', () => {
    const vectors: [string, number][] = [
      ['101', 101], ['0101', 101], ['+101', 101], [' \t101', 101], ['101abc', 101], ['-101', -101], ['', 0], ['abc', 0], ['0x65', 0],
      ['4294967397', 101], ['-4294967195', 101], ['2147483648', -2147483648], ['18446744073709551717', -1], ['-99999999999999999999', 0],
    ];
    for (const [text, value] of vectors) assert.equal(cAtoi(text), value, text);
  });

  it('reads a line as Mosquitto 2 does: strtok fields, atoi iterations (each form checked against Mosquitto)', async () => {
    const alice = hashOf('alice');
    const [, , , salt, digest] = alice.split('$') as [string, string, string, string, string];
    const carol = hashOf('carol').split('$') as [string, string, string, string];
    const accepted = [
      `$7$0101$${salt}$${digest}`, `$7$+101$${salt}$${digest}`, `$7$ 101$${salt}$${digest}`, `$7$101abc$${salt}$${digest}`,
      `$7$4294967397$${salt}$${digest}`, `$7$$101$${salt}$${digest}`, `$$7$101$${salt}$${digest}`, `7$101$${salt}$${digest}`,
      `$7$101$${salt}$$${digest}`, `${alice}$`, `${alice}$extra`,
    ];
    const v = new PasswordVerifier({ mosquittoHashes: true });
    for (const hash of accepted) {
      assert.equal(looksLikeMosquittoHash(hash), true, hash);
      assert.equal(mosquittoHashProblem(hash), undefined, hash);
      assert.equal(parseMosquittoHash(hash)?.iterations, 101, hash);
      assert.equal(await v.verify('alice', 'correct horse', hash), true, hash);
    }
    for (const hash of [`$6$$${carol[2]}$${carol[3]}`, `6$${carol[2]}$${carol[3]}`, `${hashOf('carol')}$x`]) {
      assert.equal(await v.verify('carol', 'old-1.x', hash), true, hash);
    }
    // Mosquitto drops these too ("Invalid hash iterations", "Unable to decode password").
    const refused = [`$7$0x65$${salt}$${digest}`, `$7$-101$${salt}$${digest}`, `$7$18446744073709551717$${salt}$${digest}`, `$7$101$ ${salt}$${digest}`, `$7$101$${salt}$${digest.replace(/=+$/, '')}`];
    for (const hash of refused) assert.equal(parseMosquittoHash(hash), undefined, hash);
    assert.equal(mosquittoHashProblem(`$7$0x65$${salt}$${digest}`), '0 iterations (1 to 10000000 are accepted)');
    assert.equal(mosquittoHashProblem(`$7$-101$${salt}$${digest}`), '-101 iterations (1 to 10000000 are accepted)');
  });
});
