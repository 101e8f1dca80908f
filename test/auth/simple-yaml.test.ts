/**
 * The fast YAML reader against the library it stands in for: every document it accepts must
 * give the library's value and the library's line numbers, and everything else must go to the
 * library. The generated documents mix what it reads with what it must refuse.
 */
import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { LineCounter, parseDocument } from 'yaml';
import { parseAclText, parseAclTextCooperatively, type AclEntry } from '../../src/auth/acl.js';
import { DuplicateKey, OutsideSubset, readSimpleYaml, simpleYamlLine, streamSimpleYamlTop } from '../../src/auth/simple-yaml.js';
import { LIBRARY_YAML_MAX_BYTES, YamlLines, parseYaml } from '../../src/auth/yaml-validate.js';
import { parseKeysText } from '../../src/auth/keys.js';
import { FIXTURES } from '../config/fixtures.js';

/** The library's reading, or undefined when it reports an error (duplicates included). */
function libraryValue(text: string, failsafe: boolean): { value: unknown; lines: YamlLines } | undefined {
  const counter = new LineCounter();
  const doc = parseDocument(text, { schema: failsafe ? 'failsafe' : 'core', uniqueKeys: true, lineCounter: counter });
  if (doc.errors.length > 0) return undefined;
  return { value: doc.toJS(), lines: YamlLines.of('f', doc, counter) };
}

/** Paths whose lines the table cases compare (an item's value has no item 0 of its own). */
const LOOKED_UP: readonly PropertyKey[][] = [
  ['a'], ['a', 0], ['a', 0, 0], ['a', 1], ['a', 2], ['a', 'x'], ['b', 'sub', 0], ['b', 'sub', 0, 0], ['b', 'sub', 1],
  ['b', 'pub', 1], ['b', 'pub', 2], ['b', 'admin'], ['b', 'x'], ['d', 'e'], ['k', 'k', 'k'],
];

