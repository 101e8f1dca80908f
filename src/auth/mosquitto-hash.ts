/**
 * Password hashes written by Mosquitto's `mosquitto_passwd`, accepted in the password file when
 * `auth.mosquitto_passwords` is true, so a site moving from Mosquitto keeps its users' passwords
 * (hashes cannot be converted, and asking a million devices for new passwords is not a plan):
 *
 * - `$7$<iterations>$<salt>$<hash>`: PBKDF2-HMAC-SHA512 of the password with the salt, 64 bytes
 *   (Mosquitto 2's default, 101 iterations, 12-byte salt);
 * - `$6$<salt>$<hash>`: one SHA-512 of the password followed by the salt (Mosquitto 1.x).
 *
 * Salt (12 bytes) and hash (64) are standard base64 with padding, as Mosquitto writes and
 * requires them. The salt is used decoded. A glibc crypt `$6$` hash (86 characters of crypt's own alphabet, no padding) is not
 * Mosquitto's format and is not read as one.
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
const BASE64 = '(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?';
const PBKDF2_HASH = new RegExp(`^\\$7\\$([1-9][0-9]{0,8})\\$(${BASE64})\\$(${BASE64})$`);
const SHA512_HASH = new RegExp(`^\\$6\\$(${BASE64})\\$(${BASE64})$`);
/**
 * More than Mosquitto would ever write (101), still bounded: the file is the operator's, but a
 * typo with three more digits must not make every login of that user take seconds of CPU.
 */
export const MAX_PBKDF2_ITERATIONS = 10_000_000;
/** Mosquitto writes 12-byte salts and drops an entry with any other length: so does psrtd. */
const SALT_BYTES = 12;

/** Does `hash` look like one of Mosquitto's (to say what it is when it is not accepted)? */
export function looksLikeMosquittoHash(hash: string): boolean {
  return (hash.startsWith('$7$') || hash.startsWith('$6$')) && !/^\$6\$(rounds=\d+\$)?[./0-9A-Za-z]{0,16}\$[./0-9A-Za-z]{86}$/.test(hash);
}

/** The parts of a Mosquitto hash, or undefined when `hash` is not exactly one. */
export function parseMosquittoHash(hash: string): MosquittoHash | undefined {
  const pbkdf2Parts = PBKDF2_HASH.exec(hash);
  if (pbkdf2Parts !== null) {
    const [, iterations, salt, digest] = pbkdf2Parts as unknown as [string, string, string, string];
    return checked('pbkdf2-sha512', Number(iterations), salt, digest);
  }
  const shaParts = SHA512_HASH.exec(hash);
  if (shaParts !== null) {
    const [, salt, digest] = shaParts as unknown as [string, string, string];
    return checked('sha512', 1, salt, digest);
  }
  return undefined;
}

function checked(kind: MosquittoHash['kind'], iterations: number, salt64: string, digest64: string): MosquittoHash | undefined {
  if (iterations > MAX_PBKDF2_ITERATIONS) return undefined;
  const salt = Buffer.from(salt64, 'base64');
  const digest = Buffer.from(digest64, 'base64');
  if (salt.length !== SALT_BYTES || digest.length !== SHA512_BYTES) return undefined;
  return { kind, iterations, salt, digest };
}

/** What is wrong with a hash that starts like Mosquitto's but is not one (for load warnings). */
export function mosquittoHashProblem(hash: string): string | undefined {
  if (parseMosquittoHash(hash) !== undefined) return undefined;
  const iterations = /^\$7\$(\d+)\$/.exec(hash)?.[1];
  if (iterations !== undefined && (Number(iterations) < 1 || Number(iterations) > MAX_PBKDF2_ITERATIONS)) {
    return `${iterations} iterations (1 to ${MAX_PBKDF2_ITERATIONS} are accepted)`;
  }
  return hash.startsWith('$7$')
    ? 'not $7$<iterations>$<base64 salt>$<base64 64-byte hash>'
    : 'not $6$<base64 salt>$<base64 64-byte hash>';
}

/**
 * Does `password` (UTF-8, as Mosquitto hashes the bytes it received) match? PBKDF2 runs in
 * libuv's thread pool; the single SHA-512 of `$6$` costs about a microsecond and runs here.
 */
export function verifyMosquittoHash(password: string, hash: MosquittoHash): Promise<boolean> {
  if (hash.kind === 'sha512') {
    const digest = createHash('sha512').update(password, 'utf8').update(hash.salt).digest();
    return Promise.resolve(timingSafeEqual(digest, hash.digest));
  }
  return new Promise((resolve) => {
    pbkdf2(Buffer.from(password, 'utf8'), hash.salt, hash.iterations, SHA512_BYTES, 'sha512', (err, digest) => {
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
