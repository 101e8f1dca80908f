/**
 * routeSocketEvents: one set of shared listeners per socket for its whole life; handing the
 * socket to its next owner changes where events go, not the listeners (an EventEmitter that
 * once held three listeners for an event keeps a 20-slot array for the socket's life).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, connect, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { routeSocketEvents, socketClosed, unrouteSocketEvents, type SocketOwner } from '../../src/transport/socket-events.js';

class Recorder implements SocketOwner {
  readonly data: string[] = [];
  closed = 0;
  onSocketData(chunk: Buffer): void {
    this.data.push(chunk.toString());
  }
  onSocketDrain(): void {
    /* not exercised */
  }
  onSocketClose(): void {
    this.closed++;
  }
}

async function socketPair(): Promise<{ server: Socket; client: Socket; close: () => Promise<void> }> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const addr = srv.address();
  if (addr === null || typeof addr === 'string') throw new Error('no port');
  const client = connect(addr.port, '127.0.0.1');
  const [server] = (await once(srv, 'connection')) as [Socket];
  return {
    server,
    client,
    close: async () => {
      client.destroy();
      server.destroy();
      await new Promise<void>((resolve) => srv.close(() => { resolve(); }));
    },
  };
}

/** Runs `body` with a connected loopback pair, closed afterwards whatever happens. */
async function withPair(body: (server: Socket, client: Socket) => Promise<void>): Promise<void> {
  const { server, client, close } = await socketPair();
  try {
    await body(server, client);
  } finally {
    await close();
  }
}

/** The acceptor's own 'close' listener, as the stream server has: counts, then forwards. */
function acceptorForwardsClose(server: Socket): { seen: number } {
  const acceptor = { seen: 0 };
  server.on('close', function (this: Socket) {
    acceptor.seen++;
    socketClosed(this);
  });
  return acceptor;
}

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(cond(), 'condition not reached within 1 s');
}

describe('routeSocketEvents', () => {
  it('hands a socket to a second owner without adding listeners; events reach only the current owner', async () => {
    await withPair(async (server, client) => {
      const first = new Recorder();
      const second = new Recorder();
      routeSocketEvents(server, first);
      client.write('a');
      await until(() => first.data.length === 1);
      routeSocketEvents(server, second);
      assert.equal(server.listenerCount('data'), 1);
      assert.equal(server.listenerCount('drain'), 1);
      assert.equal(server.listenerCount('close'), 1);
      client.write('b');
      await until(() => second.data.length === 1);
      assert.deepEqual(first.data, ['a']);
      assert.deepEqual(second.data, ['b']);
      client.destroy();
      await until(() => second.closed === 1);
      assert.equal(first.closed, 0);
    });
  });

  it('close false: no close listener of its own; the acceptor forwards with socketClosed()', async () => {
    await withPair(async (server, client) => {
      const owner = new Recorder();
      const acceptor = acceptorForwardsClose(server);
      routeSocketEvents(server, owner, false);
      routeSocketEvents(server, owner);
      assert.equal(server.listenerCount('close'), 1, 'only the acceptor listens for close');
      client.destroy();
      await until(() => owner.closed === 1);
      assert.equal(acceptor.seen, 1);
    });
  });

  it('unrouted: data stays in the paused socket for the next reader, close reaches nobody', async () => {
    await withPair(async (server, client) => {
      const owner = new Recorder();
      const acceptor = acceptorForwardsClose(server);
      routeSocketEvents(server, owner, false);
      server.pause();
      unrouteSocketEvents(server);
      assert.equal(server.listenerCount('data'), 0);
      client.write('kept');
      await until(() => server.readableLength === 4);
      assert.equal(String(server.read()), 'kept');
      client.destroy();
      server.resume();
      await once(server, 'close');
      assert.equal(acceptor.seen, 1);
      assert.deepEqual(owner.data, []);
      assert.equal(owner.closed, 0);
    });
  });
});
