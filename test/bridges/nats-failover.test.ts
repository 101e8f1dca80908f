/** FailoverPicker: after a lost connection the first attempt goes elsewhere, once. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Server } from '@nats-io/transport-node';
import { FailoverPicker } from '../../src/bridges/nats-failover.js';

const server = (listen: string): Server => {
  const [hostname = '', port = '0'] = listen.split(':');
  return { hostname, port: Number(port), listen, src: listen, tlsName: '', reconnects: 0, lastConnect: 0, gossiped: false, didConnect: false };
};
const A = server('127.0.0.1:4001');
const B = server('127.0.0.1:4002');
const C = server('127.0.0.1:4003');

describe('FailoverPicker', () => {
  it("keeps the client's choice for the first connection", () => {
    assert.equal(new FailoverPicker().pick([A, B, C]), null);
  });

  it('sends the first attempt after a loss to another server, then lets the client rotate', () => {
    const p = new FailoverPicker();
    p.connectedTo(A.listen);
    assert.equal(p.pick([A, B, C]), B);
    assert.equal(p.pick([C, A, B]), null, 'later attempts: the client decides');
    p.connectedTo(B.listen);
    assert.equal(p.pick([B, C, A]), C);
  });

  it('keeps the choice when the client already moved on, or there is nowhere else', () => {
    const p = new FailoverPicker();
    p.connectedTo(A.listen);
    assert.equal(p.pick([B, A]), null);
    p.connectedTo(A.listen);
    assert.equal(p.pick([A]), null);
  });
});
