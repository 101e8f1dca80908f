/** tlsErrorText: OpenSSL's reason for the log, without the thread id and the build path. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { tlsErrorText } from '../../src/transport/tls.js';

describe('tlsErrorText', () => {
  it('keeps the reason and the OpenSSL function, drops the thread id and the source path', () => {
    // As Node 20 reports a plain HTTP request on a TLS port (copied from a real error).
    const http = '802C0815EA7F0000:error:0A00009C:SSL routines:ssl3_get_record:http request:../deps/openssl/openssl/ssl/record/ssl3_record.c:341:\n';
    assert.equal(tlsErrorText(http), 'http request (ssl3_get_record)');
    const noCert = '40E7E4D8A37F0000:error:0A0000C7:SSL routines:tls_process_client_certificate:peer did not return a certificate:../deps/openssl/openssl/ssl/statem/statem_srvr.c:3517:';
    assert.equal(tlsErrorText(noCert), 'peer did not return a certificate (tls_process_client_certificate)');
    // OpenSSL 3 may leave the function empty.
    assert.equal(tlsErrorText('0000:error:0A000102:SSL routines::unsupported protocol:../deps/x.c:1:'), 'unsupported protocol');
  });

  it('leaves other messages as they are (trimmed)', () => {
    assert.equal(tlsErrorText('Client network socket disconnected before secure TLS connection was established\n'), 'Client network socket disconnected before secure TLS connection was established');
    assert.equal(tlsErrorText('socket hang up'), 'socket hang up');
  });
});
