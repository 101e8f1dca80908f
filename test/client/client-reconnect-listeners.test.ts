/**
 * Listeners of the reconnect events that throw: reconnecting goes on, and the exception is
 * rethrown on a later tick (an uncaught exception, as from any listener of a socket event).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { PsrtClient } from '../../src/client/index.js';
import { FakeServer } from './fake-server.js';
import { waitFor, within } from './util.js';

describe('reconnect with throwing listeners (fake server)', () => {
  /** Exceptions nobody caught, captured here instead of failing the run. */
  let uncaught: unknown[] = [];
  beforeEach(() => {
    uncaught = [];
    process.setUncaughtExceptionCaptureCallback((err) => uncaught.push(err));
  });
  afterEach(() => {
    process.setUncaughtExceptionCaptureCallback(null);
  });

  it('a reconnectFailed listener that throws does not stop the retries', async () => {
    let refuse = 0;
    const server = await FakeServer.start({ login: () => refuse-- <= 0 });
    const client = await PsrtClient.connect({ path: server.address, reconnect: { initialDelay: 0.02, maxDelay: 0.05 } });
    try {
      await client.subscribe('t');
      const boom = new Error('listener bug (reconnectFailed)');
      client.on('reconnectFailed', () => {
        throw boom;
      });
      const reconnected = once(client, 'reconnect');
      refuse = 2; // the next two logins fail
      server.dropAll();
      await within(5000, reconnected, 'reconnect after two failed attempts');
      assert.equal(client.connected, true);
      await waitFor(() => uncaught.length === 2, 2000, 'both exceptions rethrown');
      assert.deepEqual(uncaught, [boom, boom]);
      await client.ping();
      await client.bye();
    } finally {
      client.close();
      await server.close();
    }
  });

  it('disconnect and reconnect listeners that throw: the client reconnects again next time', async () => {
    const server = await FakeServer.start();
    const client = await PsrtClient.connect({ path: server.address, reconnect: { initialDelay: 0.02 } });
    try {
      await client.subscribe('t');
      const events: string[] = [];
      client.on('disconnect', () => {
        events.push('disconnect');
        throw new Error('listener bug (disconnect)');
      });
      client.on('reconnect', () => {
        events.push('reconnect');
        throw new Error('listener bug (reconnect)');
      });
      for (let round = 1; round <= 2; round++) {
        server.dropAll();
        await waitFor(() => events.length === 2 * round && client.connected, 5000, `reconnect ${round}`);
      }
      assert.deepEqual(events, ['disconnect', 'reconnect', 'disconnect', 'reconnect']);
      await waitFor(() => uncaught.length === 4, 2000, 'all exceptions rethrown');
      assert.deepEqual(
        uncaught.map((e) => (e as Error).message),
        ['disconnect', 'reconnect', 'disconnect', 'reconnect'].map((ev) => `listener bug (${ev})`),
      );
      server.deliver('t', 'still subscribed');
      const [m] = (await within(3000, once(client, 'message'))) as [{ payload: Buffer }];
      assert.equal(m.payload.toString(), 'still subscribed');
      await client.bye();
    } finally {
      client.close();
      await server.close();
    }
  });
});
