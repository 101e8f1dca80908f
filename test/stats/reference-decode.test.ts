/** The reference's base64 (Rust base64 0.13) and UTF-8 (Rust str::from_utf8) error behaviour. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { decodeBase64Reference, decodeUtf8Reference } from '../../src/stats/index.js';

function ok(input: string): string {
  const r = decodeBase64Reference(input);
  assert.ok(r.ok, `${input}: ${r.ok ? '' : r.error}`);
  return r.value.toString('latin1');
}

function err(input: string): string {
  const r = decodeBase64Reference(input);
  assert.ok(!r.ok, `${input} should fail`);
  return r.error;
}

describe('base64 (reference decoder)', () => {
  test('padded and unpadded forms decode alike', () => {
    assert.equal(ok(''), '');
    assert.equal(ok('YWRtaW46cHc='), 'admin:pw');
    assert.equal(ok('YWRtaW46cHc'), 'admin:pw');
    assert.equal(ok('YQ=='), 'a');
    assert.equal(ok('YQ='), 'a');
    assert.equal(ok('YQ'), 'a');
    assert.equal(ok('YWI'), 'ab');
  });

  test('lengths ≡ 1, 5 (mod 8) are invalid; a bad last byte is reported instead', () => {
    assert.equal(err('Y'), 'Encoded text cannot have a 6-bit remainder.');
    assert.equal(err('YWJjZ'), 'Encoded text cannot have a 6-bit remainder.');
    assert.equal(err('YWJj='), 'Encoded text cannot have a 6-bit remainder.');
    assert.equal(err('YWJj!'), 'Invalid byte 33, offset 4.');
    assert.equal(err('YWJjZGVmZ'), 'Encoded text cannot have a 6-bit remainder.');
  });

  test('invalid symbols are reported at their offset', () => {
    assert.equal(err('YW*j'), 'Invalid byte 42, offset 2.');
    assert.equal(err('YWJj ZGV'), 'Invalid byte 32, offset 4.');
    assert.equal(err('YWJj-_'), 'Invalid byte 45, offset 4.'); // URL-safe alphabet is not accepted
  });

  test('padding only at positions 2 and 3 of a quad, only at the end', () => {
    assert.equal(err('Y==='), 'Invalid byte 61, offset 1.');
    assert.equal(err('=YWJ'), 'Invalid byte 61, offset 0.');
    assert.equal(err('YQ==YQ=='), 'Invalid byte 61, offset 2.');
    assert.equal(err('YWJjZ==='), 'Invalid byte 61, offset 5.');
    assert.equal(err('YQ======'), 'Invalid byte 61, offset 2.');
  });

  test('non-zero unused bits of the last symbol are rejected', () => {
    assert.equal(err('YR=='), 'Invalid last symbol 82, offset 1.');
    assert.equal(err('YWJ='), 'Invalid last symbol 74, offset 2.');
  });

  test('agrees with Buffer for every canonical encoding', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const b64 = Buffer.from(bytes).toString('base64');
        const r = decodeBase64Reference(b64);
        return r.ok && r.value.equals(Buffer.from(bytes));
      }),
    );
  });
});

describe('UTF-8 (reference error texts)', () => {
  const text = (bytes: number[]): string => {
    const r = decodeUtf8Reference(Uint8Array.from(bytes));
    return r.ok ? `ok:${r.value}` : r.error;
  };

  test('valid input decodes', () => {
    assert.equal(text([0x61, 0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80]), 'ok:aé€😀');
  });

  test('invalid sequences report their length and start', () => {
    assert.equal(text([0x61, 0xff]), 'invalid utf-8 sequence of 1 bytes from index 1');
    assert.equal(text([0xc0, 0x80]), 'invalid utf-8 sequence of 1 bytes from index 0'); // overlong lead
    assert.equal(text([0xe0, 0x80, 0x80]), 'invalid utf-8 sequence of 1 bytes from index 0'); // overlong
    assert.equal(text([0xed, 0xa0, 0x80]), 'invalid utf-8 sequence of 1 bytes from index 0'); // surrogate
    assert.equal(text([0xe2, 0x82, 0x41]), 'invalid utf-8 sequence of 2 bytes from index 0');
    assert.equal(text([0xf0, 0x9f, 0x98, 0x41]), 'invalid utf-8 sequence of 3 bytes from index 0');
    assert.equal(text([0xf4, 0x90, 0x80, 0x80]), 'invalid utf-8 sequence of 1 bytes from index 0'); // > U+10FFFF
    assert.equal(text([0x80]), 'invalid utf-8 sequence of 1 bytes from index 0');
  });

  test('input ending inside a sequence is "incomplete"', () => {
    assert.equal(text([0x61, 0xe2, 0x82]), 'incomplete utf-8 byte sequence from index 1');
    assert.equal(text([0xf0]), 'incomplete utf-8 byte sequence from index 0');
  });

  test('agrees with TextDecoder (fatal) on validity', () => {
    const strict = new TextDecoder('utf-8', { fatal: true });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 12 }), (bytes) => {
        let valid = true;
        try {
          strict.decode(bytes);
        } catch {
          valid = false;
        }
        return decodeUtf8Reference(bytes).ok === valid;
      }),
      { numRuns: 2000 },
    );
  });
});
