/**
 * Mosquitto's `acl_file` turned into an acl.yml (`psrtd --convert-mosquitto-acl`), read by
 * Mosquitto 2's own rules:
 *
 * - a line whose first character is `#` is a comment; words are separated by spaces; trailing
 *   blanks (ASCII, as C's isspace) are dropped; an empty line is skipped;
 * - `user <name>` starts a user's rules (the rest of the line, trimmed); the `topic` lines before
 *   the first `user` line are the anonymous clients' (acl.yml's `_`);
 * - `topic [read|write|readwrite|deny] <filter>` (readwrite when only a filter is given) and
 *   `pattern …` (the same, for every client, with `%u` and `%c`);
 * - anything else is an error, as it stops Mosquitto.
 *
 * `read` becomes a `sub` mask, `write` a `pub` mask. The acl.yml never grants more than
 * Mosquitto would: what it cannot say is left out and reported with its line (a problem: exit
 * status 1) instead of being converted into something wider:
 *
 * - acl.yml only grants, so a grant that a `deny` rule takes part of away is left out whole (a
 *   deny that overlaps no grant needs nothing: acl.yml denies by default). A user's deny rules
 *   cover that user's grants and the patterns, pattern deny rules the patterns (Mosquitto checks
 *   the user's rules first, then the patterns, each with its denials first);
 * - `%u`/`%c` that are not a whole level in a `pattern` (psrtd's placeholders are whole levels);
 * - a `topic` line with a whole-level `%u`/`%c`: Mosquitto reads it literally, psrtd's acl.yml
 *   would put the client's name there;
 * - the rules of a user named `_`, which is psrtd's anonymous entry.
 *
 * Warnings (converted, exit status unchanged): a filter starting with `#` or `+` also covers the
 * topics beginning with `$` in psrtd (the `$SYS` statistics), which Mosquitto's ACL leaves out.
 *
 * Every user gets an entry (Mosquitto lets a user without rules of their own connect and use the
 * patterns; psrtd refuses a login without an entry): those of the acl_file and, given a password
 * file, each of its users.
 */
import { isValidMqttTopicFilter } from '../topics/index.js';

export interface ConvertedAcl {
  /** acl.yml text; entries in first-seen order. */
  readonly yaml: string;
  /** Rules that were not converted, and why (1-based lines of the acl_file). */
  readonly problems: readonly Note[];
  /** Rules converted with a difference worth knowing (see the module comment). */
  readonly warnings: readonly Note[];
  readonly users: number;
}

export interface Note {
  readonly line: number;
  readonly problem: string;
}

interface Rule {
  readonly filter: string;
  readonly read: boolean;
  readonly write: boolean;
  readonly line: number;
}

interface Rules {
  readonly grants: Rule[];
  readonly denies: Rule[];
}

const ACCESS: Readonly<Record<string, { read: boolean; write: boolean } | 'deny'>> = {
  read: { read: true, write: false },
  write: { read: false, write: true },
  readwrite: { read: true, write: true },
  deny: 'deny',
};

/** The psrtd name of the anonymous entry. */
const ANONYMOUS = '_';

/** C's isspace in the C locale (Mosquitto trims with it); JS's \s also takes Unicode spaces. */
const TRAILING_BLANKS = /[ \t\n\v\f\r]+$/;
const LEADING_BLANKS = /^[ \t\n\v\f\r]+/;

function trimBlanks(s: string): string {
  return s.replace(LEADING_BLANKS, '').replace(TRAILING_BLANKS, '');
}

/** `%u`/`%c` outside a whole level, which psrtd's masks cannot express. */
function partialPlaceholder(filter: string): boolean {
  return filter.split('/').some((l) => /%[uc]/.test(l) && l !== '%u' && l !== '%c');
}

/** A whole level `%u`/`%c`: a placeholder in acl.yml, literal in a Mosquitto `topic` line. */
function wholePlaceholder(filter: string): boolean {
  return filter.split('/').some((l) => l === '%u' || l === '%c');
}

/** Can a level stand for more than itself? `%u`/`%c` anywhere in it count as `+`. */
function wildLevel(level: string): boolean {
  return level === '+' || /%[uc]/.test(level);
}

