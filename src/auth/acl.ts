/**
 * ACL file (SERVER.md §6): YAML mapping user → { sub, pub, admin, replicator }. Deny by
 * default: a missing `sub`/`pub` list grants nothing, and a user without an entry cannot log in.
 */
import { z } from 'zod';
import { AclMask, AclMaskList, type AclGrant } from '../topics/index.js';
import { ErrorCode, PsrtError } from '../protocol/errors.js';
import { runSteps, runStepsCooperatively, type Steps } from './steps.js';
import { describeValue, formatIssues, readYamlMappingSteps, type IssuePath } from './yaml-validate.js';

export interface AclEntry {
  readonly sub: AclGrant;
  readonly pub: AclGrant;
  readonly admin: boolean;
  readonly replicator: boolean;
  /**
   * SUBSCRIBE check on the subscription string exactly as sent. Decision 2: allowed only if one
   * `sub` mask covers every topic the subscription can match (not the reference's escalation).
   */
  canSubscribe(rawMask: string): boolean;
  /** PUBLISH check (TCP and UDP) on the normalised topic, reference semantics. */
  canPublish(normalizedTopic: string): boolean;
  /**
   * The rights of one client: a mask level that is exactly `%u` stands for its login and `%c`
   * for its MQTT client id (psrt-node extension, as Mosquitto's `pattern` lines). The entry
   * itself when it has no such level (the usual case: nothing is allocated).
   */
  forClient(user: string, clientId?: string): AclEntry;
}

/** A whole mask level `%u` or `%c`. */
const PLACEHOLDER = /(?:^|\/)%[uc](?=\/|$)/;

class Entry implements AclEntry {
  constructor(
    readonly sub: AclGrant,
    readonly pub: AclGrant,
    readonly admin: boolean,
    readonly replicator: boolean,
  ) {}

  canSubscribe(rawMask: string): boolean {
    return this.sub.coversSubscription(rawMask);
  }

  canPublish(normalizedTopic: string): boolean {
    return this.pub.matches(normalizedTopic);
  }

  /** No placeholder level: the same rights for every client (see PatternEntry). */
  forClient(user: string, clientId?: string): AclEntry;
  forClient(): AclEntry {
    return this;
  }
}

/** An entry with a `%u` or `%c` level: forClient builds the client's own entry. */
class PatternEntry extends Entry {
  /** The last forClient result (UDP asks per datagram, mostly for the same user). */
  private lastBound: { user: string; clientId: string | undefined; entry: AclEntry } | undefined;

  override forClient(user: string, clientId?: string): AclEntry {
    const last = this.lastBound;
    if (last?.user === user && last.clientId === clientId) return last.entry;
    const values = { u: placeholderValue(user === ANONYMOUS_USER ? undefined : user), c: placeholderValue(clientId) };
    const bind = (grant: AclGrant): AclGrant => {
      const masks: string[] = [];
      for (const source of sourcesOf(grant)) {
        const bound = substitute(source, values);
        if (bound !== undefined) masks.push(bound);
      }
      return list(masks);
    };
    const entry = new Entry(bind(this.sub), bind(this.pub), this.admin, this.replicator);
    this.lastBound = { user, clientId, entry };
    return entry;
  }
}

/**
 * An entry of these rights; a PatternEntry when a mask has a placeholder level (plain entries
 * carry no field for it: a million of them are loaded).
 */
function newEntry(sub: AclGrant, pub: AclGrant, admin: boolean, replicator: boolean): Entry {
  const patterns = hasPlaceholder(sub) || hasPlaceholder(pub);
  return patterns ? new PatternEntry(sub, pub, admin, replicator) : new Entry(sub, pub, admin, replicator);
}

function hasPlaceholder(grant: AclGrant): boolean {
  if (grant instanceof AclMask) return grant.source.includes('%') && PLACEHOLDER.test(grant.source);
  if (grant instanceof AclMaskList) return grant.masks.some((m) => m.source.includes('%') && PLACEHOLDER.test(m.source));
  return false;
}

