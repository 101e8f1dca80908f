/**
 * The server's authentication state: ACL, password map and UDP keys as ONE immutable snapshot,
 * replaced atomically on reload (SERVER.md §2.3 step 7, §8).
 *
 * Reload differs from the reference on purpose: every file is read and validated before
 * anything is swapped. If the ACL, the password file or the key file has a problem (unreadable,
 * bad YAML, a line that is not `login:bcrypt-hash`, a malformed key), nothing is swapped and the
 * error names the file, the line (or the user) and the problem, so a broken edit can never leave
 * a half-updated state or lock every user out. At start-up the reference's lenient rules apply
 * (bad password/key lines are skipped) but each problem is logged.
 */
import { readFile } from 'node:fs/promises';
import { parseAclText, parseAclTextCooperatively, type AclEntry } from './acl.js';
import { readHtpasswdSteps } from './htpasswd.js';
import { parseKeysText, parseKeysTextCooperatively } from './keys.js';
import { runSteps, runStepsCooperatively } from './steps.js';
import { PasswordVerifier, loadBcrypt, type Password } from './password-verifier.js';
import { UdpKeys } from './udp-keys.js';
import { fsErrorText } from './yaml-validate.js';
import { ErrorCode, PsrtError } from '../protocol/errors.js';
import { escapeForLog } from '../protocol/log-escape.js';

/** Where the ACL comes from: a file, or text embedded in the program (no config file). */
export type AclSource =
  | { readonly kind: 'file'; readonly path: string }
  | { readonly kind: 'inline'; readonly name: string; readonly text: string };

export interface AuthSources {
  readonly acl: AclSource;
  readonly passwordFile?: string | undefined;
  readonly keyFile?: string | undefined;
  readonly allowAnonymous: boolean;
  /** `auth.mosquitto_passwords`: `mosquitto_passwd` hashes in the password file verify too. */
  readonly mosquittoPasswords?: boolean | undefined;
}

/** The subset of src/log's Logger that auth needs (auth may not import src/log). */
export interface AuthLogger {
  error(msg: string): void;
  warn(msg: string): void;
  info(msg: string): void;
}

export interface AuthSnapshot {
  readonly acl: ReadonlyMap<string, AclEntry>;
  readonly passwords: ReadonlyMap<string, string>;
  readonly keys: UdpKeys;
}

export type AuthResult =
  | { readonly ok: true; readonly user: string; readonly acl: AclEntry }
  | {
      readonly ok: false;
      readonly code: 'LoginFailed' | 'NoAcl' | 'AnonymousDisabled';
      /** Safe to log as is: the login it names is escaped (escapeForLog). */
      readonly message: string;
    };

export const ANONYMOUS = '_';
/** Dummy hash cost when the password file has no valid hash (htpasswd -B's default). */
const DEFAULT_DUMMY_COST = 5;

function aclLabel(src: AclSource): string {
  return src.kind === 'file' ? src.path : src.name;
}

async function readText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    throw new PsrtError(ErrorCode.Config, `${path}: ${fsErrorText(e)}`, { cause: e });
  }
}

/**
 * Reload only: a file with nothing but whitespace, replacing one that had entries
 * (`hadEntries`), was most likely read while being rewritten (`htpasswd` and config tools
 * write in place), and would mean "no users", locking everyone out. A file meant to be emptied
 * says so with a comment line. One that was empty and still is loses nobody: the password file
 * a fresh install ships is empty, and editing acl.yml then must still reload.
 */
function refuseEmpty(text: string, path: string, hadEntries: boolean): string {
  if (!hadEntries || text.trim() !== '') return text;
  throw new PsrtError(ErrorCode.Config, `${path}: the file is empty (still being written?); to empty it on purpose, leave a # comment line`);
}

/** The default verifier of a store: the hash types `sources` accepts. */
function verifierFor(sources: AuthSources): PasswordVerifier {
  return new PasswordVerifier({ mosquittoHashes: sources.mosquittoPasswords === true });
}

