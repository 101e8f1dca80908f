/**
 * YAML parsing and zod validation with operator-friendly errors: every problem is reported as
 * `<file>:<line>: <key path>: <problem in plain words>` (the `file:line:` form editors and grep
 * jump to; no line for problems of the whole document). Shared by the ACL/keys loaders here and
 * by src/config (which may import auth, while auth may not import config).
 */
import { LineCounter, isAlias, isMap, isScalar, isSeq, parseDocument, visit, type Document, type Scalar, type YAMLError } from 'yaml';
import type { z } from 'zod';
import { ErrorCode, PsrtError } from '../protocol/errors.js';
import { DuplicateKey, readSimpleYaml, simpleYamlLine, streamSimpleYamlTopSteps, type SimpleTop } from './simple-yaml.js';
import { ENTRIES_PER_STEP, type Steps } from './steps.js';

export type IssuePath = readonly PropertyKey[];

/** `server.data_queue`, `proto.bind[1]`. */
export function dottedPath(path: IssuePath): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out === '' ? String(p) : `.${String(p)}`;
  }
  return out;
}

/** A short, quoted rendering of a YAML value for "expected X, got Y". */
export function describeValue(v: unknown): string {
  if (v === null) return 'an empty value';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'string') {
    const shown = v.length > 60 ? `${v.slice(0, 57)}...` : v;
    return JSON.stringify(shown);
  }
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  return typeof v;
}

const EXPECTED: Readonly<Record<string, string>> = {
  number: 'a number',
  int: 'an integer',
  string: 'a string',
  boolean: 'true or false',
  object: 'a mapping',
  record: 'a mapping',
  array: 'a list',
};

/** `<file>:<line>: <path>: <problem>`; the line and the path are left out when unknown or empty. */
export function configMessage(file: string, line: number | undefined, path: string, problem: string): string {
  const place = line === undefined ? file : `${file}:${line}`;
  return path === '' ? `${place}: ${problem}` : `${place}: ${path}: ${problem}`;
}

/** Finds the 1-based line of a full key path; undefined for the whole document or no file. */
type LineLookup = (path: IssuePath) => number | undefined;

/**
 * Where key paths are in one parsed YAML file, as 1-based lines. A key's line is its own; a
 * list element's is its item's; a path the file does not have (a missing key) gets the line of
 * its deepest ancestor that it has, the mapping that lacks the key. `within` gives the same file
 * seen from a section validated on its own (bridges), so its issue paths stay relative.
 */
export class YamlLines {
  private constructor(
    readonly file: string,
    private readonly lookup: LineLookup,
    private readonly base: IssuePath,
  ) {}

  static of(file: string, doc: Document.Parsed, counter: LineCounter): YamlLines {
    return new YamlLines(file, (path) => docLine(doc, counter, path), []);
  }

  /**
   * For a text the fast reader accepted: its own lookup, so that an error in a file of a
   * million users is located without the library (which would need gigabytes for it).
   */
  static simple(file: string, text: string): YamlLines {
    return new YamlLines(file, (path) => simpleYamlLine(text, path), []);
  }

  /** For values that did not come from a parsed file: every error without a line. */
  static none(file: string): YamlLines {
    return new YamlLines(file, () => undefined, []);
  }

  within(path: IssuePath): YamlLines {
    return new YamlLines(this.file, this.lookup, [...this.base, ...path]);
  }

  /** The line of `path` (relative to this view); undefined for the whole document. */
  lineOf(path: IssuePath): number | undefined {
    const full = [...this.base, ...path];
    return full.length === 0 ? undefined : this.lookup(full);
  }

  /** `<file>:<line>` of `path`, or `<file>` when it has no line. */
  place(path: IssuePath): string {
    const line = this.lineOf(path);
    return line === undefined ? this.file : `${this.file}:${line}`;
  }

  /** PsrtError(Config) `<file>:<line>: <shown path>: <problem>` for the node at `path`. */
  error(path: IssuePath, problem: string, shown: string = dottedPath(path)): PsrtError {
    return new PsrtError(ErrorCode.Config, configMessage(this.file, this.lineOf(path), shown, problem));
  }
}

/** One step down a path: the node whose line names it (a key, a list item) and its value. */
interface Step {
  readonly marker: unknown;
  readonly value: unknown;
}

function docLine(doc: Document.Parsed, counter: LineCounter, path: IssuePath): number | undefined {
  const lineAt = (node: unknown): number | undefined => {
    const offset = (node as { range?: readonly number[] } | null | undefined)?.range?.[0];
    return offset === undefined ? undefined : counter.linePos(offset).line;
  };
  let node: unknown = doc.contents;
  let line = lineAt(node);
  for (const segment of path) {
    const step = childStep(doc, node, segment);
    if (step === undefined) break;
    line = lineAt(step.marker) ?? line;
    node = step.value;
  }
  return line;
}

