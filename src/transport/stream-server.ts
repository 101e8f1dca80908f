/**
 * Stream listeners (TCP and unix) for control and data sockets. Unix socket files are replaced
 * on bind, set to mode 0770 (or proto.unix_socket_mode/owner/group) and removed on close
 * (SERVER.md §4.2).
 */
import { rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { flatAddress, formatAddress, type StreamContext } from './context.js';
import { listenOn, parseBind, type BindTarget } from './bind.js';
import { acceptStream } from './greeting.js';
import { applyUnixSocketAccess, resolveUnixSocketAccess, type UnixSocketAccess } from './unix-socket-access.js';
import type { ConnectionGate } from './connection-gate.js';
import { socketClosed } from './socket-events.js';

export interface BoundStream {
  readonly target: BindTarget;
  /** Actual address: `ip:port` (real port when 0 was asked) or the socket path. */
  readonly address: string;
  readonly port: number | null;
}

export class StreamServer {
  private readonly servers: Server[] = [];
  private readonly unixPaths: string[] = [];
  private readonly sockets = new Set<Socket>();
  /**
   * The one 'close' listener of every accepted socket, shared (called with the socket as
   * `this`): bookkeeping, then the socket's owner hears of it (socket-events.ts).
   */
  private readonly closed: (this: Socket) => void;
  private readonly unixAccess: { mode: number; uid: number; gid: number };

  /** Throws PsrtError(Config) when a unix socket owner or group name is unknown. */
  constructor(
    private readonly ctx: StreamContext,
    /** Shared by every listener: server.max_connections and the descriptor budget. */
    private readonly gate: ConnectionGate,
    unixAccess: UnixSocketAccess = {},
  ) {
    this.unixAccess = resolveUnixSocketAccess(unixAccess);
    this.closed = closedIn(this.sockets, gate);
  }

  get connectionCount(): number {
    return this.sockets.size;
  }

  async bind(entries: readonly string[]): Promise<BoundStream[]> {
    const bound: BoundStream[] = [];
    for (const entry of entries) bound.push(await this.bindOne(parseBind(entry)));
    return bound;
  }

  /** Stops listening, drops every connection and removes unix socket files. */
  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await Promise.all(
      this.servers.map(
        (srv) =>
          new Promise<void>((resolve) => {
            srv.close(() => {
              resolve();
            });
          }),
      ),
    );
    this.removeUnixFiles();
  }

  removeUnixFiles(): void {
    for (const p of this.unixPaths) rmSync(p, { force: true });
  }

  private async bindOne(target: BindTarget): Promise<BoundStream> {
    const unix = target.kind === 'unix';
    const server = createServer({ noDelay: !unix, pauseOnConnect: false }, (socket) => {
      this.accept(socket, unix, target);
    });
    if (unix) {
      this.ctx.log.info(`binding UNIX socket to: ${target.path}`);
      rmSync(target.path, { force: true });
    } else {
      this.ctx.log.info(`binding TCP socket to: ${target.source}`);
    }
    await listenOn(server, target);
    this.gate.watch(server, 'PSRT');
    this.servers.push(server);
    if (target.kind === 'unix') {
      this.unixPaths.push(target.path);
      applyUnixSocketAccess(target.path, this.unixAccess);
      return { target, address: target.path, port: null };
    }
    const info = server.address();
    const port = typeof info === 'object' && info !== null ? info.port : target.port;
    const address = formatAddress(typeof info === 'object' && info !== null ? info.address : target.host, port);
    this.ctx.log.info(`listening on TCP ${address}`);
    return { target, address, port };
  }

  private accept(socket: Socket, unix: boolean, target: BindTarget): void {
    if (!this.gate.admit(socket, 'PSRT', false)) return;
    this.sockets.add(socket);
    socket.on('close', this.closed);
    const address = unix ? target.source : flatAddress(socket);
    acceptStream(this.ctx, { socket, address, unix });
  }
}

function closedIn(sockets: Set<Socket>, gate: ConnectionGate): (this: Socket) => void {
  return function closed(this: Socket): void {
    sockets.delete(this);
    gate.released();
    socketClosed(this);
  };
}

