/**
 * Mosquitto's `acl_file` turned into an acl.yml (`psrtd --convert-mosquitto-acl`), read by
 * Mosquitto 2's own rules:
 *
 * - a line whose first character is `#` is a comment; words are separated by spaces; trailing
 *   blanks are dropped; an empty line is skipped;
 * - `user <name>` starts a user's rules (the rest of the line, trimmed); the `topic` lines before
 *   the first `user` line are the anonymous clients' (acl.yml's `_`);
 * - `topic [read|write|readwrite|deny] <filter>` (readwrite when only a filter is given) and
 *   `pattern …` (the same, for every client, with `%u` and `%c`);
 * - anything else is an error, as it stops Mosquitto.
 *
 * `read` becomes a `sub` mask, `write` a `pub` mask. What acl.yml cannot say is reported, with
 * its line, instead of being converted into something else: `deny` rules (acl.yml only
 * grants), and `%u`/`%c` that are not a whole level. Every user gets an entry (Mosquitto lets a
 * user without rules of their own connect and use the patterns; psrtd refuses a login without
 * an entry): those of the acl_file and, given a password file, each of its users.
 */

export interface ConvertedAcl {
  /** acl.yml text; entries in first-seen order. */
  readonly yaml: string;
  /** Rules that were not converted, and why (1-based lines of the acl_file). */
  readonly problems: readonly { readonly line: number; readonly problem: string }[];
  readonly users: number;
}

interface Rules {
  readonly sub: string[];
  readonly pub: string[];
}

const ACCESS: Readonly<Record<string, { read: boolean; write: boolean } | 'deny'>> = {
  read: { read: true, write: false },
  write: { read: false, write: true },
  readwrite: { read: true, write: true },
  deny: 'deny',
};

/** A valid MQTT subscription filter (Mosquitto's mosquitto_sub_topic_check). */
function validFilter(filter: string): boolean {
  if (filter === '' || filter.includes('\0')) return false;
  const levels = filter.split('/');
  return levels.every((l, i) => (l === '#' ? i === levels.length - 1 : l === '+' || !/[+#]/.test(l)));
}

/** `%u`/`%c` outside a whole level, which psrtd's masks cannot express. */
function partialPlaceholder(filter: string): boolean {
  return filter.split('/').some((l) => /%[uc]/.test(l) && l !== '%u' && l !== '%c');
}

class Converter {
  readonly anonymous: Rules = { sub: [], pub: [] };
  readonly patterns: Rules = { sub: [], pub: [] };
  readonly users = new Map<string, Rules>();
  readonly problems: { line: number; problem: string }[] = [];
  private current: Rules = this.anonymous;

  line(raw: string, number: number): void {
    const line = raw.replace(/\s+$/, '');
    if (line.startsWith('#')) return;
    const words = /^ *(\S+)(?: +(.*))?$/.exec(line);
    if (words === null) {
      if (line.trim() !== '') this.problems.push({ line: number, problem: `not a Mosquitto ACL line (Mosquitto stops at it): ${line.trim()}` });
      return;
    }
    const [, keyword = '', rest = ''] = words;
    if (keyword === 'user') this.user(rest.trim(), number);
    else if (keyword === 'topic' || keyword === 'pattern') this.rule(keyword, rest, number);
    else this.problems.push({ line: number, problem: `not a Mosquitto ACL line (Mosquitto stops at it): ${line.trim()}` });
  }

  private user(name: string, number: number): void {
    if (name === '') {
      this.problems.push({ line: number, problem: 'user without a name' });
      return;
    }
    if (name === '_') this.problems.push({ line: number, problem: 'a user named _ is psrtd\'s anonymous entry: their rules are merged with the anonymous clients\'' });
    const known = this.users.get(name) ?? { sub: [], pub: [] };
    this.users.set(name, known);
    this.current = known;
  }

  private rule(keyword: 'topic' | 'pattern', rest: string, number: number): void {
    const m = /^(\S+)(?: +(.*))?$/.exec(rest.trim());
    if (m === null) {
      this.problems.push({ line: number, problem: `${keyword} without a topic` });
      return;
    }
    const [, first = '', filterText] = m;
    const access = filterText === undefined ? ACCESS.readwrite : ACCESS[first];
    const filter = filterText === undefined ? first : filterText.trim();
    if (access === undefined) {
      this.problems.push({ line: number, problem: `access "${first}" is not read, write, readwrite or deny` });
    } else if (!validFilter(filter)) {
      this.problems.push({ line: number, problem: `"${filter}" is not a valid topic filter` });
    } else if (access === 'deny') {
      this.problems.push({ line: number, problem: `deny rules have no acl.yml form (it only grants): ${keyword} deny ${filter} was left out; narrow the grants instead` });
    } else if (keyword === 'pattern' && partialPlaceholder(filter)) {
      this.problems.push({ line: number, problem: `"${filter}": psrtd's %u and %c stand for a whole level (sensors/%u/#, not sensors/%u-data): left out` });
    } else {
      const into = keyword === 'pattern' ? this.patterns : this.current;
      if (access.read) into.sub.push(filter);
      if (access.write) into.pub.push(filter);
    }
  }
}

function quoted(list: readonly string[]): string {
  return `[${[...new Set(list)].map((s) => JSON.stringify(s)).join(', ')}]`;
}

function entry(name: string, rules: Rules, patterns: Rules): string {
  return `${JSON.stringify(name)}:\n  sub: ${quoted([...rules.sub, ...patterns.sub])}\n  pub: ${quoted([...rules.pub, ...patterns.pub])}\n`;
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
  for (const user of passwordUsers) if (!c.users.has(user)) c.users.set(user, { sub: [], pub: [] });
  const anonymous = c.users.get('_');
  if (anonymous !== undefined) {
    c.anonymous.sub.push(...anonymous.sub);
    c.anonymous.pub.push(...anonymous.pub);
    c.users.delete('_');
  }
  let yaml = '# acl.yml converted from a Mosquitto acl_file by psrtd --convert-mosquitto-acl\n';
  // Anonymous Mosquitto clients get their own rules and the patterns without %u.
  const withoutLogin = (l: readonly string[]): boolean => l.some((f) => !f.split('/').includes('%u'));
  const anyAnonymous = c.anonymous.sub.length + c.anonymous.pub.length > 0 || withoutLogin(c.patterns.sub) || withoutLogin(c.patterns.pub);
  if (anyAnonymous) yaml += `# _ is the anonymous user (the rules before the first "user" line, and the patterns)\n${entry('_', c.anonymous, c.patterns)}`;
  for (const [name, rules] of c.users) yaml += entry(name, rules, c.patterns);
  return { yaml, problems: c.problems, users: c.users.size + (anyAnonymous ? 1 : 0) };
}
