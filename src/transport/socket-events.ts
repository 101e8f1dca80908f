/**
 * Socket events delivered to the object that owns the socket through listener functions shared
 * by every socket (EventEmitter calls a listener with `this` = the socket), instead of three
 * closures and their context per connection: ~250 bytes per idle client, which at a million
 * sensors is a quarter of a GB.
 *
 * A socket keeps its listeners when it changes hands (greeting stage → control or data
 * connection): only the owner changes. Adding and removing listeners would cost CPU on every
 * connect, and an EventEmitter that ever held three listeners for one event keeps a 20-slot
 * array for the life of the socket (~180 bytes).
 */
import type { Socket } from 'node:net';

export interface SocketOwner {
  onSocketData(chunk: Buffer): void;
  onSocketDrain(): void;
  onSocketClose(): void;
}

const OWNER = Symbol('psrt.socketOwner');

type OwnedSocket = Socket & { [OWNER]?: SocketOwner | null };

function ownerOf(socket: Socket): SocketOwner | null | undefined {
  return (socket as OwnedSocket)[OWNER];
}

function onData(this: Socket, chunk: Buffer): void {
  ownerOf(this)?.onSocketData(chunk);
}

function onDrain(this: Socket): void {
  ownerOf(this)?.onSocketDrain();
}

function onClose(this: Socket): void {
  ownerOf(this)?.onSocketClose();
}

/**
 * Routes 'data', 'drain' and 'close' of `socket` to `owner` (a socket has one owner at a time).
 * The listeners are added once; routing a routed socket again only hands it to the new owner.
 * `close` false: whoever accepted the socket has a 'close' listener of its own and calls
 * socketClosed() from it (one listener instead of two).
 */
export function routeSocketEvents(socket: Socket, owner: SocketOwner, close = true): void {
  const owned = socket as OwnedSocket;
  const routed = OWNER in owned;
  owned[OWNER] = owner;
  if (routed) return;
  socket.on('data', onData);
  socket.on('drain', onDrain);
  if (close) socket.on('close', onClose);
}

/**
 * Stops routing events of `socket` (its data goes elsewhere now, e.g. into a TLS layer): the
 * 'data' listener is removed so that the stream does not flow into it; 'close' still reaches
 * the acceptor's own listener.
 */
export function unrouteSocketEvents(socket: Socket): void {
  (socket as OwnedSocket)[OWNER] = null;
  socket.off('data', onData);
}

/** Tells the owner of `socket` that it closed (for acceptors that route with `close` false). */
export function socketClosed(socket: Socket): void {
  ownerOf(socket)?.onSocketClose();
}

/**
 * A client may half-close right after its login and requests (`printf … | nc -N`). Node would
 * then end our side at once, before a password check decides: no token, no replies. The
 * reference reads on to EOF and answers everything before it, so while a login is checked our
 * side stays open and the peer's end is only noted. Made per password check only (nothing is
 * kept per session: release() restores Node's default and drops the listener).
 */
export class PeerEndWatch {
  private ended = false;
  private readonly onEnd = (): void => {
    this.ended = true;
  };

  constructor(private readonly socket: Socket) {
    socket.allowHalfOpen = true;
    socket.once('end', this.onEnd);
  }

  /** Back to ending our side with the peer's; true when the peer ended meanwhile. */
  release(): boolean {
    this.socket.allowHalfOpen = false;
    this.socket.off('end', this.onEnd);
    return this.ended;
  }
}
