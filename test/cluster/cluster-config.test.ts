/**
 * The cluster neighbour list parser. Pass criteria: a valid list loads with its defaults; a
 * neighbour listed twice (same `path`) is a configuration error naming the file and both entries,
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

  it('rejects a neighbour listed twice, naming the file and both entries', () => {
    const text = '- path: 127.0.0.1:2874\n- path: 127.0.0.1:2875\n- path: 127.0.0.1:2874\n  user: repl\n';
    assert.throws(
      () => parseClusterText(text, 'cluster.yml', '/etc/psrtd'),
      (e: unknown) => e instanceof PsrtError && e.code === ErrorCode.Config && e.message.startsWith('cluster.yml: [2].path: "127.0.0.1:2874" is already listed at [0]'),
    );
  });
});