describe('readSimpleYaml: what it reads', () => {
  const cases: readonly [string, string][] = [
    ['ACL entries', '_:\n  sub: ["#"]\n  pub: ["#"]\n  admin: true\nbob:\n  pub: [plant1/data/+/x, "a/#"]\n'],
    ['block lists and comments', '# users\nalice:\n  sub:\n    - a/#\n    - "b"   # two\n\n  replicator: false\n'],
    ['empty values and empty collections', 'a:\nb: {}\nc: []\nd:\n  e:\n'],
    ['quoted keys', '"user one":\n  sub: [\'x y\']\n\'two\': {}\n'],
    ['scalars the core schema types', 'a: 1\nb: 0x1A\nc: .inf\nd: ~\ne: True\nf: 1.5e3\ng: 0o7\nh: yes\n'],
    ['CRLF line ends', 'a:\r\n  sub: [x]\r\n'],
    ['only comments', '# nothing\n\n   # here\n'],
    ['a key without a trailing newline', 'k: v'],
    ['lists at their keys\' indentation (as PyYAML writes them)', 'a:\n- x\n# c\n- y\nb:\n  sub:\n  - "#"\n  pub:\n  - p/#\n  - q\n  admin: true\n'],
    ['a key of 1024 characters, the most the library takes', `${'k'.repeat(1024)}: v\n"${'q'.repeat(1022)}": w\n`],
    ['mappings nested 32 deep in the top one', `${Array.from({ length: 33 }, (_, i) => `${' '.repeat(i)}k:`).join('\n')} v\n`],
  ];
  for (const [name, text] of cases) {
    it(name, () => {
      for (const failsafe of [false, true]) {
        const lib = libraryValue(text, failsafe);
        assert.ok(lib !== undefined, 'the library reads it');
        const fast = readSimpleYaml(text, failsafe);
        assert.notEqual(fast, undefined, 'the fast reader reads it');
        assert.deepStrictEqual(fast, lib.value);
        for (const p of LOOKED_UP) assert.equal(simpleYamlLine(text, p), lib.lines.lineOf(p), JSON.stringify(p));
      }
    });
  }

  it('streams the top level in file order, and stops at a repeated key or a line outside the subset', () => {
    const seen: [string, unknown][] = [];
    const collect = (key: string, value: unknown): boolean => {
      if (seen.some(([k]) => k === key)) return false;
      seen.push([key, value]);
      return true;
    };
    assert.equal(streamSimpleYamlTop('b: 1\na: [x]\n', false, collect), 'mapping');
    assert.deepEqual(seen, [['b', 1], ['a', ['x']]]);
    assert.equal(streamSimpleYamlTop('# only\n', false, collect), 'empty');
    seen.length = 0;
    assert.throws(() => streamSimpleYamlTop('a: 1\n# c\nb: 2\na: 3\n', false, collect), (e: unknown) => e instanceof DuplicateKey && e.line === 4 && e.column === 1);
    assert.throws(() => streamSimpleYamlTop('a:\n  x: 1\n  x: 2\n', false, () => true), (e: unknown) => e instanceof DuplicateKey && e.line === 3 && e.column === 3);
    // A repeated key is reported before a repeat inside its value, as the library does.
    seen.length = 0;
    assert.throws(() => streamSimpleYamlTop('a: 1\nb: 2\na:\n  x: 1\n  x: 2\n', false, collect), (e: unknown) => e instanceof DuplicateKey && e.line === 3 && e.column === 1);
    assert.throws(() => streamSimpleYamlTop('a:\n  k: 1\n  k:\n    x: 1\n    x: 2\n', false, () => true), (e: unknown) => e instanceof DuplicateKey && e.line === 3 && e.column === 3);
    const out = streamSimpleYamlTop('a: 1\nb: 2\n\nc: &x 3\n', false, () => true);
    assert.ok(out instanceof OutsideSubset);
    assert.equal(out.line, 4);
    assert.equal(out.message, 'a value starting with "&x 3"');
    const tab = streamSimpleYamlTop('a: 1\nb:\n\tc: 2\n', false, () => true);
    assert.ok(tab instanceof OutsideSubset);
    assert.deepEqual([tab.line, tab.message], [3, 'the character U+0009']);
    for (const [text, line, what] of [
      ['\ta: 1\n', 1, 'the character U+0009'],
      ['---\na: 1\n', 1, 'a document marker or directive'],
      ['a: 1\n# x\u0001\n', 2, 'the character U+0001'],
      ['a: 1\r\nb: 2\r\nc: x\ry\r\n', 3, 'the character U+000D'],
      // What is wrong on a line is reported at that line, not the one the reader looks at next.
      ['u:\n  sub: [%u/#]\nv: {}\n', 2, 'a value starting with "%u/#]"'],
      ['u:\n  sub:\n    - x\n    - %u/#\nv: {}\n', 4, 'a value starting with "%u/#"'],
      ['u:\n  pub: x y\nv: {}\n', 2, '" y" after a value'],
      ['u: {}\n%v: 1\nw: {}\n', 2, 'a document marker or directive'],
      ['u: {}\n@v: 1\nw: {}\n', 2, 'a value starting with "@v: 1"'],
    ] as const) {
      const r = streamSimpleYamlTop(text, false, () => true);
      assert.ok(r instanceof OutsideSubset, JSON.stringify(text));
      assert.deepEqual([r.line, r.message], [line, what], JSON.stringify(text));
    }
  });
});

