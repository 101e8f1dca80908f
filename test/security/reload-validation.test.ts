/**
 * SIGHUP validates every file before swapping anything.
 *
 * Pass criteria, against a real psrtd: after the password file is overwritten with garbage and
 * SIGHUP is sent, the log names the file, the line and the problem, and the old password still
 * logs in (before: the garbage was accepted silently and every user then failed to log in).
 * The same for a keys file with a malformed key (the ACL edit made alongside is not applied
 * either). A valid edit afterwards is applied. A well-formed line with another hash type
 * (htpasswd without -B) is logged and never matches, but does not refuse the reload.
 */
import assert from 'node:assert/strict';
import { hashSync } from '@node-rs/bcrypt';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startPsrtd, type Psrtd } from '../helpers/psrtd.js';
import { RawConn, hex, login, loginFrame } from '../helpers/raw.js';

const ACL = 'alice:\n  sub: ["#"]\n  pub: ["#"]\n';

async function loginWorks(port: number, user: string, password: string): Promise<boolean> {
  const c = await RawConn.open(port);
  c.send(Buffer.concat([hex('EE AA 00'), loginFrame(user, password)]));
  try {
    await c.read(4 + 32, 5000);
    return true;
  } catch {
    return false;
  } finally {
    c.destroy();
  }
}

async function hup(server: Psrtd, pattern: RegExp): Promise<string> {
  const from = server.output.length;
  server.proc.kill('SIGHUP');
  for (let i = 0; i < 100; i++) {
    const hit = server.output.slice(from).find((l) => pattern.test(l));
    if (hit !== undefined) return hit;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no ${pattern} after SIGHUP:\n${server.output.slice(from).join('\n')}`);
}

describe('reload validation', () => {
  let server: Psrtd;
  before(async () => {
    server = await startPsrtd({
      acl: ACL,
      passwd: `alice:${hashSync('old', 4)}\n`,
      keys: `alice: ${'11'.repeat(32)}\n`,
      auth: { allow_anonymous: false },
    });
    // A login round trip: psrtd installs its SIGHUP handler right after `starting server`.
    assert.ok(await loginWorks(server.port, 'alice', 'old'));
  });
  after(async () => {
    assert.equal(await server.stop(), 0);
  });

  test('a garbage password file is refused with file, line and problem; the old passwords stay', async () => {
    writeFileSync(join(server.dir, 'passwd'), '# users\nalice:$apr1$garbage\nthis is not a password line\nbob:$2y$05$cut\n');
    const line = await hup(server, /reload failed/);
    assert.ok(line.includes(`${join(server.dir, 'passwd')}:3: expected login:hash, got 0 colons (and 1 more)`), line);
    assert.ok(await loginWorks(server.port, 'alice', 'old'));
  });

  test('a malformed key refuses the whole reload (the ACL edit beside it is not applied)', async () => {
    writeFileSync(join(server.dir, 'passwd'), `alice:${hashSync('old', 4)}\n`);
    writeFileSync(join(server.dir, 'acl.yml'), `${ACL}bob:\n  sub: ["#"]\n`);
    writeFileSync(join(server.dir, 'keys.yml'), 'alice: 1234\n');
    const line = await hup(server, /reload failed/);
    assert.match(line, /keys\.yml:1: alice: expected 64 hex digits/);
    assert.ok(await loginWorks(server.port, 'alice', 'old'));
  });

  test('a valid edit is applied', async () => {
    writeFileSync(join(server.dir, 'passwd'), `alice:${hashSync('new', 4)}\n`);
    writeFileSync(join(server.dir, 'keys.yml'), `alice: ${'22'.repeat(32)}\n`);
    const from = server.output.length;
    server.proc.kill('SIGHUP');
    for (let i = 0; i < 100 && !server.output.slice(from).some((l) => l.includes('loading key file')); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(!server.output.slice(from).some((l) => l.includes('reload failed')));
    assert.ok(await loginWorks(server.port, 'alice', 'new'));
    assert.ok(!(await loginWorks(server.port, 'alice', 'old')));
    const { ctl } = await login(server.port, 'alice', 'new');
    ctl.destroy();
  });

  test('a line with another hash type (htpasswd without -B) is logged, never matches, and does not hold back the reload', async () => {
    writeFileSync(join(server.dir, 'passwd'), `alice:${hashSync('newer', 4)}\ncarol:$apr1$xyz$0123456789abcdefghijkl\n`);
    const from = server.output.length;
    server.proc.kill('SIGHUP');
    for (let i = 0; i < 100 && !server.output.slice(from).some((l) => l.includes('loading key file')); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 200));
    const lines = server.output.slice(from);
    assert.ok(!lines.some((l) => l.includes('reload failed')), lines.join('\n'));
    assert.ok(lines.some((l) => l.includes(`${join(server.dir, 'passwd')}:2: the hash of carol is not a bcrypt hash (use htpasswd -B) (never matches)`)), lines.join('\n'));
    assert.ok(await loginWorks(server.port, 'alice', 'newer'));
    assert.ok(!(await loginWorks(server.port, 'alice', 'new')));
    assert.ok(!(await loginWorks(server.port, 'carol', 'xyz')));
  });
});
