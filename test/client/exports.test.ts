/**
 * The protocol constants a library user needs to read replies and frames (CLIENT-API §7:
 * version, default priority, headers, protocol version, op codes, response codes, comm modes,
 * UDP auth types) are exported by both entries, with the wire values of PROTOCOL.md §3.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as client from '../../src/client/index.js';
import * as root from '../../src/index.js';

const EXPECTED: Record<string, number | string> = {
  VERSION: '0.3.6',
  DEFAULT_PRIORITY: 0x7f,
  DEFAULT_PORT: 2873,
  CONTROL_HEADER: 0xaaee,
  DATA_HEADER: 0xabee,
  PROTOCOL_VERSION: 1,
  MODE_PLAIN: 0x00,
  MODE_TLS: 0x01,
  OP_NOP: 0x00,
  OP_PUBLISH: 0x01,
  OP_SUBSCRIBE: 0x02,
  OP_UNSUBSCRIBE: 0x03,
  OP_PUBLISH_REPL: 0x11,
  OP_PUBLISH_NO_ACK: 0x21,
  OP_BYE: 0xff,
  RESPONSE_NOP: 0x00,
  RESPONSE_OK: 0x01,
  RESPONSE_OK_WAITING: 0x02,
  RESPONSE_NOT_REQUIRED: 0xe0,
  RESPONSE_ERR_ACCESS: 0xfe,
  RESPONSE_ERR: 0xff,
  UDP_AUTH_PLAIN: 0x00,
  UDP_AUTH_AES_128_GCM: 0x02,
  UDP_AUTH_AES_256_GCM: 0x03,
};

describe('exported protocol constants', () => {
  for (const [entry, mod] of [['psrt-node/client', client], ['psrt-node', root]] as const) {
    it(`${entry} exports every constant with its wire value`, () => {
      const exported = mod as unknown as Record<string, unknown>;
      for (const [name, value] of Object.entries(EXPECTED)) assert.equal(exported[name], value, name);
    });
  }
});