/**
 * Is there a topic both filters match? Placeholders count as `+`, and `$` topics are not set
 * apart, so the answer errs towards yes (a grant is then left out, never kept wrongly).
 */
export function filtersOverlap(a: string, b: string): boolean {
  const x = a.split('/');
  const y = b.split('/');
  for (let i = 0; ; i++) {
    const l = x[i];
    const m = y[i];
    if (l === '#' || m === '#') return true;
    if (l === undefined || m === undefined) return l === m;
    if (l !== m && !wildLevel(l) && !wildLevel(m)) return false;
  }
}

function emptyRules(): Rules {
  return { grants: [], denies: [] };
}

class Converter {
  readonly anonymous: Rules = emptyRules();
  readonly patterns: Rules = emptyRules();
  readonly users = new Map<string, Rules>();
  readonly problems: Note[] = [];
  readonly warnings: Note[] = [];
  /** The rules of a user named `_` go nowhere (see user()). */
  private readonly discarded: Rules = emptyRules();
  private current: Rules = this.anonymous;

  line(raw: string, number: number): void {
    const line = raw.replace(TRAILING_BLANKS, '');
    if (line.startsWith('#')) return;
    const words = /^ *([^ ]+)(?: +(.*))?$/s.exec(line);
    if (words === null) {
      if (line !== '') this.problems.push({ line: number, problem: `not a Mosquitto ACL line (Mosquitto stops at it): ${line.trim()}` });
      return;
    }
    const [, keyword = '', rest = ''] = words;
    if (keyword === 'user') this.user(trimBlanks(rest), number);
    else if (keyword === 'topic' || keyword === 'pattern') this.rule(keyword, rest, number);
    else this.problems.push({ line: number, problem: `not a Mosquitto ACL line (Mosquitto stops at it): ${line.trim()}` });
  }

  private user(name: string, number: number): void {
    if (name === '') {
      this.problems.push({ line: number, problem: 'user without a name' });
      return;
    }
    if (name === ANONYMOUS) {
      this.problems.push({ line: number, problem: 'a user named _: in acl.yml that is the anonymous entry, so this user\'s rules are left out' });
      this.current = this.discarded;
      return;
    }
    const known = this.users.get(name) ?? emptyRules();
    this.users.set(name, known);
    this.current = known;
  }

  private rule(keyword: 'topic' | 'pattern', rest: string, number: number): void {
    // Mosquitto: the word after the keyword, then the rest of the line trimmed (spaces and all).
    const m = /^ *([^ ]+)(?: (.*))?$/s.exec(rest);
    if (m === null) {
      this.problems.push({ line: number, problem: `${keyword} without a topic` });
      return;
    }
    const [, first = '', tail] = m;
    const filterText = tail === undefined ? undefined : trimBlanks(tail);
    const access = filterText === undefined || filterText === '' ? ACCESS.readwrite : ACCESS[first];
    const filter = filterText === undefined || filterText === '' ? first : filterText;
    if (access === undefined) {
      this.problems.push({ line: number, problem: `access "${first}" is not read, write, readwrite or deny` });
    } else if (!isValidMqttTopicFilter(filter)) { // Mosquitto's mosquitto_sub_topic_check
      this.problems.push({ line: number, problem: `"${filter}" is not a valid topic filter` });
    } else if (access === 'deny') {
      (keyword === 'pattern' ? this.patterns : this.current).denies.push({ filter, read: false, write: false, line: number });
    } else if (keyword === 'pattern' && partialPlaceholder(filter)) {
      this.problems.push({ line: number, problem: `"${filter}": psrtd's %u and %c stand for a whole level (sensors/%u/#, not sensors/%u-data): left out` });
    } else if (keyword === 'topic' && wholePlaceholder(filter)) {
      this.problems.push({ line: number, problem: `"${filter}": Mosquitto reads %u and %c in a topic line literally, acl.yml would put the client's name there: left out (a pattern line gives the client's name)` });
    } else {
      (keyword === 'pattern' ? this.patterns : this.current).grants.push({ filter, ...access, line: number });
    }
  }
}