function childStep(doc: Document.Parsed, parent: unknown, segment: PropertyKey): Step | undefined {
  const node = isAlias(parent) ? parent.resolve(doc) : parent;
  if (isMap(node)) {
    const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(segment));
    return pair === undefined ? undefined : { marker: pair.key, value: pair.value };
  }
  if (isSeq(node) && typeof segment === 'number') {
    const item: unknown = node.items[segment];
    return item === undefined ? undefined : { marker: item, value: item };
  }
  return undefined;
}

/** One zod issue → one or more `(path, problem)` pairs (one per unknown key). */
function explain(issue: z.core.$ZodIssue): [IssuePath, string][] {
  switch (issue.code) {
    case 'unrecognized_keys':
      return issue.keys.map((k) => [[...issue.path, k], 'unknown key']);
    case 'invalid_type': {
      // Schemas may give their own wording (`{ error: 'expected an integer' }`).
      const expected = issue.message.startsWith('expected ')
        ? issue.message
        : `expected ${EXPECTED[issue.expected] ?? issue.expected}`;
      if (!('input' in issue) || issue.input === undefined) {
        return [[issue.path, issue.path.length === 0 ? `${expected}, got nothing` : 'required key is missing']];
      }
      return [[issue.path, `${expected}, got ${describeValue(issue.input)}`]];
    }
    case 'too_small': {
      if (issue.origin === 'string') return [[issue.path, 'must not be empty']];
      const bound = issue.inclusive === false ? 'greater than' : 'at least';
      return [[issue.path, `must be ${bound} ${String(issue.minimum)}, got ${describeValue(issue.input)}`]];
    }
    case 'too_big': {
      const bound = issue.inclusive === false ? 'less than' : 'at most';
      return [[issue.path, `must be ${bound} ${String(issue.maximum)}, got ${describeValue(issue.input)}`]];
    }
    case 'invalid_union':
      return [[issue.path, `${issue.message}, got ${describeValue(issue.input)}`]];
    default:
      return [[issue.path, issue.message]];
  }
}

/** All problems of a failed validation, each as `<file>:<line>: <path>: <problem>`, joined by `; `. */
export function formatIssues(
  lines: YamlLines,
  issues: readonly z.core.$ZodIssue[],
  formatPath: (path: IssuePath) => string = dottedPath,
): string {
  const parts: string[] = [];
  for (const issue of issues) {
    for (const [path, problem] of explain(issue)) {
      parts.push(configMessage(lines.file, lines.lineOf(path), formatPath(path), problem));
    }
  }
  return parts.join('; ');
}

/** Validates `data` (found at `lines`) or throws PsrtError(Config) listing every problem. */
export function validate<T>(
  schema: z.ZodType<T>,
  data: unknown,
  lines: YamlLines,
  formatPath?: (path: IssuePath) => string,
): T {
  const r = schema.safeParse(data, { reportInput: true });
  if (r.success) return r.data;
  throw new PsrtError(ErrorCode.Config, formatIssues(lines, r.error.issues, formatPath));
}

export interface ParsedYaml {
  readonly data: unknown;
  readonly lines: YamlLines;
}

/**
 * Parses one YAML document (YAML 1.2 core schema, duplicate keys rejected, like serde_yaml).
 * `failsafe` keeps every scalar a string (the keys file: a hex key of only digits must not
 * turn into a number). An empty document is `null`. `lines` locates its keys for later errors.
 * Plain files (all that acl.yml and keys.yml normally are) are read by the fast reader in
 * simple-yaml.ts; anything else by the library.
 */
export function parseYaml(text: string, file: string, failsafe = false): ParsedYaml {
  const simple = readSimpleYaml(text, failsafe);
  if (simple !== undefined) return { data: simple, lines: YamlLines.simple(file, text) };
  return parseWithLibrary(text, file, failsafe);
}

/** parseYaml by the YAML library alone (the fast reader found the text outside its subset). */
function parseWithLibrary(text: string, file: string, failsafe: boolean): ParsedYaml {
  const counter = new LineCounter();
  // uniqueKeys: the library compares each key with every earlier key of its mapping, which is
  // quadratic: an acl.yml of 200,000 users took over ten minutes. firstDuplicateKey does the same
  // check with a set.
  const doc = parseDocument(text, { schema: failsafe ? 'failsafe' : 'core', uniqueKeys: false, prettyErrors: true, lineCounter: counter });
  // The first problem in the file, as the library with uniqueKeys reports them (and as the fast
  // reader, which stops at a repeated key, does): a repeat before a syntax error is the one told.
  const first = doc.errors[0];
  const duplicate = firstDuplicateKey(doc)?.range?.[0];
  if (duplicate !== undefined && (first === undefined || duplicate < first.pos[0])) {
    const pos = counter.linePos(duplicate);
    throw new PsrtError(ErrorCode.Config, configMessage(file, pos.line, '', `invalid YAML: Map keys must be unique (column ${pos.col})`));
  }
  if (first !== undefined) throw new PsrtError(ErrorCode.Config, syntaxErrorText(file, first));
  return { data: doc.toJS({ maxAliasCount: 100 }) as unknown, lines: YamlLines.of(file, doc, counter) };
}