describe('readSimpleYaml: what it leaves to the library', () => {
  const refused: readonly [string, string][] = [
    ['a duplicate key', 'a: 1\na: 2\n'],
    ['a duplicate nested key', 'a:\n  sub: [x]\n  sub: [y]\n'],
    ['an anchor and alias', 'a: &x [1]\nb: *x\n'],
    ['a tag', 'a: !!str 1\n'],
    ['a block scalar', 'a: |\n  text\n'],
    ['a multi-line plain scalar', 'a: b\n  c\n'],
    ['an escape in double quotes', 'a: "x\\ty"\n'],
    ["a doubled quote in single quotes", "a: 'it''s'\n"],
    ['a trailing comma', 'a: [x, y,]\n'],
    ['a nested flow list', 'a: [x, [y]]\n'],
    ['a flow mapping', 'a: {b: 1}\n'],
    ['a tab', 'a:\n\tb: 1\n'],
    ['a lone CR', 'a: 1\rb: 2\n'],
    ['a byte-order mark', '\ufeffa: 1\n'],
    ['a line separator', 'a: x\u2028y\n'],
    ['a document start', '---\na: 1\n'],
    ['a directive', '%YAML 1.2\n---\na: 1\n'],
    ['a numeric key', '1: a\n'],
    ['a null key', '~: a\n'],
    ['__proto__', '__proto__: {}\n'],
    ['an explicit key', '? a\n: b\n'],
    ['a key with a space before the colon', 'a : b\n'],
    ['a plain scalar with a space', 'a: b c\n'],
    ['a comment without a space', 'a: [x]#c\n'],
    ['an indented document', '  a: 1\n'],
    ['inconsistent indentation', 'a:\n    b: 1\n  c: 2\n'],
    ['a top-level list', '- a\n'],
    ['a top-level scalar', 'hello\n'],
    ['an item mapping', 'a:\n  - b: 1\n'],
    ['an empty item', 'a:\n  -\n'],
    ['an empty item at the key indentation', 'a:\n- x\n-\n'],
    ['a dash without a space at the key indentation', 'a:\n  b:\n  -x\n'],
    ['a list item continued on the next line', 'a:\n- x\n  y\n'],
    ['a reserved indicator', 'a: @x\n'],
    // Unicode spaces are part of a scalar to the library (`trim()` would drop them).
    ['a no-break space after a value', 'a: a/#\u00a0\n'],
    ['a no-break space before a value', 'a: \u00a0x\n'],
    ['a no-break space alone', 'a: \u00a0\n'],
    ['an em space before a comment', 'a: \u2003#c\n'],
    ['an ideographic space in a flow list', 'a: [\u3000b, c\u3000]\n'],
    ['a thin space after a list dash', 'a:\n  - \u2009x\n'],
    ['a quoted key and a no-break space', '"a": \u00a0x\n'],
    // A CR not followed by an LF is content to the library, the last line's too.
    ['a CR ending the file', 'a: x\r'],
    ['a CR ending the last list item', 'a:\n  - a/#\r'],
    ['a lone CR after the last line', 'a: x\n\r'],
    ['a key over 1024 characters', `${'k'.repeat(1025)}: x\n`],
    ['a quoted key over 1024 characters', `a:\n  "${'k'.repeat(1023)}": x\n`],
    ['mappings nested 33 deep (the library overflows its stack ~900 deep)', `${Array.from({ length: 34 }, (_, i) => `${' '.repeat(i)}k:`).join('\n')} v\n`],
  ];
  for (const [name, text] of refused) {
    it(name, () => {
      assert.equal(readSimpleYaml(text, false), undefined);
    });
  }
});

// ---- generated documents --------------------------------------------------------------------

