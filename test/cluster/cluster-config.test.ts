/**
 * The cluster neighbour list parser. Pass criteria: a valid list loads with its defaults; a
 * neighbour listed twice (same `path`) is a configuration error naming the file, line and both entries,
 * since two replicators to one node deliver every message there twice.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseClusterText } from '../../src/cluster/cluster-config.js';
import { ErrorCode, PsrtError } from '../../src/protocol/errors.js';

describe('parseClusterText', () => {
  it('loads neighbours with their defaults', () => {
    const n = parseClusterText('- path: 127.0.0.1:2874\n  user: repl\n  password: x\n- path: 127.0.0.1:2875\n', 'cluster.yml', '/etc/psrtd');
    assert.deepEqual(n.map((e) => [e.path, e.user, e.tls, e.links]), [
      ['127.0.0.1:2874', 'repl', false, 8],
      ['127.0.0.1:2875', '', false, 8],
    ]);
  });

  it('rejects a neighbour listed twice, naming the file, the line and both entries', () => {
    const text = '- path: 127.0.0.1:2874\n- path: 127.0.0.1:2875\n- user: repl\n  path: 127.0.0.1:2874\n';
    assert.throws(
      () => parseClusterText(text, 'cluster.yml', '/etc/psrtd'),
      (e: unknown) => e instanceof PsrtError && e.code === ErrorCode.Config && e.message.startsWith('cluster.yml:4: [2].path: "127.0.0.1:2874" is already listed at [0]'),
    );
  });

  it('names the line of a bad entry and of a CA file it cannot read', () => {
    const problem = (text: string): string => {
      try {
        parseClusterText(text, 'cluster.yml', '/nonexistent-dir');
      } catch (e) {
        assert.ok(e instanceof PsrtError && e.code === ErrorCode.Config, String(e));
        return e.message;
      }
      assert.fail('expected a config error');
    };
    const entries = '# neighbours\n- path: 127.0.0.1:2874\n  links: 4\n- path: 127.0.0.1:2875\n';
    assert.equal(problem(`${entries}  links: 0\n`), 'cluster.yml:5: [1].links: must be at least 1, got 0');
    assert.equal(problem(`${entries}  tsl: true\n`), 'cluster.yml:5: [1].tsl: unknown key');
    assert.equal(problem(`${entries}- user: x\n`), 'cluster.yml:5: [2].path: required key is missing');
    assert.equal(
      problem(`${entries}  tls_ca: ca.pem\n`),
      'cluster.yml:5: [1].tls_ca: unable to read /nonexistent-dir/ca.pem: no such file or directory',
    );
  });
});