/** One acl.yml entry: `own` rules (a user's or the anonymous clients') and the patterns. */
interface EntryRules {
  readonly name: string;
  readonly own: Rules;
}

class Writer {
  readonly problems: Note[] = [];
  readonly warnings: Note[] = [];
  private readonly reported = new Set<string>();

  constructor(private readonly patterns: Rules) {}

  /** The grants of the entry no deny rule takes anything from, as sub and pub masks. */
  masks(entry: EntryRules): { sub: string[]; pub: string[] } {
    const anonymous = entry.name === ANONYMOUS;
    // Mosquitto skips the patterns with %u for anonymous clients (psrtd would drop them too).
    const patterns = anonymous ? this.patterns.grants.filter((g) => !g.filter.includes('%u')) : this.patterns.grants;
    const kept = [...entry.own.grants, ...patterns].filter((g) => {
      const own = entry.own.denies.find((d) => filtersOverlap(g.filter, d.filter));
      const shared = this.patterns.denies.find((d) => filtersOverlap(g.filter, d.filter));
      const deny = own ?? (entry.own.grants.includes(g) ? undefined : shared);
      if (deny === undefined) return true;
      const whose = own === undefined ? 'every client' : anonymous ? 'the anonymous clients' : JSON.stringify(entry.name);
      this.note(this.problems, g.line, `"${g.filter}" left out for ${whose}: the deny rule of line ${String(deny.line)} ("${deny.filter}") takes part of it away, and acl.yml only grants; narrow the grant`);
      return false;
    });
    for (const g of kept) if (/^[#+](\/|$)/.test(g.filter)) this.note(this.warnings, g.line, `"${g.filter}" also covers the topics beginning with $ in psrtd (the $SYS statistics to read, $ topics to publish); Mosquitto's ACL leaves them out`);
    return { sub: kept.filter((g) => g.read).map((g) => g.filter), pub: kept.filter((g) => g.write).map((g) => g.filter) };
  }

  private note(into: Note[], line: number, problem: string): void {
    const key = `${String(line)} ${problem}`;
    if (this.reported.has(key)) return;
    this.reported.add(key);
    into.push({ line, problem });
  }
}

function quoted(list: readonly string[]): string {
  return `[${[...new Set(list)].map((s) => JSON.stringify(s)).join(', ')}]`;
}

function entryYaml(name: string, masks: { sub: string[]; pub: string[] }): string {
  return `${JSON.stringify(name)}:\n  sub: ${quoted(masks.sub)}\n  pub: ${quoted(masks.pub)}\n`;
}

/**
 * Converts `text` (an acl_file). `passwordUsers`: the logins of the password file, each of which
 * gets an entry with the patterns when the acl_file has no rules of its own for it.
 */
export function convertMosquittoAcl(text: string, passwordUsers: Iterable<string> = []): ConvertedAcl {
  const c = new Converter();
  text.split('\n').forEach((line, i) => {
    c.line(line, i + 1);
  });
  // `_` is the anonymous entry: a Mosquitto user of that name has no acl.yml entry of its own.
  for (const user of passwordUsers) if (user !== ANONYMOUS && !c.users.has(user)) c.users.set(user, emptyRules());
  const writer = new Writer(c.patterns);
  let yaml = '# acl.yml converted from a Mosquitto acl_file by psrtd --convert-mosquitto-acl\n';
  // Anonymous Mosquitto clients get their own rules and the patterns without %u (see masks()).
  const anonymous = writer.masks({ name: ANONYMOUS, own: c.anonymous });
  const anyAnonymous = anonymous.sub.length + anonymous.pub.length > 0;
  if (anyAnonymous) yaml += `# _ is the anonymous user (the rules before the first "user" line, and the patterns)\n${entryYaml(ANONYMOUS, anonymous)}`;
  for (const [name, own] of c.users) yaml += entryYaml(name, writer.masks({ name, own }));
  const byLine = (a: Note, b: Note): number => a.line - b.line;
  return { yaml, problems: [...c.problems, ...writer.problems].sort(byLine), warnings: writer.warnings.sort(byLine), users: c.users.size + (anyAnonymous ? 1 : 0) };
}