const keyToken = fc.constantFrom('a', 'b', 'sub', 'pub', 'x-y', 'a.b', 'true', '1', '0x1', '~', 'null', '"q"', "'s'", '"a b"', '-x', '__proto__', 'a#b');
const valueToken = fc.constantFrom(
  '', ' v', ' a/#\u00a0', ' \u00a0x', ' \u2003#c', ' [\u3000a, b]', ' [a,\u00a0b]', ' "q v"', " 'x'", ' [a, "b"]', ' []', ' [ ]', ' {}', ' {a: 1}', ' [a,]', ' true', ' False', ' 1.5', ' .inf', ' .NaN',
  ' ~', ' null', ' 0o17', ' -3', ' a #c', ' a#c', ' |', ' &x a', ' *x', ' !!str 1', ' a: b', ' [a, [b]]', ' "a\\"b"',
  " 'a''b'", ' [x/#, +/y]', ' a/#', ' "#"', ' #c', ' @a', ' %a', ' [a b]', ' "x" y', ' {} z',
);
const line = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(fc.constantFrom(0, 0, 2, 2, 4, 1, 3), keyToken, valueToken).map(([i, k, v]) => `${' '.repeat(i)}${k}:${v}`) },
  { weight: 2, arbitrary: fc.tuple(fc.constantFrom(2, 4, 0), fc.constantFrom('- a', '- "b"', '-', '- [a]', '- a: b', '-x', '- 1', '- a #c', '- \u00a0a')).map(([i, item]) => `${' '.repeat(i)}${item}`) },
  { weight: 1, arbitrary: fc.constantFrom('', '# c', '   # c', '  ') },
);
const documentText = fc.tuple(fc.array(line, { minLength: 1, maxLength: 8 }), fc.constantFrom('\n', '', '\r')).map(([lines, end]) => lines.join('\n') + end);
/** Documents shaped like real ACL and keys files, now and then with one odd line put in. */
const goodKey = fc.constantFrom('a', 'b', 'sub', 'pub', 'x-y', 'q', '"a b"', "'c'", 'admin', 'true');
const goodScalar = fc.constantFrom('a/#', '"#"', "'+/x'", 'p/+/t', '"a b"', '1', 'true', '~', '0x1F', 'x#y');
const field = fc.tuple(goodKey, fc.oneof(
  fc.array(goodScalar, { maxLength: 3 }).map((items) => ({ flow: items })),
  fc.tuple(fc.array(goodScalar, { minLength: 1, maxLength: 3 }), fc.boolean()).map(([items, atKey]) => ({ block: items, atKey })),
  goodScalar.map((scalar) => ({ scalar })),
));
const entry = fc.tuple(
  goodKey,
  fc.option(fc.uniqueArray(field, { maxLength: 3, selector: ([name]) => name }), { nil: undefined }),
  fc.constantFrom(2, 4),
);
const oddLine = fc.oneof({ weight: 2, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: line });
const structuredText = fc.tuple(fc.uniqueArray(entry, { minLength: 1, maxLength: 5, selector: ([key]) => key }), oddLine, fc.nat(30)).map(([entries, odd, at]) => entriesText(entries, odd, at));
/** Like structuredText, with users and their keys repeated now and then. */
const repeatingText = fc
  .tuple(fc.array(fc.tuple(fc.constantFrom('a', 'b', '"a"'), fc.option(fc.array(field, { maxLength: 3 }), { nil: undefined }), fc.constantFrom(2, 4)), { minLength: 1, maxLength: 5 }), oddLine, fc.nat(30))
  .map(([entries, odd, at]) => entriesText(entries, odd, at));

type Field = [string, { flow: string[] } | { block: string[]; atKey: boolean } | { scalar: string }];
function entriesText(entries: readonly [string, readonly Field[] | undefined, number][], odd: string | undefined, at: number): string {
  const lines: string[] = [];
  for (const [key, fields, indent] of entries) {
    if (fields === undefined) {
      lines.push(`${key}: {}`);
      continue;
    }
    lines.push(`${key}:`);
    const pad = ' '.repeat(indent);
    for (const [name, value] of fields) {
      if ('flow' in value) lines.push(`${pad}${name}: [${value.flow.join(', ')}]`);
      else if ('scalar' in value) lines.push(`${pad}${name}: ${value.scalar}`);
      else lines.push(`${pad}${name}:`, ...value.block.map((item) => `${pad}${value.atKey ? '' : '  '}- ${item}`));
    }
  }
  if (odd !== undefined) lines.splice(at % (lines.length + 1), 0, odd);
  return `${lines.join('\n')}\n`;
}

const pathSegment = fc.constantFrom<PropertyKey>('a', 'b', 'sub', 'x-y', 'q', 0, 1, 2);
const path = fc.array(pathSegment, { minLength: 1, maxLength: 3 });

