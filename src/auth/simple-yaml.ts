/**
 * A fast reader for the plain YAML that acl.yml and keys.yml files of large sites are written in:
 * block mappings nested by indentation, scalars, one-line flow lists (`sub: ["a/#", b]`), block
 * lists of scalars (indented or at their key's indentation), `{}`, `[]` and comments. A file of a
 * million users is read in seconds, where the general YAML library needs minutes and gigabytes
 * (it builds a node per scalar).
 *
 * It never decides anything the library would decide differently: a document that uses anything
 * outside this subset (anchors, tags, block scalars, escapes, multi-line values, odd
 * indentation, tabs, a key that is not a string, …) is reported as such, with the line and what
 * was found there, and the caller parses it with the library. Plain scalars are resolved with the
 * library's own schema tags, so `true`, `0x1A` or `~` mean what they mean there. A repeated key
 * is the library's error, at the same place. The tests compare both on generated documents.
 */
import { Schema, isScalar, type ScalarTag } from 'yaml';
import { runSteps } from './steps.js';
import { LineCursor, OutsideSubset, outside, type Line } from './yaml-line-cursor.js';

export { OutsideSubset } from './yaml-line-cursor.js';

/** A key that repeats an earlier key of its mapping: the library's DUPLICATE_KEY, same place. */
export class DuplicateKey extends Error {
  constructor(
    readonly line: number,
    readonly column: number,
  ) {
    super('Map keys must be unique');
  }
}

