/** forwardedClientIp: only a trusted proxy's header counts, and only its rightmost entry. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { forwardedClientIp } from '../../src/transport/forwarded-for.js';

const TRUSTED = new Set(['127.0.0.1', '::1']);

describe('forwardedClientIp', () => {
  const cases: [string, string | undefined, string | string[] | undefined, string | undefined][] = [
    ['the proxy wrote one entry', '127.0.0.1', '203.0.113.7', '203.0.113.7'],
    ['entries the client sent before the proxy are ignored', '127.0.0.1', '10.1.1.1, 203.0.113.7', '203.0.113.7'],
    ['repeated headers: the last one', '127.0.0.1', ['10.1.1.1', '203.0.113.7'], '203.0.113.7'],
    ['an IPv4 peer on a dual-stack socket', '::ffff:127.0.0.1', '203.0.113.7', '203.0.113.7'],
    ['an IPv6 proxy and client', '::1', ' 2001:DB8::7 ', '2001:db8::7'],
    ['an IPv4-mapped client', '127.0.0.1', '::ffff:198.51.100.2', '198.51.100.2'],
    ['not a trusted proxy', '127.0.0.2', '203.0.113.7', undefined],
    ['no header', '127.0.0.1', undefined, undefined],
    ['not an address', '127.0.0.1', '203.0.113.7, unknown', undefined],
    ['an address with a port', '127.0.0.1', '203.0.113.7:5000', undefined],
    ['empty', '127.0.0.1', '', undefined],
    ['no peer address (a unix socket)', undefined, '203.0.113.7', undefined],
  ];
  for (const [what, peer, header, want] of cases) {
    it(what, () => {
      assert.equal(forwardedClientIp(peer, header, TRUSTED), want);
    });
  }
});
