/**
 * bcrypt password verification (SERVER.md §5.2) that never blocks the event loop and does not
 * let login floods turn into bcrypt floods. With `mosquittoHashes`, Mosquitto's own hashes
 * (`$7$` PBKDF2-SHA512, `$6$` SHA-512: mosquitto-hash.ts) verify too, through the same caches
 * and budget.
 *
 * - bcrypt runs through @node-rs/bcrypt's async `verify` (libuv threadpool).
 * - Successful results are cached, keyed by an HMAC of (login, hash, password) under a random
 *   per-process key: the plaintext is never stored, and a changed hash (password change,
 *   SIGHUP reload) is simply a different key, so stale entries can never grant access.
 * - Concurrent identical attempts share one bcrypt computation.
 * - Failures are remembered for `failureTtlMs` (1 s): a client hammering the same wrong
 *   password costs one bcrypt per second instead of one per attempt. A different password is a
 *   different key, so this never locks out the real user.
 * - Uncached verifications run through a LoginBudget keyed by the source address, so a flood
 *   from one address cannot delay another address's login by more than about one bcrypt.
 * - A login without a (valid) hash is verified against a dummy hash, and always fails: unknown
 *   users take as long as known ones (no user enumeration by timing). A file that mixes hash
 *   kinds (bcrypt costs, Mosquitto's PBKDF2 iterations, SHA-512) gets a dummy per kind, and each
 *   unknown login is given one of them, fixed per login and drawn in the file's proportions: so
 *   the answer time of a name says no more than "a user of that kind could exist".
 */
import { createHmac, randomBytes } from 'node:crypto';
import { LOGIN_REFUSED, LoginBudget } from './login-budget.js';
import { ENTRIES_PER_STEP, runStepsCooperatively, type Steps } from './steps.js';
import { dummyMosquittoHash, hashesNothing, mosquittoHashCost, parseMosquittoHash, verifyMosquittoHash, type MosquittoHash } from './mosquitto-hash.js';

type BcryptModule = typeof import('@node-rs/bcrypt');
let bcryptModule: Promise<BcryptModule> | undefined;

/**
 * The native bcrypt module, loaded on first need: a server without password logins never maps
 * it (~4 MB of RSS). A server with a password file loads it at startup (AuthStore.load), so a
 * broken installation fails then, not at the first login.
 */
export function loadBcrypt(): Promise<BcryptModule> {
  bcryptModule ??= import('@node-rs/bcrypt');
  return bcryptModule;
}

/**
 * A password as the client sent it: text (PSRT, HTTP), or the bytes of an MQTT CONNECT (binary
 * data, any bytes). Text is verified as its UTF-8, bytes as they are, so a password that is
 * valid UTF-8 verifies alike either way. A NUL byte never matches a bcrypt hash, nor a text
 * password at all; bytes are checked against a Mosquitto hash up to their first NUL, as
 * Mosquitto checks them.
 */
export type Password = string | Uint8Array;

/** Is `password` refused without a computation against a hash of this kind (a NUL where none is allowed)? */
function nulRefused(password: Password, bcrypt: boolean): boolean {
  return typeof password === 'string' ? password.includes('\0') : bcrypt && password.includes(0);
}

function bcryptVerify(password: Password, hash: string): Promise<boolean> {
  return loadBcrypt().then((m) => m.verify(password, hash));
}

export interface PasswordVerifierOptions {
  /** Successful verifications kept (LRU). Default 10 000. */
  maxEntries?: number;
  /** How long a failed (login, hash, password) answers `false` without bcrypt. Default 1000 ms. */
  failureTtlMs?: number;
  /** Clock (tests). */
  now?: () => number;
  /** bcrypt implementation (tests count calls). Receives the already normalised hash. */
  bcrypt?: (password: Password, hash: string) => Promise<boolean>;
  /** Per-address scheduling of uncached verifications (default: a LoginBudget with its defaults). */
  budget?: LoginBudget;
  /** Also verify `mosquitto_passwd` hashes (`auth.mosquitto_passwords`); otherwise they never match. */
  mosquittoHashes?: boolean;
}

