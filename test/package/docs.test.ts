/**
 * The docs stand on their own: no references to documents, decisions or issue numbers outside
 * the repository, and every relative link points to a file that exists. The systemd unit's
 * comment states the runtime settings the launcher really applies.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../helpers/psrtd.js';

const DOCS = ['README.md', ...readdirSync(join(REPO_ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
const OUTSIDE = /Decision [0-9]|issue #?[0-9]|\.\.\/shared|(SERVER|PROTOCOL|CLIENT-API|CLI)\.md|§/;

test('no references to documents, decisions or issues outside the repository', () => {
  const hits = DOCS.flatMap((f) =>
    readFileSync(join(REPO_ROOT, f), 'utf8')
      .split('\n')
      .flatMap((line, i) => (OUTSIDE.test(line) ? [`${f}:${i + 1}: ${line}`] : [])),
  );
  assert.deepEqual(hits, []);
});

test('relative links point to files in the repository', () => {
  const broken = DOCS.flatMap((f) => {
    const text = readFileSync(join(REPO_ROOT, f), 'utf8');
    return [...text.matchAll(/\]\(([^)#\s]+)/g)]
      .map((m) => m[1] ?? '')
      .filter((target) => !/^[a-z]+:/.test(target) && !existsSync(join(REPO_ROOT, dirname(f), target)))
      .map((target) => `${f} -> ${target}`);
  });
  assert.deepEqual(broken, []);
});

test('the systemd unit states the semi-space size the launcher sets', () => {
  const shebang = readFileSync(join(REPO_ROOT, 'bin/psrtd.js'), 'utf8').split('\n')[0] ?? '';
  const mb = /--max-semi-space-size=(\d+)/.exec(shebang)?.[1];
  assert.ok(mb !== undefined, shebang);
  const unit = readFileSync(join(REPO_ROOT, 'packaging/psrtd.service'), 'utf8');
  const stated = [...unit.matchAll(/(\d+) MB young generation/g)].map((m) => m[1]);
  assert.deepEqual(stated, [mb]);
});

test('psrtd --help lists the listeners of the built-in config, as the README does', () => {
  const help = execFileSync(process.execPath, [join(REPO_ROOT, 'bin/psrtd.js'), '--help'], { encoding: 'utf8', timeout: 10_000 });
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  for (const listener of ['127.0.0.1:2873', '127.0.0.1:1883', 'ws://127.0.0.1:9001/mqtt']) {
    assert.ok(readme.includes(listener), listener);
    assert.ok(help.replace(/\s+/g, ' ').includes(listener), `psrtd --help does not mention ${listener}:\n${help}`);
  }
});