/** Plain scalar: no leading indicator, no whitespace, no `:`, no quote; `#` only inside. */
const PLAIN = /^[^\s\-?:,[\]{}#&*!|>'"%@`][^\s:,[\]{}'"]*/;
const DOUBLE_QUOTED = /^"[^"\\]*"/;
const SINGLE_QUOTED = /^'[^']*'/;
/** What may follow a value on its line: spaces, then an optional comment. */
const LINE_END = /^(?: +#.*| *)$/;
/** The library refuses an implicit key longer than this (KEY_OVER_1024_CHARS), quotes included. */
const MAX_KEY_LENGTH = 1024;

/**
 * Deeper mappings are left to the library: it reports one nested ~900 deep as a resource
 * exhaustion (a stack overflow it catches), where this reader would read it or overflow itself.
 */
const MAX_MAPPING_DEPTH = 32;

const coreTags: readonly ScalarTag[] = new Schema({ schema: 'core' }).tags.filter((t): t is ScalarTag => 'test' in t);

/** How a document's top level turned out. */
export type SimpleTop = 'mapping' | 'empty' | OutsideSubset;

/**
 * Reads a document whose top level is a block mapping, giving each top-level entry to `each` in
 * file order as soon as it is read (a file of a million users never exists as one object).
 * `each` returns false for a key it has seen before: that is a DuplicateKey, thrown like any
 * nested one. On OutsideSubset, `each` may already have been called for the entries before it.
 * Yields every `perStep` entries (see steps.ts).
 */
export function* streamSimpleYamlTopSteps(
  text: string,
  failsafe: boolean,
  each: (key: string, value: unknown) => boolean,
  perStep: number,
): Generator<void, SimpleTop, void> {
  let cursor: LineCursor | undefined;
  try {
    cursor = new LineCursor(text);
    const first = cursor.peek();
    if (first === undefined) return 'empty';
    if (first.indent !== 0) outside('an indented first line');
    const reader = new BlockReader(cursor, failsafe);
    let sinceYield = 0;
    for (let line = cursor.peek(); line !== undefined; line = cursor.peek()) {
      if (line.indent !== 0) outside('a line indented deeper than its mapping');
      const { key, rest } = reader.key(line.body);
      let value: unknown;
      try {
        value = reader.entryValue(line, rest);
      } catch (e) {
        // The library reports a repeated key before a repeat inside its value: ask `each` about
        // this key first (with a stand-in value: the document is refused either way).
        if (e instanceof DuplicateKey && !each(key, null)) throw new DuplicateKey(line.number, 1);
        throw e;
      }
      if (!each(key, value)) throw new DuplicateKey(line.number, 1);
      if (++sinceYield === perStep) {
        sinceYield = 0;
        yield;
      }
    }
    return 'mapping';
  } catch (e) {
    if (!(e instanceof OutsideSubset)) throw e;
    if (e.line === 0) e.line = cursor?.lastNumber ?? 1;
    return e;
  }
}

/** streamSimpleYamlTopSteps in one go. */
export function streamSimpleYamlTop(text: string, failsafe: boolean, each: (key: string, value: unknown) => boolean): SimpleTop {
  return runSteps(streamSimpleYamlTopSteps(text, failsafe, each, Number.MAX_SAFE_INTEGER));
}

/**
 * The document's value as the library's `toJS()` would give it, or `undefined` when the
 * library should read it (outside the subset, or a repeated key, which the library words).
 */
export function readSimpleYaml(text: string, failsafe: boolean): unknown {
  const out: Record<string, unknown> = {};
  try {
    const top = streamSimpleYamlTop(text, failsafe, (key, value) => {
      if (Object.hasOwn(out, key)) return false;
      out[key] = value;
      return true;
    });
    if (top === 'empty') return null;
    return top === 'mapping' ? out : undefined;
  } catch (e) {
    if (e instanceof DuplicateKey) return undefined;
    throw e;
  }
}

class BlockReader {
  /** How many block mappings the line being read is nested in. */
  private depth = 0;

  constructor(
    private readonly cursor: LineCursor,
    private readonly failsafe: boolean,
  ) {}

  /**
   * The value of the mapping line `line`, whose key `key` read; moves the cursor past it.
   * What is on the line is read before the cursor moves, so that an OutsideSubset names it.
   */
  entryValue(line: Line, rest: string): unknown {
    if (rest === '') {
      this.cursor.advance();
      return this.nested(line.indent);
    }
    const value = this.inlineValue(rest);
    this.cursor.advance();
    return value;
  }

  /** A block mapping whose keys are at `indent` (a user's entry: a few keys). */
  private mapping(indent: number): Record<string, unknown> {
    if (++this.depth > MAX_MAPPING_DEPTH) outside(`mappings nested more than ${MAX_MAPPING_DEPTH} deep`);
    const out: Record<string, unknown> = {};
    for (let line = this.cursor.peek(); line !== undefined && line.indent >= indent; line = this.cursor.peek()) {
      if (line.indent !== indent) outside('a line indented deeper than its mapping');
      const { key, rest } = this.key(line.body);
      // Before the value, as the library does: a repeated key comes before a repeat inside it.
      if (Object.hasOwn(out, key)) throw new DuplicateKey(line.number, indent + 1);
      out[key] = this.entryValue(line, rest);
    }
    this.depth--;
    return out;
  }

  /** The value of `key:` with nothing after it: a deeper block, or null. */
  private nested(indent: number): unknown {
    const next = this.cursor.peek();
    // `key:` then `- item` at the key's own indentation is a list (PyYAML writes lists so).
    if (next?.indent === indent && next.body.startsWith('-')) return this.sequence(indent, true);
    if (next === undefined || next.indent <= indent) return this.failsafe ? '' : null; // the library's empty value
    return next.body.startsWith('-') ? this.sequence(next.indent, false) : this.mapping(next.indent);
  }

  /**
   * A block list of scalars whose dashes are at `indent`; `atKeyIndent`: the key's own, where a
   * line that is not an item is the next key of the key's mapping.
   */
  private sequence(indent: number, atKeyIndent: boolean): unknown[] {
    const out: unknown[] = [];
    for (let line = this.cursor.peek(); line !== undefined && line.indent >= indent; line = this.cursor.peek()) {
      if (atKeyIndent && line.indent === indent && !line.body.startsWith('-')) break;
      if (line.indent !== indent || !line.body.startsWith('- ')) outside('a list item that is not `- value`');
      const rest = skipSpaces(line.body.slice(2));
      if (rest === '' || rest.startsWith('[')) outside('a list item that is not `- value`');
      out.push(this.inlineValue(rest));
      this.cursor.advance();
    }
    return out;
  }

  /** The key of a mapping line's body, and what follows its colon. */
  key(body: string): { key: string; rest: string } {
    const token = scalarToken(body);
    const after = body.slice(token.length);
    if (!after.startsWith(':') || (after.length > 1 && after[1] !== ' ')) outside('a line that is not `key: value`');
    const key = this.scalar(token);
    if (typeof key !== 'string' || key === '__proto__') outside(`the key ${token}`);
    if (token.length > MAX_KEY_LENGTH) outside('a key over 1024 characters');
    const rest = skipSpaces(after.slice(1));
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
    let rest = skipSpaces(text.slice(1));
    if (rest.startsWith(']')) return lineEnd(rest.slice(1), out);
    for (;;) {
      const token = scalarToken(rest);
      out.push(this.scalar(token));
      rest = skipSpaces(rest.slice(token.length));
      if (rest.startsWith(']')) return lineEnd(rest.slice(1), out);
      if (!rest.startsWith(',')) outside('a list that is not `[a, b, …]` on one line');
      rest = skipSpaces(rest.slice(1));
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
  return match?.[0] ?? outside(`a value starting with ${JSON.stringify(text.slice(0, 12))}`);
}

/**
 * Drops leading spaces, and only spaces: to the library U+00A0 and the other Unicode spaces that
 * `trim()` drops are part of a scalar (`a: x\u00a0` is "x\u00a0", `[\u3000b]` is ["\u3000b"]).
 */
function skipSpaces(text: string): string {
  let i = 0;
  while (text.charCodeAt(i) === 0x20) i++;
  return i === 0 ? text : text.slice(i);
}

function lineEnd<T>(rest: string, value: T): T {
  return LINE_END.test(rest) ? value : outside(`${JSON.stringify(rest.slice(0, 12))} after a value`);
}

/** A plain scalar as the core schema reads it: the first default tag whose test matches. */
function resolvePlain(token: string): unknown {
  for (const tag of coreTags) {
    if (tag.test?.test(token) !== true) continue;
    if (tag.default !== true) return outside(`the value ${token}`);
    const value = tag.resolve(token, () => outside(`the value ${token}`), {});
    return isScalar(value) ? value.value : value; // bool gives a Scalar node
  }
  return token;
}

/**
 * The line of `path` in a text the reader accepted, as the library's line lookup gives it (the
 * key's line; a list item's own line, which for a one-line `[…]` list is its key's; for a path
 * the file does not have, the deepest part it has). Errors in a file of a million users are
 * located without the library, which would need gigabytes to parse it.
 */
export function simpleYamlLine(text: string, path: readonly PropertyKey[]): number | undefined {
  try {
    const cursor = new LineCursor(text);
    const reader = new BlockReader(cursor, true);
    let found = cursor.peek()?.number;
    let parent: Line | undefined; // the block being searched is this line's value
    for (const segment of path) {
      const at = findChild(cursor, reader, parent, segment);
      if (at === undefined) break;
      found = at.number;
      parent = at;
      cursor.advance();
    }
    return found;
  } catch (e) {
    if (e instanceof OutsideSubset) return undefined;
    throw e;
  }
}

/**
 * Moves the cursor to the line naming `segment` (a key, or the n-th `- ` item) within the value
 * of `parent` (the document's when undefined) that starts at the cursor: the lines deeper than
 * it, or a list at its key's indentation; undefined if it has none.
 */
function findChild(cursor: LineCursor, reader: BlockReader, parent: Line | undefined, segment: PropertyKey): Line | undefined {
  const head = cursor.peek();
  if (head === undefined) return undefined;
  const parentIndent = parent?.indent ?? -1;
  const isList = head.body.startsWith('- ');
  // A list at its key's indentation: its items, and only they, are the key's at that indentation
  // (after a list item, an item at its indentation is the next item, not its value).
  const atKeyIndent = isList && head.indent === parentIndent && parent !== undefined && !parent.body.startsWith('- ');
  if (head.indent <= parentIndent && !atKeyIndent) return undefined;
  if (isList && typeof segment !== 'number') return undefined;
  const indent = head.indent;
  const inBlock = (line: Line): boolean => line.indent > parentIndent || (atKeyIndent && line.indent === indent && line.body.startsWith('- '));
  let item = 0;
  for (let line = cursor.peek(); line !== undefined && inBlock(line); line = cursor.peek()) {
    if (line.indent === indent) {
      // A mapping's lines at its indentation are its keys and its keys' lists at their indentation.
      if (isList ? item++ === segment : !line.body.startsWith('- ') && reader.key(line.body).key === String(segment)) return line;
    }
    cursor.advance();
  }
  return undefined;
}
