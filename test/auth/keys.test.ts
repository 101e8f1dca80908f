import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { makeAclEntry, parseAclText, parseKeysText, type AclEntry } from '../../src/auth/index.js';
import { ErrorCode, PsrtError } from '../../src/protocol/errors.js';
import { fixture } from '../config/fixtures.js';

const ACL = parseAclText(readFileSync(fixture('acl.yml'), 'utf8'), 'acl.yml');
const HEX = '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f';

function parse(text: string, acl: ReadonlyMap<string, AclEntry> = ACL) {
  const logs: [string, string][] = [];
  const keys = parseKeysText(text, 'keys.yml', acl, (level, msg) => logs.push([level, msg]));
  return { keys, logs };
}

describe('parseKeysText', () => {
  it('loads the fixture keys (lower and upper case hex)', () => {
    const { keys, logs } = parse(readFileSync(fixture('keys.yml'), 'utf8'));
    assert.deepEqual(logs, []);
    assert.deepEqual([...keys.users()], ['_', 'user1']);
    assert.equal(keys.get('_')?.toString('hex'), '9d3036b1290f16898a0f4a18b30f3ca47c7bd37680b88564be4385af9be4257e');
    assert.equal(keys.get('user1')?.length, 32);
    assert.equal(keys.get('user1')?.toString('hex'), 'e7832935e79e27913a2c5d375f9565b4bdeb2f911479de1c98362c548e80e983');
  });

  it('decodes exactly 32 bytes', () => {
    const { keys } = parse(`user1: ${HEX}\n`);
    assert.deepEqual([...(keys.get('user1') ?? [])], Array.from({ length: 32 }, (_, i) => i));
  });

  it('skips invalid keys with an error, without echoing the value', () => {
    const { keys, logs } = parse(`user1: ${HEX.slice(1)}\n_: ${'zz'.repeat(32)}\ntest: [1]\nadmin:\n`);
    assert.equal(keys.size, 0);
    assert.deepEqual(logs.map(([l]) => l), ['error', 'error', 'error', 'error']);
    for (const [, msg] of logs) assert.match(msg, /^Unable to parse key: keys\.yml:\d: \S+: expected 64 hex digits \(32 bytes\), got /);
    assert.ok(!logs.some(([, m]) => m.includes(HEX.slice(1))));
    assert.ok(!logs.some(([, m]) => m.includes('zzzz')));
  });

  it('names the line of each bad entry', () => {
    const text = [
      '# UDP keys', //                  1
      `_: ${HEX}`, //                   2
      '', //                            3
      'user1: >-', //                   4
      `  ${HEX.slice(2)}`, //           5
      'test:', //                       6
      '  - 1', //                       7
    ].join('\n');
    const { keys, logs } = parse(text, new Map([['_', makeAclEntry({})], ['user1', makeAclEntry({})], ['test', makeAclEntry({})]]));
    assert.deepEqual([...keys.users()], ['_']);
    assert.deepEqual(logs, [
      ['error', 'Unable to parse key: keys.yml:4: user1: expected 64 hex digits (32 bytes), got 62 characters'],
      ['error', 'Unable to parse key: keys.yml:6: test: expected 64 hex digits (32 bytes), got a list'],
    ]);
  });

  it('skips keys of users without an ACL entry with a warning', () => {
    const { keys, logs } = parse(`bob: ${HEX}\nuser1: ${HEX}\n`);
    assert.deepEqual([...keys.users()], ['user1']);
    assert.deepEqual(logs, [['warn', 'No ACL defined for the key bob']]);
  });

  it('accepts a key made only of decimal digits (not read as a number)', () => {
    const digits = '1234567890'.repeat(6) + '1234';
    const { keys } = parse(`user1: ${digits}\n`, new Map([['user1', makeAclEntry({})]]));
    assert.equal(keys.get('user1')?.toString('hex'), digits);
  });

  it('is empty for an empty file', () => {
    assert.equal(parse('').keys.size, 0);
  });

  it('throws a config error when the file is not a mapping or not YAML', () => {
    // Not a mapping: about the whole document (no line); not YAML: at the line of the problem.
    for (const [text, start] of [['- a\n', 'keys.yml: '], ['a: [b\n', 'keys.yml:2: invalid YAML: ']] as const) {
      assert.throws(
        () => parse(text),
        (e: unknown) => e instanceof PsrtError && e.code === ErrorCode.Config && e.message.startsWith(start),
      );
    }
  });
});
