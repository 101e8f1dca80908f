import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { hashSync } from '@node-rs/bcrypt';
import { normalizeBcryptHash, parseHtpasswd, type Password, PasswordVerifier } from '../../src/auth/index.js';
import { fixture } from '../config/fixtures.js';

const PASSWD = parseHtpasswd(readFileSync(fixture('passwd'), 'utf8'));
/** A syntactically valid bcrypt hash for tests with a fake bcrypt. */
const FAKE_HASH = `$2y$05$${'a'.repeat(53)}`;
const FAKE_HASH_2 = `$2y$05$${'b'.repeat(53)}`;

function counting(answer: (pw: string, hash: string) => boolean) {
  const calls: [string, string][] = [];
  const bcrypt = (password: Password, hash: string) => {
    const pw = typeof password === 'string' ? password : Buffer.from(password).toString('utf8');
    calls.push([pw, hash]);
    return Promise.resolve(answer(pw, hash));
  };
  return { calls, bcrypt };
}

describe('PasswordVerifier with real bcrypt', () => {
  it('verifies htpasswd $2y$ hashes (cost 5)', async () => {
    const v = new PasswordVerifier();
    assert.equal(await v.verify('test', '123', PASSWD.get('test')), true);
    assert.equal(await v.verify('replicator', 'xxx', PASSWD.get('replicator')), true);
    assert.equal(await v.verify('replicator', '123', PASSWD.get('replicator')), false);
  });

  it('accepts $2a$, $2b$, $2x$ and $2y$ prefixes alike', async () => {
    const body = hashSync('s3cret', 4).slice(4);
    for (const prefix of ['$2a$', '$2b$', '$2x$', '$2y$']) {
      const v = new PasswordVerifier();
      assert.equal(await v.verify('u', 's3cret', prefix + body), true, prefix);
      assert.equal(await v.verify('u', 's3cret!', prefix + body), false, prefix);
    }
  });

  it('misses the cache when the hash changes (password change / reload)', async () => {
    const v = new PasswordVerifier();
    const oldHash = hashSync('old', 4);
    const newHash = hashSync('new', 4);
    assert.equal(await v.verify('u', 'old', oldHash), true);
    assert.equal(await v.verify('u', 'old', oldHash), true);
    assert.equal(v.computations, 1);
    assert.equal(await v.verify('u', 'old', newHash), false);
    assert.equal(await v.verify('u', 'new', newHash), true);
    assert.equal(v.computations, 3);
  });

  it('rejects passwords containing NUL without running bcrypt', async () => {
    const v = new PasswordVerifier();
    const hash = hashSync('ab', 4);
    assert.equal(await v.verify('u', 'a\0b', hash), false);
    assert.equal(v.computations, 0);
  });

  it('verifies the bytes of a binary (MQTT) password as they are, and refuses a NUL in them too', async () => {
    const v = new PasswordVerifier();
    const latin1 = Buffer.from('636166e9', 'hex'); // "café" in Latin-1: not UTF-8
    const hash = hashSync(latin1, 4);
    assert.equal(await v.verify('u', latin1, hash), true);
    assert.equal(await v.verify('u', latin1.toString('utf8'), hash), false); // U+FFFD in place of e9
    assert.equal(await v.verify('u', 'café', hash), false);
    const utf8 = hashSync('café', 4);
    assert.equal(await v.verify('u', Buffer.from('café'), utf8), true);
    const runs = v.computations;
    assert.equal(await v.verify('u', Buffer.from('a\0b'), hashSync('a', 4)), false);
    assert.equal(v.computations, runs);
  });

  it('only the first 72 bytes count (bcrypt semantics)', async () => {
    const v = new PasswordVerifier();
    const long = 'x'.repeat(72);
    assert.equal(await v.verify('u', `${long}tail`, hashSync(long, 4)), true);
  });
});