/** The anonymous user's ACL name: it has no login for `%u`. */
const ANONYMOUS_USER = '_';

/**
 * What a placeholder may stand for: a single, non-empty topic level. A login or client id with
 * `/`, `+` or `#` would otherwise widen the mask (a client id `+` would grant every client's
 * topics), so its masks grant nothing, as Mosquitto does for such ids.
 */
function placeholderValue(value: string | undefined): string | undefined {
  if (value === undefined || value === '' || value.includes('\u0000') || /[/+#]/.test(value)) return undefined;
  return value;
}

/** `source` with its `%u`/`%c` levels replaced; undefined when a value is missing or unusable. */
function substitute(source: string, values: { u: string | undefined; c: string | undefined }): string | undefined {
  if (!PLACEHOLDER.test(source)) return source;
  const levels = source.split('/');
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i];
    if (level !== '%u' && level !== '%c') continue;
    const value = level === '%u' ? values.u : values.c;
    if (value === undefined) return undefined;
    levels[i] = value;
  }
  return levels.join('/');
}

function sourcesOf(grant: AclGrant): readonly string[] {
  if (grant instanceof AclMask) return [grant.source];
  if (grant instanceof AclMaskList) return grant.masks.map((m) => m.source);
  return [];
}

const maskList = z.array(z.string().min(1), { error: 'expected a list of topic masks' });

const entrySchema = z
  .strictObject({
    sub: maskList.nullish(),
    pub: maskList.nullish(),
    admin: z.boolean().nullish(),
    replicator: z.boolean().nullish(),
  })
  // `user:` with nothing after it is read as `user: {}` (grants nothing, like an empty entry).
  .nullable();

const EMPTY = new AclMaskList([]);

/** A list of one mask is the mask itself (a list object and its array cost ~100 bytes more). */
function list(masks: readonly string[] | null | undefined): AclGrant {
  if (masks === undefined || masks === null || masks.length === 0) return EMPTY;
  if (masks.length === 1 && masks[0] !== undefined) return AclMask.parse(masks[0]);
  return new AclMaskList(masks.map((m) => AclMask.parse(m)));
}

/**
 * One object per distinct entry of a file. Entries are immutable, so users with the same rights
 * share one: a site of a million sensors with the same lists keeps one entry, not a million
 * (~100 bytes per mask). At most SHARED_MAX distinct rights are remembered, and once that many
 * are and fewer than one user in four shares an entry, the users have their own rights and the
 * lookup stops (a map of a million keys would cost seconds at every load).
 */
class SharedEntries {
  private readonly entries = new Map<string, Entry>();
  private lookups = 0;
  private hits = 0;

  entry(sub: ListSource, pub: ListSource, admin: boolean, replicator: boolean): Entry {
    // Once the map is full and fewer than one lookup in four finds an entry, the users have
    // their own rights: stop paying for the keys.
    if (this.entries.size >= SHARED_MAX && this.hits * 4 < this.lookups) return newEntry(list(sub), list(pub), admin, replicator);
    this.lookups++;
    const key = `${admin ? 'a' : '-'}${replicator ? 'r' : '-'}${JSON.stringify(sub ?? [])}${JSON.stringify(pub ?? [])}`;
    let entry = this.entries.get(key);
    if (entry === undefined) {
      entry = newEntry(list(sub), list(pub), admin, replicator);
      if (this.entries.size < SHARED_MAX) this.entries.set(key, entry);
    } else this.hits++;
    return entry;
  }
}

const SHARED_MAX = 10_000;

type ListSource = readonly string[] | null | undefined;

interface PlainEntry {
  sub?: string[];
  pub?: string[];
  admin?: boolean;
  replicator?: boolean;
}

const isMaskList = (v: unknown): boolean =>
  v === undefined || (Array.isArray(v) && v.every((m) => typeof m === 'string' && m.length > 0));

/**
 * The shape almost every entry has, checked without zod (a million entries validated by zod
 * take seconds); whatever this does not accept goes to `entrySchema`, which also words the error.
 */
