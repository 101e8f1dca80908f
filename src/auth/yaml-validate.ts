/**
 * YAML parsing and zod validation with operator-friendly errors: every problem is reported as
 * `<file>: <key path>: <problem in plain words>`. Shared by the ACL/keys loaders here and by
 * src/config (which may import auth, while auth may not import config).
 */
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { ErrorCode, PsrtError } from '../protocol/errors.js';

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

export function configError(file: string, path: IssuePath | string, problem: string): PsrtError {
  const p = typeof path === 'string' ? path : dottedPath(path);
  return new PsrtError(ErrorCode.Config, p === '' ? `${file}: ${problem}` : `${file}: ${p}: ${problem}`);
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

/** All problems of a failed validation, each as `<file>: <path>: <problem>`, joined by `; `. */
export function formatIssues(
  file: string,
  issues: readonly z.core.$ZodIssue[],
  formatPath: (path: IssuePath) => string = dottedPath,
): string {
  const parts: string[] = [];
  for (const issue of issues) {
    for (const [path, problem] of explain(issue)) {
      const p = formatPath(path);
      parts.push(p === '' ? `${file}: ${problem}` : `${file}: ${p}: ${problem}`);
    }
  }
  return parts.join('; ');
}

/** Validates `data` or throws PsrtError(Config) listing every problem. */
export function validate<T>(
  schema: z.ZodType<T>,
  data: unknown,
  file: string,
  formatPath?: (path: IssuePath) => string,
): T {
  const r = schema.safeParse(data, { reportInput: true });
  if (r.success) return r.data;
  throw new PsrtError(ErrorCode.Config, formatIssues(file, r.error.issues, formatPath));
}

/**
 * Parses one YAML document (YAML 1.2 core schema, duplicate keys rejected, like serde_yaml).
 * `failsafe` keeps every scalar a string (the keys file: a hex key of only digits must not
 * turn into a number). An empty document is `null`.
 */
export function parseYamlText(text: string, file: string, failsafe = false): unknown {
  const doc = parseDocument(text, { schema: failsafe ? 'failsafe' : 'core', uniqueKeys: true, prettyErrors: true });
  const first = doc.errors[0];
  if (first !== undefined) {
    // prettyErrors ends the first line with "at line L, column C:" and a code excerpt on the
    // lines after; the log keeps one line, so the colon that led to the excerpt goes too.
    const line = (first.message.split('\n')[0] ?? first.message).replace(/:\s*$/, '');
    throw new PsrtError(ErrorCode.Config, `${file}: invalid YAML: ${line}`);
  }
  return doc.toJS({ maxAliasCount: 100 }) as unknown;
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
