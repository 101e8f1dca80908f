/**
 * Batched frame writes shared by every socket the broker's DataChannel feeds (PSRT data
 * sockets, MQTT connections): one writev per batch, small frames coalesced.
 */
import type { Socket } from 'node:net';

/** Frames below this size are copied together; bigger ones go to writev as they are. */
const SMALL_FRAME = 4096;
/** Size of one coalesced buffer (a socket read on the other side is 64 KB). */
const COALESCE_BYTES = 64 * 1024;

/**
 * Runs of small frames copied into buffers of up to COALESCE_BYTES. A copy of a small frame
 * costs far less than a stream write of it: each chunk handed to a corked socket costs a
 * buffered-write record and an iovec, so a batch of hundreds of 70-byte frames becomes one
 * or two buffers instead. Large frames are never copied.
 */
export function coalesce(frames: readonly Buffer[]): Buffer[] {
  const parts: Buffer[] = [];
  let i = 0;
  while (i < frames.length) {
    const first = frames[i] as Buffer;
    if (first.length >= SMALL_FRAME) {
      parts.push(first);
      i++;
      continue;
    }
    let end = i;
    let bytes = 0;
    for (; end < frames.length; end++) {
      const len = (frames[end] as Buffer).length;
      if (len >= SMALL_FRAME || (bytes + len > COALESCE_BYTES && end > i)) break;
      bytes += len;
    }
    if (end - i === 1) {
      parts.push(first);
    } else {
      const out = Buffer.allocUnsafe(bytes);
      let at = 0;
      for (let j = i; j < end; j++) {
        const f = frames[j] as Buffer;
        out.set(f, at);
        at += f.length;
      }
      parts.push(out);
    }
    i = end;
  }
  return parts;
}

/**
 * Writes `frames` in one go; false when the socket is above its high-water mark ('drain'
 * follows). `written` runs once every byte is written (or the socket failed).
 */
export function writeFrames(socket: Socket, frames: readonly Buffer[], written?: () => void): boolean {
  const parts = frames.length === 1 ? frames : coalesce(frames);
  if (parts.length === 0) {
    written?.();
    return true;
  }
  const only = parts.length === 1 ? parts[0] : undefined;
  if (only !== undefined) return socket.write(only, written);
  // Corked writes go out in one writev; their callbacks run after it, in order, so the last
  // one's is called when every part is written (or the socket has failed).
  socket.cork();
  const last = parts.length - 1;
  for (let i = 0; i < last; i++) socket.write(parts[i] as Buffer);
  socket.write(parts[last] as Buffer, written);
  socket.uncork();
  return !socket.writableNeedDrain;
}
