/**
 * A fast reader for the plain YAML that acl.yml and keys.yml files of large sites are written in:
 * block mappings nested by indentation, scalars, one-line flow lists (`sub: ["a/#", b]`), block
 * lists of scalars, `{}`, `[]` and comments. A file of a million users is parsed in seconds,
 * where the general YAML library needs minutes and gigabytes (it builds a node per scalar).
 *
 * It never decides anything the library would decide differently: a document that uses anything
 * outside this subset (anchors, tags, block scalars, escapes, multi-line values, duplicate keys,
 * odd indentation, tabs, a key that is not a string, …) gives `undefined`, and the caller parses
 * it with the library, which also words the errors. Plain scalars are resolved with the library's
 * own schema tags, so `true`, `0x1A` or `~` mean what they mean there. The tests compare both on
 * generated documents.
 */
import { Schema, isScalar, type ScalarTag } from 'yaml';

/** Why the reader gives up; never shown, the library parses the document instead. */
class OutsideSubset extends Error {}

const outside = (): never => {
  throw new OutsideSubset();
};

interface Line {
  /** 1-based line number in the file. */
  readonly number: number;
  readonly indent: number;
  /** The content after the indentation, without a trailing comment. */
  readonly body: string;
}

const COMMENT_ONLY = /^\s*(?:#.*)?$/;
/** Plain scalar: no leading indicator, no whitespace, no `:`, no quote; `#` only inside. */
const PLAIN = /^[^\s\-?:,[\]{}#&*!|>'"%@`][^\s:,[\]{}'"]*/;
const DOUBLE_QUOTED = /^"[^"\\]*"/;
const SINGLE_QUOTED = /^'[^']*'/;
/** What may follow a value on its line: spaces, then an optional comment. */
const LINE_END = /^(?:\s+#.*|\s*)$/;

const coreTags: readonly ScalarTag[] = new Schema({ schema: 'core' }).tags.filter(
  (t): t is ScalarTag => 'test' in t,
);

/**
 * The document's value as the library's `toJS()` would give it, or `undefined` when the
 * document is outside the subset. `failsafe` keeps every scalar a string (the keys file).
 */
export function readSimpleYaml(text: string, failsafe: boolean): unknown {
  const top = readSimpleYamlTop(text, failsafe);
  return top instanceof Map ? Object.fromEntries(top) : top;
}

/**
 * As readSimpleYaml, but a top-level mapping comes as a Map of its entries in file order: the
 * ACL and keys files of large sites have a million keys there, and a plain object of that size
 * costs several times the Map.
 */
export function readSimpleYamlTop(text: string, failsafe: boolean): Map<string, unknown> | null | undefined {
  try {
    const lines = splitLines(text);
    if (lines.length === 0) return null;
    const reader = new BlockReader(lines, failsafe);
    const first = lines[0];
    if (first?.indent !== 0) return outside();
    const top = new Map<string, unknown>();
    reader.entries(0, top);
    if (reader.pos !== lines.length) return outside();
    return top;
  } catch (e) {
    if (e instanceof OutsideSubset) return undefined;
    throw e;
  }
}

/**
 * Characters the library treats in ways this reader does not (tabs, line breaks other than LF,
 * a byte-order mark, control characters): any of them sends the document to the library.
 */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const UNUSUAL_CHARACTER = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff]/;

function splitLines(source: string): Line[] {
  const text = source.includes('\r\n') ? source.replaceAll('\r\n', '\n') : source;
  if (UNUSUAL_CHARACTER.test(text)) outside();
  const lines: Line[] = [];
  let start = 0;
  for (let number = 1; start <= text.length; number++) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    const raw = text.slice(start, end);
    start = end + 1;
    if (COMMENT_ONLY.test(raw)) continue;
    let indent = 0;
    while (raw.charCodeAt(indent) === 0x20) indent++;
    // `---`, `...` and `%` directives belong to the library.
    if (indent === 0 && /^(?:---|\.\.\.|%)/.test(raw)) outside();
    lines.push({ number, indent, body: raw.slice(indent) });
  }
  return lines;
}

class BlockReader {
  pos = 0;

  constructor(
    private readonly lines: readonly Line[],
    private readonly failsafe: boolean,
  ) {}