/** PsrtErrors from the parsers already start with the file name. */
function problemOf(e: unknown): string {
  return e instanceof PsrtError ? e.message : String(e);
}

export class AuthStore {
  private snap: AuthSnapshot;
  private gen = 0;
  private queue: Promise<unknown> = Promise.resolve();
  /** The reload queued behind the running one, not started yet (later calls join it). */
  private waiting: Promise<boolean> | null = null;

  private constructor(
    private readonly sources: AuthSources,
    private readonly log: AuthLogger,
    snapshot: AuthSnapshot,
    readonly verifier: PasswordVerifier,
  ) {
    this.snap = snapshot;
  }

  /**
   * Startup load: ACL failure throws PsrtError(Config) naming the file (fatal); password and
   * key file failures are logged as `Unable to load config: …` and leave those maps empty.
   */
  static async load(sources: AuthSources, log: AuthLogger, verifier = verifierFor(sources)): Promise<AuthStore> {
    if (sources.passwordFile !== undefined) await loadBcrypt();
    const acl = await loadAcl(sources.acl, log);
    const empty: AuthSnapshot = { acl, passwords: new Map(), keys: UdpKeys.EMPTY };
    const snap = await loadRest(sources, log, acl, empty);
    const store = new AuthStore(sources, log, snap, verifier);
    await store.prepareDummy();
    return store;
  }

  /**
   * `psrtd --check`: reads the files with a reload's rules (a damaged password line or a bad key
   * is an error, not a skipped line) and throws a PsrtError naming the file and line at the first
   * file a SIGHUP would refuse; an empty file is fine (a first start has nothing to lose).
   */
  static async check(sources: AuthSources, log: AuthLogger): Promise<void> {
    if (sources.passwordFile !== undefined) await loadBcrypt();
    const acl = await loadAcl(sources.acl, log, false);
    await loadRestStrict(sources, log, acl, { acl, passwords: new Map(), keys: UdpKeys.EMPTY });
  }

  /** Dummy hashes like the password file's (see PasswordVerifier.prepareDummies). */
  private async prepareDummy(): Promise<void> {
    if (this.sources.passwordFile === undefined) return;
    try {
      await this.verifier.prepareDummies(this.snap.passwords.values(), DEFAULT_DUMMY_COST);
    } catch (e) {
      this.log.error(`unable to prepare the dummy password hash: ${problemOf(e)}`);
    }
  }

  /** Builds a store from ready data (tests, embedders). */
  static fromSnapshot(sources: AuthSources, log: AuthLogger, snapshot: AuthSnapshot, verifier = verifierFor(sources)): AuthStore {
    return new AuthStore(sources, log, snapshot, verifier);
  }

  get snapshot(): AuthSnapshot {
    return this.snap;
  }

  /** Increments on every successful reload (sessions may record it; diagnostics). */
  get generation(): number {
    return this.gen;
  }

  get allowAnonymous(): boolean {
    return this.sources.allowAnonymous;
  }

