/**
 * The accept queue of psrtd's listeners. Pass criteria: a real psrtd's PSRT and MQTT TCP
 * listeners are created with the backlog capped only by the kernel's net.core.somaxconn, not
 * Node's default of 511 (read back from the kernel with `ss`, whose Send-Q column of a
 * listening socket is its backlog), so a reconnect storm is not throttled by psrtd.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { startPsrtd } from '../helpers/psrtd.js';

function backlogOf(port: number): number {
  const out = execFileSync('ss', ['-ltnH', `sport = :${port}`], { encoding: 'utf8' });
  const cols = out.trim().split(/\s+/);
  // State Recv-Q Send-Q Local:Port Peer:Port
  return Number(cols[2]);
}

describe('listen backlog', () => {
  test('PSRT and MQTT listeners ask for the whole somaxconn', async () => {
    const somaxconn = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8').trim());
    const expected = Math.min(somaxconn, 65_535);
    const server = await startPsrtd({ mqtt: {} });
    try {
      assert.ok(server.mqttPort > 0);
      assert.equal(backlogOf(server.port), expected);
      assert.equal(backlogOf(server.mqttPort), expected);
    } finally {
      assert.equal(await server.stop(), 0);
    }
  });
});