  /** A block mapping whose keys are at `indent` (a user's entry: a few keys). */
  mapping(indent: number): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (let line = this.lines[this.pos]; line !== undefined && line.indent >= indent; line = this.lines[this.pos]) {
      if (line.indent !== indent) outside();
      this.pos++;
      const { key, rest } = this.key(line.body);
      if (Object.hasOwn(out, key)) outside(); // the library reports the duplicate
      out[key] = rest === '' ? this.nested(indent) : this.inlineValue(rest);
    }
    return out;
  }

  /** The entries of a block mapping whose keys are at `indent`, into `out`. */
  entries(indent: number, out: Map<string, unknown>): void {
    for (let line = this.lines[this.pos]; line !== undefined && line.indent >= indent; line = this.lines[this.pos]) {
      if (line.indent !== indent) outside();
      this.pos++;
      const { key, rest } = this.key(line.body);
      if (out.has(key)) outside(); // the library reports the duplicate
      out.set(key, rest === '' ? this.nested(indent) : this.inlineValue(rest));
    }
  }

  /** The value of `key:` with nothing after it: a deeper block, or null. */
  private nested(indent: number): unknown {
    const next = this.lines[this.pos];
    if (next === undefined || next.indent <= indent) {
      // `key:` then `- item` at the key's own indentation is a list in YAML; leave it to the library.
      if (next?.indent === indent && next.body.startsWith('-')) outside();
      return this.failsafe ? '' : null; // what the library makes of an empty value
    }
    return next.body.startsWith('-') ? this.sequence(next.indent) : this.mapping(next.indent);
  }

  /** A block list of scalars whose dashes are at `indent`. */
  private sequence(indent: number): unknown[] {
    const out: unknown[] = [];
    for (let line = this.lines[this.pos]; line !== undefined && line.indent >= indent; line = this.lines[this.pos]) {
      if (line.indent !== indent || !line.body.startsWith('- ')) outside();
      this.pos++;
      const rest = line.body.slice(2).trimStart();
      if (rest === '' || rest.startsWith('[')) outside();
      out.push(this.inlineValue(rest));
    }
    return out;
  }

  /** The key of a mapping line (for the line lookup). */
  keyOf(body: string): string {
    return this.key(body).key;
  }

  private key(body: string): { key: string; rest: string } {
    const token = scalarToken(body);
    const after = body.slice(token.length);
    if (!after.startsWith(':') || (after.length > 1 && after[1] !== ' ')) outside();
    const key = this.scalar(token);
    if (typeof key !== 'string' || key === '__proto__') outside();
    const rest = after.slice(1).trim();
    return { key: key as string, rest: rest.startsWith('#') ? '' : rest };
  }

  /** What follows `key: ` or `- ` on its line: a scalar, a flow list, `{}` or `[]`. */
  private inlineValue(text: string): unknown {
    if (text.startsWith('[')) return this.flowList(text);
    if (text.startsWith('{}')) return lineEnd(text.slice(2), {});
    const token = scalarToken(text);
    return lineEnd(text.slice(token.length), this.scalar(token));
  }

  /** `[a, "b", 'c']` on one line; no nesting, no trailing comma. */
  private flowList(text: string): unknown[] {
    const out: unknown[] = [];
    let rest = text.slice(1).trimStart();
    if (rest.startsWith(']')) return lineEnd(rest.slice(1), out);
    for (;;) {
      const token = scalarToken(rest);
      out.push(this.scalar(token));
      rest = rest.slice(token.length).trimStart();
      if (rest.startsWith(']')) return lineEnd(rest.slice(1), out);
      if (!rest.startsWith(',')) outside();
      rest = rest.slice(1).trimStart();
    }
  }

  private scalar(token: string): unknown {
    const first = token[0];
    if (first === '"' || first === "'") return token.slice(1, -1);
    if (this.failsafe) return token;
    return resolvePlain(token);
  }
}

function scalarToken(text: string): string {
  const match = DOUBLE_QUOTED.exec(text) ?? SINGLE_QUOTED.exec(text) ?? PLAIN.exec(text);
  return match?.[0] ?? outside();
}

function lineEnd<T>(rest: string, value: T): T {
  return LINE_END.test(rest) ? value : outside();
}

/** A plain scalar as the core schema reads it: the first default tag whose test matches. */
function resolvePlain(token: string): unknown {
  for (const tag of coreTags) {
    if (tag.test?.test(token) !== true) continue;
    if (tag.default !== true) return outside();
    const value = tag.resolve(token, outside, {});
    return isScalar(value) ? value.value : value; // bool gives a Scalar node
  }
  return token;
}

/**
 * The line of `path` in a text readSimpleYaml accepted, as the library's line lookup gives it
 * (the key's line; a list item's own line, which for a one-line `[…]` list is its key's; for a
 * path the file does not have, the deepest part it has). Errors in a file of a million users
 * are located without the library, which would need gigabytes to parse it.
 */
export function simpleYamlLine(text: string, path: readonly PropertyKey[]): number | undefined {
  try {
    return lineIn(splitLines(text), path);
  } catch (e) {
    if (e instanceof OutsideSubset) return undefined;
    throw e;
  }
}

function lineIn(lines: readonly Line[], path: readonly PropertyKey[]): number | undefined {
  const reader = new BlockReader(lines, true);
  let from = 0;
  let to = lines.length;
  let found = lines[0]?.number;
  for (const segment of path) {
    const head = lines[from];
    if (head === undefined || from >= to) break;
    const at = head.body.startsWith('- ')
      ? nthItem(lines, from, to, head.indent, segment)
      : keyLine(lines, from, to, head.indent, String(segment), reader);
    if (at === undefined) break;
    found = lines[at]?.number ?? found;
    from = at + 1;
    to = blockEnd(lines, from, lines[at]?.indent ?? 0);
  }
  return found;
}

function nthItem(lines: readonly Line[], from: number, to: number, indent: number, segment: PropertyKey): number | undefined {
  if (typeof segment !== 'number') return undefined;
  let seen = 0;
  for (let i = from; i < to; i++) if (lines[i]?.indent === indent && seen++ === segment) return i;
  return undefined;
}

function keyLine(lines: readonly Line[], from: number, to: number, indent: number, key: string, reader: BlockReader): number | undefined {
  for (let i = from; i < to; i++) {
    const line = lines[i];
    if (line?.indent === indent && reader.keyOf(line.body) === key) return i;
  }
  return undefined;
}

/** The end of the block of lines deeper than `indent` that starts at `from`. */
function blockEnd(lines: readonly Line[], from: number, indent: number): number {
  let end = from;
  while ((lines[end]?.indent ?? -1) > indent) end++;
  return end;
}