  /**
   * SIGHUP reload (§8). Resolves true when a new snapshot was installed (the ACL parsed),
   * false when the ACL failed and everything was kept. Concurrent calls run one after another,
   * and calls made while one already waits join it: it has not read the files yet, so it reads
   * what they all would. A burst of SIGHUPs thus costs at most two reads of every file, not one
   * each (a million users take seconds and hundreds of MB per read).
   */
  reload(): Promise<boolean> {
    if (this.waiting !== null) return this.waiting;
    const run = this.queue.then(() => {
      this.waiting = null;
      return this.reloadNow();
    });
    this.waiting = run;
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async reloadNow(): Promise<boolean> {
    let acl: Map<string, AclEntry>;
    try {
      acl = await loadAcl(this.sources.acl, this.log, this.snap.acl.size > 0);
    } catch (e) {
      this.log.error(`ACL reload failed: ${problemOf(e)}`);
      return false;
    }
    try {
      this.snap = await loadRestStrict(this.sources, this.log, acl, this.snap);
    } catch (e) {
      this.log.error(`reload failed, the previous ACL, password and key files stay in force: ${problemOf(e)}`);
      return false;
    }
    this.gen++;
    await this.prepareDummy();
    return true;
  }

  /**
   * TCP/plain-UDP login rule (§5.1): empty login + empty password is anonymous (needs
   * allow_anonymous); anything else is a bcrypt check against the password file. Then an ACL
   * entry (`_` for an empty login) is required.
   */
  async authenticate(login: string, password: Password, source?: string): Promise<AuthResult> {
    if (login === '' && password.length === 0) return this.anonymous();
    const hash = this.snap.passwords.get(login);
    if (!(await this.verifier.verify(login, password, hash, source))) {
      return { ok: false, code: 'LoginFailed', message: `login failed for ${escapeForLog(login)}` };
    }
    // Current snapshot after the await: a reload that removed the user during bcrypt wins.
    return this.withAcl(login);
  }

  /**
   * The result of authenticate() when it needs no waiting: an anonymous login, or a password
   * this process already verified for the user's current hash. Undefined when bcrypt must run
   * (call authenticate()). A reconnect storm then logs every client in within its read, without
   * a promise and a pause/resume of the socket per login.
   */
  authenticateNow(login: string, password: Password): AuthResult | undefined {
    if (login === '' && password.length === 0) return this.anonymous();
    const hash = this.snap.passwords.get(login);
    if (hash === undefined || !this.verifier.isRemembered(login, password, hash)) return undefined;
    return this.withAcl(login);
  }

  /**
   * Login by a client certificate the TLS handshake verified (MQTT `use_identity_as_username`):
   * the certificate's CN is the user, no password is checked (the CA vouches for it, as in
   * Mosquitto); an ACL entry is required. `_` stays the anonymous user's: a certificate named
   * so is refused rather than given the anonymous ACL.
   */
  authenticateCertificate(user: string): AuthResult {
    if (user === ANONYMOUS || user === '') {
      return { ok: false, code: 'NoAcl', message: `client certificate CN "${escapeForLog(user)}" is reserved for anonymous logins` };
    }
    return this.withAcl(user);
  }

  private anonymous(): AuthResult {
    if (!this.sources.allowAnonymous) {
      return { ok: false, code: 'AnonymousDisabled', message: 'anonymous login failed' };
    }
    return this.withAcl('');
  }

  private withAcl(login: string): AuthResult {
    const user = login === '' ? ANONYMOUS : login;
    const acl = this.snap.acl.get(user);
    if (acl === undefined) {
      return { ok: false, code: 'NoAcl', message: `No ACL for ${login === '' ? 'anonymous' : escapeForLog(login)}` };
    }
    return { ok: true, user, acl };
  }

  /** Password check only (HTTP Basic auth), no anonymous rule. `source`: the client's address. */
  verifyPassword(login: string, password: string, source?: string): Promise<boolean> {
    return this.verifier.verify(login, password, this.snap.passwords.get(login), source);
  }

  /** Current ACL entry (UDP datagrams and HTTP requests look it up every time). */
  aclFor(user: string): AclEntry | undefined {
    return this.snap.acl.get(user);
  }

  /**
   * UDP encryption key (32 bytes, a view into the snapshot's keys: read it, never write into
   * it); an empty login means the anonymous user `_`.
   */
  keyFor(login: string): Buffer | undefined {
    return this.snap.keys.get(login === '' ? ANONYMOUS : login);
  }
}

/** `reloadOf`: reading for a reload of an ACL that had (true) or had no (false) entries. */
async function loadAcl(src: AclSource, log: AuthLogger, reloadOf?: boolean): Promise<Map<string, AclEntry>> {
  log.info(`loading ACL ${aclLabel(src)}`);
  if (src.kind === 'inline') return parseAclText(src.text, src.name);
  const text = await readText(src.path);
  if (reloadOf === undefined) return parseAclText(text, src.path);
  // In slices: a million users take seconds, and the clients of a running server are served
  // meanwhile (the previous snapshot stays in force until the new one is complete).
  return parseAclTextCooperatively(refuseEmpty(text, src.path, reloadOf), src.path);
}

/** One line for all Mosquitto 1.x hashes: they verify, but a leaked file gives them away fast. */
function warnWeak(log: AuthLogger, file: string, lines: readonly number[]): void {
  const first = lines[0];
  if (first === undefined) return;
  const users = lines.length === 1 ? '1 user has' : `${String(lines.length)} users have`;
  log.warn(`${file}:${String(first)}: ${users} a Mosquitto 1.x $6$ hash (one SHA-512 round, quickly brute-forced from a leaked file); set their passwords again with mosquitto_passwd or htpasswd -B`);
}

/** Passwords and keys for a new ACL, all valid or a PsrtError naming the file and line. */
async function loadRestStrict(sources: AuthSources, log: AuthLogger, acl: ReadonlyMap<string, AclEntry>, prev: AuthSnapshot): Promise<AuthSnapshot> {
  let passwords: ReadonlyMap<string, string> = new Map();
  if (sources.passwordFile !== undefined) {
    log.info(`loading password file ${sources.passwordFile}`);
    const text = refuseEmpty(await readText(sources.passwordFile), sources.passwordFile, prev.passwords.size > 0);
    const { passwords: read, problems, weakLines } = await runStepsCooperatively(readHtpasswdSteps(text, sources.mosquittoPasswords === true));
    const damaged = problems.filter((p) => p.damaged);
    const first = damaged[0];
    if (first !== undefined) {
      const more = damaged.length > 1 ? ` (and ${damaged.length - 1} more)` : '';
      throw new PsrtError(ErrorCode.Config, `${sources.passwordFile}:${first.line}: ${first.problem}${more}`);
    }
    // Other hash types never match, as at start-up; the rest of the reload goes ahead.
    for (const p of problems) log.warn(`${sources.passwordFile}:${p.line}: ${p.problem} (never matches)`);
    warnWeak(log, sources.passwordFile, weakLines);
    passwords = read;
  }
  let keys = UdpKeys.EMPTY;
  if (sources.keyFile !== undefined) {
    const file = sources.keyFile;
    log.info(`loading key file ${file}`);
    const errors: string[] = [];
    keys = await parseKeysTextCooperatively(refuseEmpty(await readText(file), file, prev.keys.size > 0), file, acl, (level, msg) => {
      if (level === 'error') errors.push(msg);
      else log[level](msg);
    });
    if (errors[0] !== undefined) throw new PsrtError(ErrorCode.Config, errors[0]);
  }
  return { acl, passwords, keys };
}

/** Passwords and keys for a new ACL (start-up); on failure each part keeps `prev`'s map. */
async function loadRest(
  sources: AuthSources,
  log: AuthLogger,
  acl: ReadonlyMap<string, AclEntry>,
  prev: AuthSnapshot,
): Promise<AuthSnapshot> {
  let passwords = prev.passwords;
  if (sources.passwordFile !== undefined) {
    log.info(`loading password file ${sources.passwordFile}`);
    try {
      const read = runSteps(readHtpasswdSteps(await readText(sources.passwordFile), sources.mosquittoPasswords === true));
      for (const p of read.problems) log.warn(`${sources.passwordFile}:${p.line}: ${p.problem} (line skipped)`);
      warnWeak(log, sources.passwordFile, read.weakLines);
      passwords = read.passwords;
    } catch (e) {
      log.error(`Unable to load config: ${problemOf(e)}`);
    }
  }
  // Old keys kept after a failed key-file load must not outlive their user's ACL entry.
  let keys = prev.keys.filter((user) => acl.has(user));
  if (sources.keyFile !== undefined) {
    const file = sources.keyFile;
    log.info(`loading key file ${file}`);
    try {
      const text = await readText(file);
      keys = parseKeysText(text, file, acl, (level, msg) => {
        log[level](msg);
      });
    } catch (e) {
      log.error(`Unable to load config: ${problemOf(e)}`);
    }
  }
  return { acl, passwords, keys };
}