function isPlainEntry(v: unknown): v is PlainEntry {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  for (const key in v) if (key !== 'sub' && key !== 'pub' && key !== 'admin' && key !== 'replicator') return false;
  const e = v as Record<string, unknown>;
  return isMaskList(e.sub) && isMaskList(e.pub) && isFlag(e.admin) && isFlag(e.replicator);
}

const isFlag = (v: unknown): boolean => v === undefined || typeof v === 'boolean';

/** Builds an entry programmatically (tests, embedded configs). */
export function makeAclEntry(spec: {
  sub?: readonly string[];
  pub?: readonly string[];
  admin?: boolean;
  replicator?: boolean;
}): AclEntry {
  return newEntry(list(spec.sub), list(spec.pub), spec.admin ?? false, spec.replicator ?? false);
}

/** Unix-socket sessions: trusted, everything allowed (SERVER.md §4.2). */
export const FULL_ACCESS: AclEntry = makeAclEntry({ sub: ['#'], pub: ['#'], admin: true, replicator: true });

/** `user "bob": sub[0]` rather than `bob.sub[0]`: user names may contain dots. */
function aclPath(path: IssuePath): string {
  const [user, key, ...rest] = path;
  if (user === undefined) return '';
  let out = `user ${JSON.stringify(String(user))}`;
  if (key !== undefined) out += `: ${String(key)}`;
  for (const p of rest) out += typeof p === 'number' ? `[${p}]` : `.${String(p)}`;
  return out;
}

/**
 * Parses an ACL file's text; throws PsrtError(Config) naming the file, line, user and key on any
 * problem (unknown key, empty mask, wrong type). An empty file is an empty ACL (nobody may log
 * in over TCP), never an open door.
 */
export function parseAclText(text: string, file: string): Map<string, AclEntry> {
  return runSteps(parseAclSteps(text, file));
}

/** parseAclText in slices (a reload of a million users gives the event loop back in between). */
export function parseAclTextCooperatively(text: string, file: string): Promise<Map<string, AclEntry>> {
  return runStepsCooperatively(parseAclSteps(text, file));
}

function* parseAclSteps(text: string, file: string): Steps<Map<string, AclEntry>> {
  const acl = new Map<string, AclEntry>();
  const shared = new SharedEntries();
  // Entries are validated one by one as they are read (not via z.record, which rebuilds a plain
  // object and would silently lose a user literally named `__proto__`). A refused entry keeps
  // its user's place (for the duplicate check) until the file is refused as a whole.
  const refused: [string, z.core.$ZodIssue[]][] = [];
  const read = yield* readYamlMappingSteps(text, file, false, {
    entry(user, value) {
      let entry: AclEntry;
      if (isPlainEntry(value)) entry = shared.entry(value.sub, value.pub, value.admin ?? false, value.replicator ?? false);
      else {
        const r = entrySchema.safeParse(value, { reportInput: true });
        if (r.success) entry = shared.entry(r.data?.sub, r.data?.pub, r.data?.admin ?? false, r.data?.replicator ?? false);
        else {
          refused.push([user, r.error.issues]);
          entry = NO_RIGHTS;
        }
      }
      // One map operation per user: a repeat is seen by the size not growing (the file is
      // refused then, so the overwritten entry does not matter).
      const before = acl.size;
      acl.set(user, entry);
      return acl.size > before;
    },
    restart() {
      acl.clear();
      refused.length = 0;
    },
  });
  if ('notMapping' in read) throw read.lines.error([], `expected a mapping, got ${describeValue(read.notMapping)}`);
  if (refused.length > 0) {
    const problems = refused.map(([user, issues]) => formatIssues(read.lines.within([user]), issues, (p) => aclPath([user, ...p])));
    throw new PsrtError(ErrorCode.Config, problems.join('; '));
  }
  return acl;
}

/** Holds a refused user's place; never leaves parseAclText. */
const NO_RIGHTS: AclEntry = makeAclEntry({});