/** How a password-file hash is checked; a hash that is neither never matches. */
type HashCheck = { readonly bcrypt: string } | { readonly mosquitto: MosquittoHash };

/** A dummy hash of one kind (`of`: bcrypt cost, or Mosquitto kind and iterations), `weight` users have that kind. */
interface Dummy {
  readonly of: string;
  readonly check: HashCheck;
  readonly weight: number;
}

/** Dummies made at most: the most frequent kinds of a file (each costs one hash at a load). */
const MAX_DUMMY_KINDS = 8;

/** Source address of verifications whose caller gave none. */
export const LOCAL_SOURCE = 'local';

/** `$2a$`/`$2b$`/`$2x$`/`$2y$`, two-digit cost, 22-char salt + 31-char hash. */
const BCRYPT_HASH = /^\$2[abxy]\$\d\d\$[./A-Za-z0-9]{53}$/;

/**
 * `htpasswd -B` writes `$2y$`; the reference treats every variant alike, so `$2x$`/`$2y$` are
 * rewritten to `$2b$` (identical algorithm for hashes made by correct implementations).
 */
export function normalizeBcryptHash(hash: string): string | undefined {
  if (!BCRYPT_HASH.test(hash)) return undefined;
  const cost = Number(hash.slice(4, 6));
  if (cost < 4 || cost > 31) return undefined;
  return hash.startsWith('$2x$') || hash.startsWith('$2y$') ? `$2b$${hash.slice(4)}` : hash;
}

export class PasswordVerifier {
  private readonly maxEntries: number;
  private readonly failureTtlMs: number;
  private readonly now: () => number;
  private readonly bcrypt: (password: Password, hash: string) => Promise<boolean>;
  private readonly mosquittoHashes: boolean;
  private readonly secret = randomBytes(32);
  /** Successful keys; Map order is the LRU order (oldest first). */
  private readonly ok = new Map<string, true>();
  /** Failed keys → time until which they answer false. */
  private readonly failed = new Map<string, number>();
  private readonly inflight = new Map<string, Promise<boolean>>();
  private bcryptRuns = 0;
  readonly budget: LoginBudget;
  /** Verified (always failing) for logins without a valid hash; none until prepareDummies. */
  private dummies: readonly Dummy[] = [];
  /** The sum of the dummies' weights. */
  private dummyWeight = 0;

  constructor(opts: PasswordVerifierOptions = {}) {
    this.maxEntries = opts.maxEntries ?? 10_000;
    this.failureTtlMs = opts.failureTtlMs ?? 1000;
    this.now = opts.now ?? Date.now;
    this.bcrypt = opts.bcrypt ?? ((pw, h) => bcryptVerify(pw, h));
    this.budget = opts.budget ?? new LoginBudget();
    this.mosquittoHashes = opts.mosquittoHashes === true;
  }

  /**
   * Makes the dummies for logins without a hash: one per kind of valid hash in `hashes` (the
   * password file's), at that kind's cost (bcrypt cost, or Mosquitto kind and iterations),
   * weighted by how many users have it; bcrypt at `fallbackCost` when there is none. A dummy of a
   * kind the previous call made already is kept (a reload costs nothing when the kinds stay).
   * Reads the hashes in slices: a million users do not stop the event loop.
   */
  async prepareDummies(hashes: Iterable<string>, fallbackCost: number): Promise<void> {
    const kinds = await runStepsCooperatively(this.hashKinds(hashes));
    if (kinds.size === 0) kinds.set(`bcrypt/${String(fallbackCost)}`, { sample: undefined, count: 1 });
    // The most frequent kinds (a file rarely has more than two or three); each costs one hash to make.
    const chosen = [...kinds].sort((a, b) => b[1].count - a[1].count).slice(0, MAX_DUMMY_KINDS);
    const made: Dummy[] = [];
    for (const [of, { sample, count }] of chosen) {
      const check = this.dummies.find((d) => d.of === of)?.check ?? (await this.makeDummy(sample, fallbackCost));
      made.push({ of, check, weight: count });
    }
    this.dummies = made;
    this.dummyWeight = made.reduce((sum, d) => sum + d.weight, 0);
  }