/** Where the entries of a top-level mapping go, one at a time. */
export interface YamlEntrySink {
  /** One entry, in file order; false when the key was given before (a duplicate). */
  entry(key: string, value: unknown): boolean;
  /** Forget every entry given so far: the document is read again from its start. */
  restart(): void;
}

export interface ReadYamlMapping {
  readonly lines: YamlLines;
  /** The document when it is neither a mapping nor empty (for the caller to word the error). */
  readonly notMapping?: unknown;
}

/**
 * Above this size a file outside the fast reader's plain subset is refused rather than given to
 * the YAML library, which needs about a hundred times a file's size in memory: a 90 MB acl.yml
 * of a million users would end the process (at a reload, the running server) out of memory.
 */
export const LIBRARY_YAML_MAX_BYTES = 16 * 1024 * 1024;

/**
 * parseYaml for files whose top level is a mapping of many keys (acl.yml, keys.yml): the same
 * rules and errors, each entry given to `sink` as it is read, so that a file of a million users
 * never exists as one object. An empty document gives no entries. Yields between slices of
 * entries (steps.ts); a file the library reads is read in one slice.
 */
export function* readYamlMappingSteps(text: string, file: string, failsafe: boolean, sink: YamlEntrySink): Steps<ReadYamlMapping> {
  let top: SimpleTop;
  try {
    top = yield* streamSimpleYamlTopSteps(text, failsafe, (key, value) => sink.entry(key, value), ENTRIES_PER_STEP);
  } catch (e) {
    if (!(e instanceof DuplicateKey)) throw e;
    throw new PsrtError(ErrorCode.Config, configMessage(file, e.line, '', `invalid YAML: Map keys must be unique (column ${e.column})`));
  }
  if (top === 'mapping' || top === 'empty') return { lines: YamlLines.simple(file, text) };
  sink.restart();
  if (text.length > LIBRARY_YAML_MAX_BYTES) {
    throw new PsrtError(
      ErrorCode.Config,
      configMessage(file, top.line, '', `${top.message} is outside the plain YAML a file of ${(text.length / 1048576).toFixed(0)} MB must be written in (one \`key: value\` per line, lists as [a, b] or "- a" lines, no anchors, tags, tabs or escapes)`),
    );
  }
  const { data, lines } = parseWithLibrary(text, file, failsafe);
  if (data === null) return { lines };
  if (typeof data !== 'object' || Array.isArray(data)) return { lines, notMapping: data };
  for (const [key, value] of Object.entries(data)) sink.entry(key, value);
  return { lines };
}

/**
 * The first scalar key in the document that repeats an earlier key of the same mapping (the
 * library's own uniqueKeys rule: equal scalar values; keys that are collections or aliases never
 * repeat): the earliest in the text, as the library reports them, so a repeat inside the first
 * user's entry comes before a repeated user further down.
 */
function firstDuplicateKey(doc: Document.Parsed): Scalar | undefined {
  let found: Scalar | undefined;
  const start = (key: Scalar): number => key.range?.[0] ?? Number.MAX_SAFE_INTEGER;
  visit(doc, {
    Map(_key, map) {
      const seen = new Set<unknown>();
      for (const pair of map.items) {
        const key = pair.key;
        if (!isScalar(key)) continue;
        const value = key.value;
        if (typeof value === 'number' && Number.isNaN(value)) continue; // NaN !== NaN
        if (seen.has(value)) {
          // The first repeat of a mapping is its earliest; another mapping's may come sooner.
          if (found === undefined || start(key) < start(found)) found = key;
          return undefined;
        }
        seen.add(value);
      }
      return undefined;
    },
  });
  return found;
}

/**
 * `<file>:<line>: invalid YAML: <problem> (column C)`, the `file:line:` form of every other
 * config error. prettyErrors ends the message's first line with "at line L, column C:" and puts
 * a code excerpt on the lines after; the log keeps one line, so both go.
 */
function syntaxErrorText(file: string, error: YAMLError): string {
  if (error.code === 'MULTIPLE_DOCS') {
    // The library's text tells a programmer to call parseAllDocuments().
    return configMessage(file, error.linePos?.[0].line, '', "invalid YAML: a '---' line starts a second document; the file must hold exactly one");
  }
  const text = (error.message.split('\n')[0] ?? error.message).replace(/ at line \d+, column \d+:?\s*$/, '').replace(/:\s*$/, '');
  const pos = error.linePos?.[0];
  return configMessage(file, pos?.line, '', `invalid YAML: ${text}${pos === undefined ? '' : ` (column ${pos.col})`}`);
}

const ERRNO_TEXT: Readonly<Record<string, string>> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EISDIR: 'is a directory',
  ENOTDIR: 'a path component is not a directory',
};

/** `no such file or directory` instead of Node's `ENOENT: …, open '…'` (callers name the file). */
export function fsErrorText(e: unknown): string {
  if (e instanceof PsrtError) return e.message;
  const err = e as NodeJS.ErrnoException;
  const known = err.code === undefined ? undefined : ERRNO_TEXT[err.code];
  return known ?? (err instanceof Error ? err.message : String(e));
}