describe('PasswordVerifier without bcrypt', () => {
  it('never matches a missing or non-bcrypt hash', async () => {
    const { calls, bcrypt } = counting(() => true);
    const v = new PasswordVerifier({ bcrypt });
    const hashes = [undefined, '', 'secret', '$apr1$abc$defghijklmnopqrstuvwx', '{SHA}qUqP5cyxm6YcTAhz05Hph5gvu9M=', 'ab01FAX.bJ2Eo', `$2z$05$${'a'.repeat(53)}`, `$2y$05$${'a'.repeat(52)}`];
    for (const h of hashes) assert.equal(await v.verify('u', 'secret', h), false, String(h));
    assert.equal(calls.length, 0);
  });

  it('rejects costs outside 4..31', () => {
    assert.equal(normalizeBcryptHash(`$2b$03$${'a'.repeat(53)}`), undefined);
    assert.equal(normalizeBcryptHash(`$2b$32$${'a'.repeat(53)}`), undefined);
    assert.equal(normalizeBcryptHash(`$2b$31$${'a'.repeat(53)}`), `$2b$31$${'a'.repeat(53)}`);
  });

  it('rewrites $2y$/$2x$ to $2b$ and leaves $2a$/$2b$ alone', () => {
    const body = `05$${'a'.repeat(53)}`;
    assert.equal(normalizeBcryptHash(`$2y$${body}`), `$2b$${body}`);
    assert.equal(normalizeBcryptHash(`$2x$${body}`), `$2b$${body}`);
    assert.equal(normalizeBcryptHash(`$2a$${body}`), `$2a$${body}`);
  });

  it('passes the normalised hash to bcrypt', async () => {
    const { calls, bcrypt } = counting(() => true);
    await new PasswordVerifier({ bcrypt }).verify('u', 'p', FAKE_HASH);
    assert.deepEqual(calls, [['p', `$2b$05$${'a'.repeat(53)}`]]);
  });

  it('caches successes per (login, hash, password)', async () => {
    const { calls, bcrypt } = counting(() => true);
    const v = new PasswordVerifier({ bcrypt });
    await v.verify('u', 'p', FAKE_HASH);
    await v.verify('u', 'p', FAKE_HASH);
    assert.equal(calls.length, 1);
    await v.verify('u2', 'p', FAKE_HASH);
    await v.verify('u', 'p2', FAKE_HASH);
    await v.verify('u', 'p', FAKE_HASH_2);
    assert.equal(calls.length, 4);
  });

  it('coalesces concurrent identical verifications into one bcrypt', async () => {
    let release: (ok: boolean) => void = () => undefined;
    let runs = 0;
    const bcrypt = () => {
      runs++;
      return new Promise<boolean>((r) => {
        release = r;
      });
    };
    const v = new PasswordVerifier({ bcrypt });
    const all = Array.from({ length: 20 }, () => v.verify('u', 'p', FAKE_HASH));
    assert.equal(runs, 1);
    release(true);
    assert.deepEqual(await Promise.all(all), Array<boolean>(20).fill(true));
    assert.equal(runs, 1);
  });

  it('answers a repeated failure from the negative guard for 1 s', async () => {
    let now = 1000;
    const { calls, bcrypt } = counting(() => false);
    const v = new PasswordVerifier({ bcrypt, now: () => now });
    assert.equal(await v.verify('u', 'bad', FAKE_HASH), false);
    now += 999;
    assert.equal(await v.verify('u', 'bad', FAKE_HASH), false);
    assert.equal(calls.length, 1);
    now += 2;
    assert.equal(await v.verify('u', 'bad', FAKE_HASH), false);
    assert.equal(calls.length, 2);
  });

  it('does not let a failure block the right password', async () => {
    const { calls, bcrypt } = counting((pw) => pw === 'good');
    const v = new PasswordVerifier({ bcrypt, now: () => 0 });
    assert.equal(await v.verify('u', 'bad', FAKE_HASH), false);
    assert.equal(await v.verify('u', 'good', FAKE_HASH), true);
    assert.equal(calls.length, 2);
  });

  it('turns bcrypt errors into false', async () => {
    const v = new PasswordVerifier({ bcrypt: () => Promise.reject(new Error('boom')) });
    assert.equal(await v.verify('u', 'p', FAKE_HASH), false);
  });

  it('bounds the success cache (oldest evicted first)', async () => {
    const { calls, bcrypt } = counting(() => true);
    const v = new PasswordVerifier({ bcrypt, maxEntries: 2 });
    await v.verify('a', 'p', FAKE_HASH);
    await v.verify('b', 'p', FAKE_HASH);
    await v.verify('a', 'p', FAKE_HASH); // refreshes a
    await v.verify('c', 'p', FAKE_HASH); // evicts b
    assert.equal(calls.length, 3);
    await v.verify('a', 'p', FAKE_HASH);
    assert.equal(calls.length, 3);
    await v.verify('b', 'p', FAKE_HASH);
    assert.equal(calls.length, 4);
  });

  it('clear() forgets cached results', async () => {
    const { calls, bcrypt } = counting(() => true);
    const v = new PasswordVerifier({ bcrypt });
    await v.verify('a', 'p', FAKE_HASH);
    v.clear();
    await v.verify('a', 'p', FAKE_HASH);
    assert.equal(calls.length, 2);
  });

  it('isRemembered answers only for a remembered success of the same login, hash and password', async () => {
    const { calls, bcrypt } = counting((pw) => pw === 'right');
    const v = new PasswordVerifier({ bcrypt });
    assert.equal(v.isRemembered('a', 'right', FAKE_HASH), false); // nothing verified yet
    assert.equal(await v.verify('a', 'wrong', FAKE_HASH), false);
    assert.equal(v.isRemembered('a', 'wrong', FAKE_HASH), false); // a remembered failure is not a success
    assert.equal(await v.verify('a', 'right', FAKE_HASH), true);
    assert.equal(v.isRemembered('a', 'right', FAKE_HASH), true);
    assert.equal(v.isRemembered('b', 'right', FAKE_HASH), false); // another login
    assert.equal(v.isRemembered('a', 'right', FAKE_HASH_2), false); // a changed hash
    assert.equal(v.isRemembered('a', 'right\0', FAKE_HASH), false);
    assert.equal(v.isRemembered('a', 'right', 'not-a-hash'), false);
    assert.equal(calls.length, 2); // isRemembered never runs bcrypt
    v.clear();
    assert.equal(v.isRemembered('a', 'right', FAKE_HASH), false);
  });

  it('isRemembered refreshes the LRU position like a cached verify', async () => {
    const { calls, bcrypt } = counting(() => true);
    const v = new PasswordVerifier({ bcrypt, maxEntries: 2 });
    await v.verify('a', 'p', FAKE_HASH);
    await v.verify('b', 'p', FAKE_HASH);
    assert.equal(v.isRemembered('a', 'p', FAKE_HASH), true); // a is now the newest
    await v.verify('c', 'p', FAKE_HASH); // evicts b, not a
    assert.equal(v.isRemembered('a', 'p', FAKE_HASH), true);
    assert.equal(v.isRemembered('b', 'p', FAKE_HASH), false);
    assert.equal(calls.length, 3);
  });
});
