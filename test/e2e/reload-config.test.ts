/**
 * SIGHUP and config.yml: a reload applies the bridges and mqtt.sys_interval from it; every other
 * key that changed is named with its line and its values (a restart applies it), never ignored
 * in silence, and the running value stays in force meanwhile.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startPsrtd, type Psrtd } from '../helpers/psrtd.js';
import { login } from '../helpers/raw.js';

const RESTART_ONLY = 'a reload does not apply it, the running value stays until psrtd restarts';

async function reload(server: Psrtd): Promise<string[]> {
  const from = server.output.length;
  server.proc.kill('SIGHUP');
  const deadline = Date.now() + 5000;
  while (!server.output.slice(from).some((l) => l.includes('SIGHUP reload done'))) {
    if (Date.now() > deadline) throw new Error(`no reload end line; output:\n${server.output.slice(from).join('\n')}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return server.output.slice(from);
}

describe('SIGHUP with an edited config.yml', () => {
  let server: Psrtd;
  let file: string;
  before(async () => {
    server = await startPsrtd({ server: { data_queue: 1024 } });
    file = join(server.dir, 'config.yml');
  });
  after(async () => {
    assert.equal(await server.stop(), 0);
  });

  test('an unchanged file: no restart-only line', async () => {
    const lines = await reload(server);
    assert.deepEqual(lines.filter((l) => l.includes(RESTART_ONLY)), []);
    assert.ok(lines.some((l) => l.includes('SIGHUP reload done in')));
  });

  test('changed keys a reload cannot apply are named with file, line and values; the running values stay', async () => {
    const text = readFileSync(file, 'utf8');
    const edited = text.replace('allow_anonymous: true', 'allow_anonymous: false').replace('data_queue: 1024', 'data_queue: 10');
    assert.notEqual(edited, text);
    writeFileSync(file, edited);
    const lines = (await reload(server)).filter((l) => l.includes(RESTART_ONLY));
    const lineOf = (key: string): number => edited.split('\n').findIndex((l) => l.trim().startsWith(`${key}:`)) + 1;
    assert.equal(lines.length, 2, lines.join('\n'));
    assert.ok(lines.some((l) => l.includes(`${file}:${lineOf('data_queue')}: server.data_queue changed (1024 → 10)`)), lines.join('\n'));
    assert.ok(lines.some((l) => l.includes(`${file}:${lineOf('allow_anonymous')}: auth.allow_anonymous changed (true → false)`)), lines.join('\n'));
    // As the line says: anonymous logins stay allowed until a restart.
    const { ctl } = await login(server.port);
    ctl.destroy();
  });
});
