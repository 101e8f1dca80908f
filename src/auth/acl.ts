/**
 * ACL file (SERVER.md §6): YAML mapping user → { sub, pub, admin, replicator }. Deny by
 * default: a missing `sub`/`pub` list grants nothing, and a user without an entry cannot log in.
 */
import { z } from 'zod';
import { AclMask, AclMaskList } from '../topics/index.js';
import { ErrorCode, PsrtError } from '../protocol/errors.js';
import { describeValue, formatIssues, parseYaml, type IssuePath } from './yaml-validate.js';

export interface AclEntry {
  readonly sub: AclMaskList;
  readonly pub: AclMaskList;
  readonly admin: boolean;
  readonly replicator: boolean;
  /**
   * SUBSCRIBE check on the subscription string exactly as sent. Decision 2: allowed only if one
   * `sub` mask covers every topic the subscription can match (not the reference's escalation).
   */
  canSubscribe(rawMask: string): boolean;
  /** PUBLISH check (TCP and UDP) on the normalised topic, reference semantics. */
  canPublish(normalizedTopic: string): boolean;
}

class Entry implements AclEntry {
  constructor(
    readonly sub: AclMaskList,
    readonly pub: AclMaskList,
    readonly admin: boolean,
    readonly replicator: boolean,
  ) {}

  canSubscribe(rawMask: string): boolean {
    return this.sub.coversSubscription(rawMask);
  }

  canPublish(normalizedTopic: string): boolean {
    return this.pub.matches(normalizedTopic);
  }
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

function list(masks: readonly string[] | null | undefined): AclMaskList {
  if (masks === undefined || masks === null || masks.length === 0) return EMPTY;
  return new AclMaskList(masks.map((m) => AclMask.parse(m)));
}

/** Builds an entry programmatically (tests, embedded configs). */
export function makeAclEntry(spec: {
  sub?: readonly string[];
  pub?: readonly string[];
  admin?: boolean;
  replicator?: boolean;
}): AclEntry {
  return new Entry(list(spec.sub), list(spec.pub), spec.admin ?? false, spec.replicator ?? false);
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
  const parsed = parseYaml(text, file);
  const data = parsed.data ?? {};
  if (typeof data !== 'object' || Array.isArray(data)) {
    throw parsed.lines.error([], `expected a mapping, got ${describeValue(data)}`);
  }
  // Entries are validated one by one (not via z.record, which rebuilds a plain object and
  // would silently lose a user literally named `__proto__`).
  const acl = new Map<string, AclEntry>();
  const problems: string[] = [];
  for (const [user, value] of Object.entries(data)) {
    const r = entrySchema.safeParse(value, { reportInput: true });
    if (!r.success) {
      problems.push(formatIssues(parsed.lines.within([user]), r.error.issues, (p) => aclPath([user, ...p])));
      continue;
    }
    const e = r.data;
    acl.set(user, new Entry(list(e?.sub), list(e?.pub), e?.admin ?? false, e?.replicator ?? false));
  }
  if (problems.length > 0) throw new PsrtError(ErrorCode.Config, problems.join('; '));
  return acl;
}