  /** A dummy like `sample` (bcrypt at `fallbackCost` without one), of a random password. */
  private async makeDummy(sample: string | undefined, fallbackCost: number): Promise<HashCheck> {
    const check = sample === undefined ? undefined : this.checkOf(sample);
    const password = randomBytes(24).toString('base64');
    if (check !== undefined && 'mosquitto' in check) return { mosquitto: await dummyMosquittoHash(check.mosquitto, password) };
    const cost = check === undefined ? fallbackCost : Number(check.bcrypt.slice(4, 6));
    return { bcrypt: await (await loadBcrypt()).hash(password, cost) };
  }

  /** The kinds of the valid hashes: how many of each, and one of them to copy the cost of. */
  private *hashKinds(hashes: Iterable<string>): Steps<Map<string, { sample: string | undefined; count: number }>> {
    const kinds = new Map<string, { sample: string | undefined; count: number }>();
    let n = 0;
    for (const hash of hashes) {
      if (++n % (ENTRIES_PER_STEP * 10) === 0) yield;
      const of = this.kindOf(hash);
      if (of === undefined) continue;
      const kind = kinds.get(of);
      if (kind === undefined) kinds.set(of, { sample: this.checkOf(hash) === undefined ? undefined : hash, count: 1 });
      else {
        kind.count++;
        if (kind.sample === undefined && this.checkOf(hash) !== undefined) kind.sample = hash;
      }
    }
    // A kind without one valid hash never matches: its users are as good as unknown.
    for (const [of, kind] of kinds) if (kind.sample === undefined) kinds.delete(of);
    return kinds;
  }

  /** The kind of a hash, cheaply (no decoding): `bcrypt/<cost>`, `pbkdf2-sha512/<iterations>`, `sha512/1`. */
  private kindOf(hash: string): string | undefined {
    if (hash.startsWith('$2')) return normalizeBcryptHash(hash) === undefined ? undefined : `bcrypt/${String(Number(hash.slice(4, 6)))}`;
    return this.mosquittoHashes ? mosquittoHashCost(hash) : undefined;
  }

  /** How `hash` is verified; undefined when it never matches (another type, or malformed). */
  checkOf(hash: string): HashCheck | undefined {
    const bcrypt = normalizeBcryptHash(hash);
    if (bcrypt !== undefined) return { bcrypt };
    if (!this.mosquittoHashes) return undefined;
    const mosquitto = parseMosquittoHash(hash);
    return mosquitto === undefined ? undefined : { mosquitto };
  }

  /** Number of hash computations (bcrypt or Mosquitto's) started so far (diagnostics, tests). */
  get computations(): number {
    return this.bcryptRuns;
  }

  /**
   * Does `password` match `hash` (the user's password-file entry, if any)? `source` is the
   * client's address (the unit of the login budget). Never throws.
   */
  verify(login: string, password: Password, hash: string | undefined, source: string = LOCAL_SOURCE): Promise<boolean> {
    const check = hash === undefined ? undefined : this.checkOf(hash);
    if (hash === undefined || check === undefined) return this.verifyDummy(login, password, source);
    return this.verifyHash(login, password, hash, check, source);
  }

  /**
   * True when `password` is a remembered success for `login` and `hash` (no bcrypt, no waiting);
   * false when verify() would have to run or wait for bcrypt, or would fail.
   */
  isRemembered(login: string, password: Password, hash: string): boolean {
    // kindOf, not checkOf: no base64 decoding per reconnect. A success is remembered only for a
    // hash that verified, so a malformed one of a known kind never finds a key. Text with a NUL
    // is refused before it is looked up: its bytes may be those of an MQTT password that verified.
    if (this.ok.size === 0 || this.kindOf(hash) === undefined || nulRefused(password, hash.startsWith('$2'))) return false;
    return this.rememberedSuccess(this.keyOf(login, hash, password));
  }

