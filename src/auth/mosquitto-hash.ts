/**
 * Password hashes written by Mosquitto's `mosquitto_passwd`, accepted in the password file when
 * `auth.mosquitto_passwords` is true, so a site moving from Mosquitto keeps its users' passwords
 * (hashes cannot be converted, and asking a million devices for new passwords is not a plan):
 *
 * - `$7$<iterations>$<salt>$<hash>`: PBKDF2-HMAC-SHA512 of the password with the salt, 64 bytes
 *   (Mosquitto 2's default, 101 iterations, 12-byte salt);
 * - `$6$<salt>$<hash>`: one SHA-512 of the password followed by the salt (Mosquitto 1.x).
 *
 * Read as Mosquitto 2 reads them, so that every line Mosquitto logs a user in with does here
 * too: the fields are what C's strtok makes of `$` (empty fields are skipped: `$$`, a missing
 * leading `$`; fields after the hash are ignored) and the iterations are C's atoi of theirs
 * (`0101` and `101abc` are 101). Salt (12 bytes) and hash (64) are standard base64 with padding,
 * as Mosquitto writes them; OpenSSL's decoder behind Mosquitto lets a few mangled tails through
 * (text after the padding), which psrtd calls damaged. The salt is used decoded. A glibc crypt
 * `$6$` hash (86 characters of crypt's own alphabet, no padding) is not Mosquitto's format and
 * is not read as one (Mosquitto refuses it too).
 */
import { createHash, pbkdf2, timingSafeEqual } from 'node:crypto';

export interface MosquittoHash {
  readonly kind: 'pbkdf2-sha512' | 'sha512';
  /** 1 for `$6$` (one SHA-512). */
  readonly iterations: number;
  readonly salt: Buffer;
  readonly digest: Buffer;
}

const SHA512_BYTES = 64;
/** Base64 with padding: groups of 4, the last may end in `=` or `==`. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
/**
 * More than Mosquitto would ever write (101), still bounded: the file is the operator's, but a
 * typo with three more digits must not make every login of that user take seconds of CPU.
 */
export const MAX_PBKDF2_ITERATIONS = 10_000_000;
/** Mosquitto writes 12-byte salts and drops an entry with any other length: so does psrtd. */
const SALT_BYTES = 12;

/** A first `$` field (strtok skips empty ones) of `7` or `6`. */
const MOSQUITTO_TYPE = /^\$*[67]\$/;
/** glibc crypt's SHA-512 (`openssl passwd -6`): `$6$` too, but not Mosquitto's format. */
const GLIBC_CRYPT_SHA512 = /^\$6\$(rounds=\d+\$)?[./0-9A-Za-z]{0,16}\$[./0-9A-Za-z]{86}$/;

/** Does `hash` look like one of Mosquitto's (to say what it is when it is not accepted)? */
export function looksLikeMosquittoHash(hash: string): boolean {
  // Mosquitto's type field first (a bcrypt line, the usual other kind, is told at once), then a
  // line that starts as Mosquitto writes it, or one its reader takes all the same.
  if (!MOSQUITTO_TYPE.test(hash) || GLIBC_CRYPT_SHA512.test(hash)) return false;
  return hash.startsWith('$7$') || hash.startsWith('$6$') || parseMosquittoHash(hash) !== undefined;
}

/** The fields of a hash as Mosquitto's strtok(…, "$") splits it: empty ones do not count. */
function fieldsOf(hash: string): string[] {
  return hash.split('$').filter((field) => field !== '');
}

/**
 * C's atoi as glibc computes it on a 64-bit system (strtol, saturating at 64 bits, then the
 * low 32 bits as an int): leading white space and a sign, then the digits up to the first
 * other character. What Mosquitto takes for the iterations of a `$7$` line.
 */
export function cAtoi(text: string): number {
  const [, sign = '', digits = ''] = /^[ \t\n\v\f\r]*([+-]?)([0-9]*)/.exec(text) ?? [];
  const LONG_MAX = 2n ** 63n - 1n;
  // More than 19 digits is past LONG_MAX whatever they are: strtol saturates.
  let value = digits.length > 19 ? LONG_MAX + 1n : BigInt(`0${digits}`);
  if (sign === '-') value = value > LONG_MAX + 1n ? -(LONG_MAX + 1n) : -value;
  else if (value > LONG_MAX) value = LONG_MAX;
  return Number(BigInt.asIntN(32, value));
}

