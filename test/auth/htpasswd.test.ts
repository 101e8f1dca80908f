import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseHtpasswd } from '../../src/auth/index.js';
import { fixture } from '../config/fixtures.js';

describe('parseHtpasswd', () => {
  it('reads the htpasswd -B fixture', () => {
    const map = parseHtpasswd(readFileSync(fixture('passwd'), 'utf8'));
    assert.deepEqual([...map.keys()], ['test', 'user1', 'admin', 'replicator']);
    for (const hash of map.values()) assert.match(hash, /^\$2y\$05\$/);
  });

  it('ignores blank lines, comments and lines without exactly one colon', () => {
    const text = [
      '',
      '# comment: with colon',
      '   #indented:comment',
      'nocolon',
      'a:b:c',
      'bob:$2y$05$abc',
      '',
    ].join('\n');
    assert.deepEqual([...parseHtpasswd(text)], [['bob', '$2y$05$abc']]);
  });

  it('trims the file, each line and both parts (CRLF too)', () => {
    const text = '\r\n  alice : hash1 \r\n\tbob:hash2\r\n';
    assert.deepEqual([...parseHtpasswd(text)], [
      ['alice', 'hash1'],
      ['bob', 'hash2'],
    ]);
  });

  it('lets a later duplicate win', () => {
    assert.equal(parseHtpasswd('u:old\nu:new').get('u'), 'new');
  });

  it('keeps an empty login or hash like the reference', () => {
    const map = parseHtpasswd(':h\nx:');
    assert.equal(map.get(''), 'h');
    assert.equal(map.get('x'), '');
  });

  it('is empty for an empty or whitespace file', () => {
    assert.equal(parseHtpasswd('').size, 0);
    assert.equal(parseHtpasswd(' \n\t\n').size, 0);
  });

  it('round-trips any well-formed entries', () => {
    const token = fc.stringMatching(/^[A-Za-z0-9_.$/-]{1,20}$/);
    fc.assert(
      fc.property(fc.array(fc.tuple(token, token), { maxLength: 20 }), (entries) => {
        const expected = new Map(entries);
        const text = entries.map(([l, h]) => `${l}:${h}`).join('\n');
        assert.deepEqual(parseHtpasswd(text), expected);
      }),
    );
  });
});
