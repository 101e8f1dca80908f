/**
 * Secrets stay out of logs: a client printed with console.log / util.inspect (any depth, hidden
 * properties off) or JSON.stringify shows address, user and state, never the password or key;
 * psrtd -v does not log the session token (a credential: it attaches a data socket).
 */
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { describe, it } from 'node:test';
import { PsrtClient, PsrtUdpClient, resolveOptions } from '../../src/client/index.js';
import { startPsrtd } from '../helpers/psrtd.js';
import { attachData, login } from '../helpers/raw.js';
import { FakeServer } from './fake-server.js';

const PASSWORD = 'S3cr3t-pa55word';
const KEY = 'ab'.repeat(32);

function assertNoSecret(text: string, secrets: readonly string[]): void {
  for (const s of secrets) assert.ok(!text.includes(s), `secret ${s} in:\n${text}`);
}

describe('redaction', () => {
  it('PsrtClient: inspect and JSON show address and user, not the password', async () => {
    const server = await FakeServer.start();
    const client = await PsrtClient.connect({ path: server.address, user: 'alice', password: PASSWORD });
    try {
      for (const text of [inspect(client), inspect(client, { depth: Infinity }), JSON.stringify(client)]) {
        assertNoSecret(text, [PASSWORD]);
        assert.match(text, /alice/);
        assert.ok(text.includes(server.address), text);
      }
      assert.match(inspect(client), /^PsrtClient \{/);
    } finally {
      await client.bye();
      await server.close();
    }
  });

  it('resolved options keep the password usable but hidden from inspect and JSON', () => {
    const o = resolveOptions({ path: 'localhost:2873', user: 'u', password: PASSWORD });
    assert.equal(o.password, PASSWORD);
    assertNoSecret(inspect(o, { depth: Infinity }) + JSON.stringify(o) + JSON.stringify({ ...o }), [PASSWORD]);
  });

  it('PsrtUdpClient: neither password nor key', async () => {
    const plain = await PsrtUdpClient.create({ path: '127.0.0.1:9', user: 'bob', password: PASSWORD });
    const enc = await PsrtUdpClient.create({ path: '127.0.0.1:9', user: 'bob', key: KEY });
    try {
      for (const c of [plain, enc]) {
        const text = inspect(c, { depth: Infinity }) + JSON.stringify(c);
        assertNoSecret(text, [PASSWORD, KEY, 'abababab']);
        assert.match(text, /bob/);
      }
      assert.match(inspect(enc), /aes-256-gcm/);
    } finally {
      plain.close();
      enc.close();
    }
  });

  it('psrtd -v logs the login, not the token', async () => {
    const psrtd = await startPsrtd({ args: ['-v'] });
    try {
      const { ctl, token } = await login(psrtd.port);
      const data = await attachData(psrtd.port, token);
      await psrtd.waitForLog(/logged in as/);
      const hex = token.toString('hex');
      assert.ok(!psrtd.output.some((l) => l.includes(hex) || l.includes(hex.slice(0, 16))), psrtd.output.join('\n'));
      ctl.destroy();
      data.destroy();
    } finally {
      await psrtd.stop();
    }
  });
});
