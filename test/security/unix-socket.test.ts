/**
 * Unix socket listeners take optional mode/owner/group settings (proto.unix_socket_mode,
 * unix_socket_owner, unix_socket_group). Pass criteria: a real psrtd with mode "0600" and its
 * own group creates the socket file with exactly mode 0600 and that group, and serves a login
 * over it; without the keys the mode stays 0770; an unknown owner name is a start-up error
 * (exit 1) naming the key.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { PSRTD_BIN, startPsrtd, writeConfig } from '../helpers/psrtd.js';
import { Bystander } from '../helpers/raw.js';

describe('unix socket mode, owner and group', () => {
  test('mode 0600 and the own group are applied; clients connect', async () => {
    const gid = process.getgid?.() ?? 0;
    const server = await startPsrtd({ unix: true, proto: { unix_socket_mode: '0600', unix_socket_group: String(gid) } });
    try {
      const st = statSync(server.unixPath ?? '');
      assert.equal(st.mode & 0o7777, 0o600);
      assert.equal(st.gid, gid);
      const b = await Bystander.create(server.unixPath ?? '');
      await b.check();
      b.close();
    } finally {
      assert.equal(await server.stop(), 0);
    }
  });

  test('default mode stays 0770', async () => {
    const server = await startPsrtd({ unix: true });
    try {
      assert.equal(statSync(server.unixPath ?? '').mode & 0o7777, 0o770);
    } finally {
      assert.equal(await server.stop(), 0);
    }
  });

  test('an unknown owner is a start-up error naming the key', () => {
    const dir = mkdtempSync(join(tmpdir(), 'psrtd-unix-'));
    try {
      const config = writeConfig(dir, { unix: true, proto: { unix_socket_owner: 'no-such-user-psrt' } });
      const r = spawnSync(process.execPath, [PSRTD_BIN, '-C', config], { encoding: 'utf8', timeout: 20_000 });
      assert.equal(r.status, 1, r.stdout + r.stderr);
      assert.match(r.stdout + r.stderr, /proto\.unix_socket_owner: unknown owner "no-such-user-psrt"/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