describe('readSimpleYaml against the library on generated documents', () => {
  for (const failsafe of [false, true]) {
    it(`${failsafe ? 'failsafe' : 'core'} schema: same value and same lines whenever it reads one`, () => {
      let read = 0;
      fc.assert(
        fc.property(fc.oneof(documentText, structuredText), fc.array(path, { minLength: 1, maxLength: 4 }), (text, paths) => {
          const fast = readSimpleYaml(text, failsafe);
          if (fast === undefined) return;
          read++;
          const lib = libraryValue(text, failsafe);
          assert.ok(lib !== undefined, `the library refuses what the fast reader read:\n${text}`);
          assert.deepStrictEqual(fast, lib.value, text);
          for (const p of paths) assert.equal(simpleYamlLine(text, p), lib.lines.lineOf(p), `${JSON.stringify(p)} in\n${text}`);
        }),
        { seed: failsafe ? 0x5a1f : 0xc0de, numRuns: 6000 },
      );
      // Not vacuous: a good share of the documents took the fast path.
      assert.ok(read > 1000, `only ${read} documents read`);
    });

    it(`${failsafe ? 'failsafe' : 'core'} schema: a repeated key where the library reports its first error`, () => {
      let repeats = 0;
      fc.assert(
        fc.property(repeatingText, (text) => {
          const keys = new Set<string>();
          let repeat: DuplicateKey | undefined;
          try {
            streamSimpleYamlTop(text, failsafe, (key) => {
              if (keys.has(key)) return false;
              keys.add(key);
              return true;
            });
          } catch (e) {
            if (!(e instanceof DuplicateKey)) throw e;
            repeat = e;
          }
          if (repeat === undefined) return;
          repeats++;
          // The library's first error is a repeat (it places one after an empty value at the end
          // of that value; parseYaml, on the library's path here, places every one at its key).
          const first = parseDocument(text, { schema: failsafe ? 'failsafe' : 'core', uniqueKeys: true }).errors[0];
          assert.equal(first?.code, 'DUPLICATE_KEY', text);
          assert.throws(() => parseYaml(text, 'f', failsafe), { message: `f:${repeat.line}: invalid YAML: Map keys must be unique (column ${repeat.column})` }, text);
        }),
        { seed: failsafe ? 0xd0b1 : 0xd0b2, numRuns: 3000 },
      );
      assert.ok(repeats > 300, `only ${repeats} repeats`);
    });
  }
});