/**
 * The cost of a hash by its fields alone (no decoding): `pbkdf2-sha512/<iterations>` or
 * `sha512/1`; undefined when its first field is not Mosquitto's `7` or `6`.
 */
export function mosquittoHashCost(hash: string): string | undefined {
  const [type, iterations] = fieldsOf(hash);
  if (type === '7') return `pbkdf2-sha512/${String(cAtoi(iterations ?? ''))}`;
  return type === '6' ? 'sha512/1' : undefined;
}

/** The parts of a Mosquitto hash, or undefined when Mosquitto would not log anyone in with it. */
export function parseMosquittoHash(hash: string): MosquittoHash | undefined {
  const fields = fieldsOf(hash);
  const [type, ...rest] = fields;
  if (type === '7') {
    const [iterations, salt, digest] = rest;
    return iterations === undefined ? undefined : checked('pbkdf2-sha512', cAtoi(iterations), salt, digest);
  }
  return type === '6' ? checked('sha512', 1, rest[0], rest[1]) : undefined;
}

function checked(kind: MosquittoHash['kind'], iterations: number, salt64: string | undefined, digest64: string | undefined): MosquittoHash | undefined {
  if (iterations < 1 || iterations > MAX_PBKDF2_ITERATIONS || salt64 === undefined || digest64 === undefined) return undefined;
  if (!BASE64.test(salt64) || !BASE64.test(digest64)) return undefined;
  const salt = Buffer.from(salt64, 'base64');
  const digest = Buffer.from(digest64, 'base64');
  if (salt.length !== SALT_BYTES || digest.length !== SHA512_BYTES) return undefined;
  return { kind, iterations, salt, digest };
}

/** What is wrong with a hash that starts like Mosquitto's but is not one (for load warnings). */
export function mosquittoHashProblem(hash: string): string | undefined {
  if (parseMosquittoHash(hash) !== undefined) return undefined;
  const [type, iterations] = fieldsOf(hash);
  if (type === '7' && iterations !== undefined) {
    const count = cAtoi(iterations);
    if (count < 1 || count > MAX_PBKDF2_ITERATIONS) return `${String(count)} iterations (1 to ${String(MAX_PBKDF2_ITERATIONS)} are accepted)`;
  }
  return type === '7'
    ? 'not $7$<iterations>$<base64 salt>$<base64 64-byte hash>'
    : 'not $6$<base64 salt>$<base64 64-byte hash>';
}

/**
 * The bytes Mosquitto hashes of a password: those before the first NUL (it hashes the received
 * password as a C string). A string counts as its UTF-8.
 */
function hashedBytes(password: string | Uint8Array): Uint8Array {
  const bytes = typeof password === 'string' ? Buffer.from(password, 'utf8') : password;
  const nul = bytes.indexOf(0);
  return nul === -1 ? bytes : bytes.subarray(0, nul);
}

/** True when Mosquitto would hash none of `password` (empty, or a NUL first). */
export function hashesNothing(password: string | Uint8Array): boolean {
  return hashedBytes(password).length === 0;
}

/**
 * Does `password` match, as Mosquitto checks it (the bytes before the first NUL)? PBKDF2 runs in
 * libuv's thread pool; the single SHA-512 of `$6$` costs about a microsecond and runs here.
 */
export function verifyMosquittoHash(password: string | Uint8Array, hash: MosquittoHash): Promise<boolean> {
  const bytes = hashedBytes(password);
  if (hash.kind === 'sha512') {
    const digest = createHash('sha512').update(bytes).update(hash.salt).digest();
    return Promise.resolve(timingSafeEqual(digest, hash.digest));
  }
  return new Promise((resolve) => {
    pbkdf2(bytes, hash.salt, hash.iterations, SHA512_BYTES, 'sha512', (err, digest) => {
      resolve(err === null && timingSafeEqual(digest, hash.digest));
    });
  });
}

/** A hash of the same kind and cost as `like`, of a random password (the verifier's dummy). */
export function dummyMosquittoHash(like: MosquittoHash, password: string): Promise<MosquittoHash> {
  const salt = Buffer.alloc(like.salt.length, 0x5a);
  if (like.kind === 'sha512') {
    return Promise.resolve({ ...like, salt, digest: createHash('sha512').update(password).update(salt).digest() });
  }
  return new Promise((resolve, reject) => {
    pbkdf2(password, salt, like.iterations, SHA512_BYTES, 'sha512', (err, digest) => {
      if (err === null) resolve({ ...like, salt, digest });
      else reject(err);
    });
  });
}