  /** Is `key` a cached success? A hit becomes the most recently used entry. */
  private rememberedSuccess(key: string): boolean {
    if (!this.ok.has(key)) return false;
    this.ok.delete(key); // refresh the LRU position
    this.ok.set(key, true);
    return true;
  }

  /** As long as a real check, always false. */
  private verifyDummy(login: string, password: Password, source: string): Promise<boolean> {
    const dummy = this.dummyFor(login);
    if (dummy === undefined) return Promise.resolve(false);
    return this.verifyHash(login, password, `dummy/${dummy.of}`, dummy.check, source).then(() => false);
  }

  /**
   * The dummy of a login: always the same one for the same login (a name answers in one time,
   * as a real user does), drawn by a keyed hash of the login in the proportions of the file.
   */
  private dummyFor(login: string): Dummy | undefined {
    const list = this.dummies;
    if (list.length <= 1) return list[0];
    const draw = createHmac('sha256', this.secret).update('dummy\0').update(login).digest().readUIntBE(0, 6) % this.dummyWeight;
    let sum = 0;
    for (const d of list) {
      sum += d.weight;
      if (draw < sum) return d;
    }
    return list[list.length - 1];
  }

  private verifyHash(login: string, password: Password, hash: string, check: HashCheck, source: string): Promise<boolean> {
    // Before the caches: the same bytes as text and as an MQTT password are one key.
    if (nulRefused(password, 'bcrypt' in check)) return Promise.resolve(false);
    const key = this.keyOf(login, hash, password);
    if (this.rememberedSuccess(key)) return Promise.resolve(true);
    const until = this.failed.get(key);
    if (until !== undefined) {
      if (this.now() < until) return Promise.resolve(false);
      this.failed.delete(key);
    }
    const pending = this.inflight.get(key);
    if (pending !== undefined) return pending;
    const run = this.compute(key, password, check, source);
    this.inflight.set(key, run);
    return run;
  }

  /** Drops all cached results (not needed on reload: changed hashes miss anyway). */
  clear(): void {
    this.ok.clear();
    this.failed.clear();
  }

  private async compute(key: string, password: Password, check: HashCheck, source: string): Promise<boolean> {
    let result: boolean | typeof LOGIN_REFUSED = false;
    try {
      result = await this.budget.run(source, () => {
        this.bcryptRuns++;
        if ('bcrypt' in check) return this.bcrypt(password, check.bcrypt);
        // An empty password never matches (Mosquitto takes it for none), even against a
        // mosquitto_passwd hash of "": refused after the full computation, so it takes as long
        // as any other answer. Stricter than Mosquitto, which lets a password of a NUL and more
        // match that hash (it hashes none of its bytes): those are refused too.
        return verifyMosquittoHash(password, check.mosquitto).then((ok) => ok && !hashesNothing(password));
      });
    } catch {
      result = false; // malformed hash or library error: deny, never crash a login
    } finally {
      this.inflight.delete(key);
    }
    if (result === LOGIN_REFUSED) return false; // over budget: not a verdict, not cached
    if (result) remember(this.ok, key, true, this.maxEntries);
    else remember(this.failed, key, this.now() + this.failureTtlMs, this.maxEntries);
    return result;
  }

  /**
   * Length-prefixed fields so ("a", "bc") and ("ab", "c") differ; HMAC so the cache holds no
   * value an attacker could brute-force faster than bcrypt without the process secret.
   */
  private keyOf(login: string, hash: string, password: Password): string {
    return createHmac('sha256', this.secret)
      .update(`${login.length}:${login}${hash.length}:${hash}`)
      .update(password)
      .digest('base64');
  }
}

function remember<V>(map: Map<string, V>, key: string, value: V, max: number): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > max) {
    const oldest = map.keys().next();
    if (oldest.done !== true) map.delete(oldest.value);
  }
}