describe('parseYaml and parseAclText with the fast reader', () => {
  it('takes the fast path for every sample file the project ships', () => {
    const dirs = [FIXTURES, join(FIXTURES, '..', '..', '..', 'packaging', 'etc-psrtd')];
    let checked = 0;
    for (const dir of dirs) {
      for (const name of readdirSync(dir).filter((f) => /^(acl|keys).*\.ya?ml(-dist)?$/.test(f))) {
        const text = readFileSync(join(dir, name), 'utf8');
        assert.equal(streamSimpleYamlTop(text, name.startsWith('keys'), () => true), 'mapping', name);
        checked++;
      }
    }
    assert.ok(checked >= 3, `only ${checked} files`);
  });

  it('locates an error in a file read by the fast reader', () => {
    const text = 'a:\n  sub: [x]\n# c\nb:\n  pub:\n    - y\n    - ""\n';
    assert.equal(streamSimpleYamlTop(text, false, () => true), 'mapping');
    assert.throws(() => parseAclText(text, 'acl.yml'), { message: 'acl.yml:7: user "b": pub[1]: must not be empty' });
  });

  it('reports a duplicate key with its line on the library path (anchors send it there)', () => {
    const text = 'base: &b {}\na:\n  sub: [x]\nb: *b\na: {}\n';
    assert.throws(() => parseYaml(text, 'acl.yml'), { message: 'acl.yml:5: invalid YAML: Map keys must be unique (column 1)' });
    const nested = 'x: &x 1\na:\n  sub: [x]\n  sub: [y]\n';
    assert.throws(() => parseYaml(nested, 'acl.yml'), { message: 'acl.yml:4: invalid YAML: Map keys must be unique (column 3)' });
    assert.throws(() => parseYaml('x: &x 1\na: {b: 1, b: 2}\n', 'c.yml'), /c\.yml:2: invalid YAML: Map keys must be unique/);
    // The first repeat in the text, whichever mapping it is in, and before a later syntax error:
    // the library's own first error, and what the fast reader reports for the same file.
    const both = 'a:\n  sub: [x]\n  sub: [y]\nb: {}\nb: {}\n';
    const bothMessage = 'acl.yml:3: invalid YAML: Map keys must be unique (column 3)';
    assert.throws(() => parseYaml(both, 'acl.yml'), { message: bothMessage });
    assert.throws(() => parseAclText(both, 'acl.yml'), { message: bothMessage });
    assert.throws(() => parseYaml(`x: &x 1\n${both}`, 'acl.yml'), { message: 'acl.yml:4: invalid YAML: Map keys must be unique (column 3)' });
    assert.throws(() => parseYaml('a: 1\na: 2\nb: "x\n', 'acl.yml'), { message: 'acl.yml:2: invalid YAML: Map keys must be unique (column 1)' });
  });

  it('never reads a mask with a Unicode space or a CR around it as another mask', () => {
    const user = (text: string): AclEntry => {
      const entry = parseAclText(text, 'acl.yml').get('u');
      assert.ok(entry !== undefined);
      return entry;
    };
    const flow = user('u:\n  pub: [a/#\u00a0, \u3000b]\n');
    assert.equal(flow.canPublish('a/x'), false);
    assert.equal(flow.canPublish('b'), false);
    assert.equal(flow.canPublish('\u3000b'), true);
    assert.equal(user('u:\n  sub:\n    - \u2003a/#\n').canSubscribe('a/x'), false);
    assert.equal(user('u:\n  sub:\n    - x/#\r').canSubscribe('x/y'), false);
    const acl = parseAclText('u: {}\n', 'acl.yml');
    const hex = 'ab'.repeat(32);
    const keys = parseKeysText(`u: ${hex}\r`, 'keys.yml', acl, () => undefined);
    assert.equal(keys.get('u')?.toString('hex'), hex); // the library's "<hex>\r", trimmed
  });

  it('gives users with the same rights one shared entry, and others their own', () => {
    const acl = parseAclText(
      'a:\n  pub: [p/#]\nb:\n  pub: ["p/#"]\nc:\n  pub: [p/#]\n  admin: true\nd:\n  pub: [p/#, q]\ne:\n  sub: [p/#]\n',
      'acl.yml',
    );
    assert.equal(acl.get('a'), acl.get('b'));
    const distinct = new Set(['a', 'c', 'd', 'e'].map((u) => acl.get(u)));
    assert.equal(distinct.size, 4);
    assert.equal(acl.get('e')?.canPublish('p/x'), false);
    assert.equal(acl.get('a')?.canPublish('p/x'), true);
  });

  it('never merges lists whose masks only join to the same text', () => {
    // Library path (the escape), so the masks may hold a NUL or a quote.
    const acl = parseAclText('a:\n  pub: ["x", "y"]\nb:\n  pub: ["x\\",\\"y"]\nc:\n  pub: ["x\\u0000y"]\n', 'acl.yml');
    assert.notEqual(acl.get('a'), acl.get('b'));
    assert.equal(acl.get('a')?.canPublish('y'), true);
    assert.equal(acl.get('b')?.canPublish('y'), false);
    assert.equal(acl.get('c')?.canPublish('y'), false);
  });

  it('checks a large CRLF file for unusual characters block by block, with the right line', () => {
    const lines: string[] = [];
    for (let i = 0; i < 20_000; i++) lines.push(`user${i}:`, `  pub: [a/${i}/#]`);
    const crlf = `${lines.join('\r\n')}\r\n`;
    const lf = `${lines.join('\n')}\n`;
    assert.deepEqual(readSimpleYaml(crlf, false), readSimpleYaml(lf, false));
    assert.equal(streamSimpleYamlTop(crlf, false, () => true), 'mapping');
    for (const at of [1, 7_000, 39_999]) {
      const bad = [...lines];
      bad[at] = `${bad[at] ?? ''}\t`;
      const r = streamSimpleYamlTop(`${bad.join('\r\n')}\r\n`, false, () => true);
      assert.ok(r instanceof OutsideSubset, String(at));
      assert.deepEqual([r.line, r.message], [at + 1, 'the character U+0009']);
    }
    const loneCr = streamSimpleYamlTop(`${lines.join('\r\n')}\r`, false, () => true);
    assert.ok(loneCr instanceof OutsideSubset, 'a CR at the very end is content, which the library reads');
  });

  it('refuses a file too large for the library when it is outside the plain subset, naming the line', () => {
    const users = 'u'.repeat(40);
    const lines: string[] = [];
    for (let i = 0; lines.length * 60 < LIBRARY_YAML_MAX_BYTES + 1024; i++) lines.push(`${users}${i}:\n  pub: [a/#]`);
    lines.push('anchored: &x {}');
    const text = `${lines.join('\n')}\n`;
    const line = text.split('\n').length - 1;
    assert.throws(() => parseAclText(text, 'acl.yml'), (e: unknown) => {
      assert.ok(e instanceof Error);
      assert.match(e.message, new RegExp(`^acl\\.yml:${line}: a value starting with "&x \\{\\}" is outside the plain YAML a file of 1[67] MB must be written in`));
      return true;
    });
    // The same file without the anchor loads.
    assert.equal(parseAclText(text.replace('&x {}', '{}'), 'acl.yml').size, lines.length);
  });

  it('reports a repeated user of a large file with its line, without the library', () => {
    const lines: string[] = [];
    for (let i = 0; i < 30_000; i++) lines.push(`user${i}:\n  sub: [x/${i}]`);
    lines.push('user17:\n  sub: [y]');
    assert.throws(() => parseAclText(`${lines.join('\n')}\n`, 'acl.yml'), { message: 'acl.yml:60001: invalid YAML: Map keys must be unique (column 1)' });
    assert.throws(
      () => parseKeysText(`a: ${'0'.repeat(64)}\nb: 1\na: 2\n`, 'keys.yml', new Map(), () => undefined),
      { message: 'keys.yml:3: invalid YAML: Map keys must be unique (column 1)' },
    );
  });

  it('reads a large ACL in slices with turns of the event loop between them, to the same result', async () => {
    const lines: string[] = [];
    for (let i = 0; i < 50_000; i++) lines.push(`sensor${i}:\n  sub: ["p/cmd/${i}/#"]\n  pub: [p/data/${i}/#, alarms]`);
    const text = `${lines.join('\n')}\n`;
    let turns = 0;
    let running = true;
    const tick = (): void => {
      turns++;
      if (running) setImmediate(tick);
    };
    setImmediate(tick);
    const acl = await parseAclTextCooperatively(text, 'acl.yml');
    running = false;
    const direct = parseAclText(text, 'acl.yml');
    assert.equal(acl.size, 50_000);
    assert.ok(turns >= 3, `only ${turns} turns of the event loop during the load`);
    for (const user of ['sensor0', 'sensor49999', 'sensor123']) {
      const i = user.slice(6);
      for (const topic of [`p/data/${i}/t`, `p/data/${i}x/t`, 'alarms', 'p/cmd/1/x']) {
        assert.equal(acl.get(user)?.canPublish(topic), direct.get(user)?.canPublish(topic), `${user} ${topic}`);
      }
      assert.equal(acl.get(user)?.canSubscribe(`p/cmd/${i}/#`), true);
      assert.equal(acl.get(user)?.canSubscribe('p/cmd/+/#'), false);
    }
  });
});
