/**
 * Socket events delivered to the object that owns the socket through listener functions shared
 * by every socket (EventEmitter calls a listener with `this` = the socket), instead of three
 * closures and their context per connection: ~250 bytes per idle client, which at a million
 * sensors is a quarter of a GB.
 */
import type { Socket } from 'node:net';

export interface SocketOwner {
  onSocketData(chunk: Buffer): void;
  onSocketDrain(): void;
  onSocketClose(): void;
}

const OWNER = Symbol('psrt.socketOwner');

type OwnedSocket = Socket & { [OWNER]?: SocketOwner };

function ownerOf(socket: Socket): SocketOwner | undefined {
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

/** Routes 'data', 'drain' and 'close' of `socket` to `owner` (the socket has one owner). */
export function routeSocketEvents(socket: Socket, owner: SocketOwner): void {
  (socket as OwnedSocket)[OWNER] = owner;
  socket.on('data', onData);
  socket.on('drain', onDrain);
  socket.on('close', onClose);
}
