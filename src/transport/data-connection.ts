/**
 * A data socket after its greeting: the token handshake (PROTOCOL.md §6.1), then a DataPort
 * through which the broker's DataChannel writes batched frames. Incoming bytes after the
 * handshake are read and discarded so a peer close is noticed at once (SERVER.md §18 item 2).
 */
import type { Socket } from 'node:net';
import type { DataChannel, DataPort } from '../broker/index.js';
import { ByteQueue } from '../protocol/byte-queue.js';
import { RESPONSE_ERR, RESPONSE_OK } from '../protocol/constants.js';
import { ErrorCode, PsrtError } from '../protocol/errors.js';
import { readDataHandshake } from '../protocol/handshake.js';
import { logClientError, type StreamContext } from './context.js';

const OK = Buffer.from([RESPONSE_OK]);
const REFUSED = Buffer.from([RESPONSE_ERR]);
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
function coalesce(frames: readonly Buffer[]): Buffer[] {
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

export class DataConnection implements DataPort {
  private readonly queue = new ByteQueue();
  private channel: DataChannel | null = null;
  private done = false;
  private readonly timer: NodeJS.Timeout;
  /** Armed while a write waits for 'drain': a write must complete within T (§7). */
  private writeTimer: NodeJS.Timeout | null = null;
  private readonly onHandshakeData = (chunk: Buffer): void => {
    this.queue.push(chunk);
    this.tryHandshake();
  };

  constructor(
    private readonly ctx: StreamContext,
    private readonly socket: Socket,
    private readonly address: string,
  ) {
    this.timer = setTimeout(() => {
      this.fail(new PsrtError(ErrorCode.Timeout, 'data socket handshake timed out'), false);
    }, ctx.timeoutMs);
  }

  start(surplus: Buffer): void {
    this.socket.on('data', this.onHandshakeData);
    this.socket.on('error', () => {
      /* 'close' follows */
    });
    this.socket.once('close', () => {
      this.closed();
    });
    this.queue.push(surplus);
    this.tryHandshake();
  }

  write(frames: readonly Buffer[], written?: () => void): boolean {
    const socket = this.socket;
    const parts = frames.length === 1 ? frames : coalesce(frames);
    if (parts.length === 0) {
      written?.();
      return true;
    }
    let ok: boolean;
    const only = parts.length === 1 ? parts[0] : undefined;
    if (only !== undefined) {
      ok = socket.write(only, written);
    } else {
      // Corked writes go out in one writev; their callbacks run after it, in order, so the
      // last one's is called when every part is written (or the socket has failed).
      socket.cork();
      const last = parts.length - 1;
      for (let i = 0; i < last; i++) socket.write(parts[i] as Buffer);
      socket.write(parts[last] as Buffer, written);
      socket.uncork();
      ok = !socket.writableNeedDrain;
    }
    if (!ok) this.armWriteTimer();
    return ok;
  }

  destroy(): void {
    this.socket.destroy();
  }

  end(): void {
    this.socket.end();
    const killer = setTimeout(() => {
      this.socket.destroy();
    }, this.ctx.timeoutMs);
    this.socket.once('close', () => {
      clearTimeout(killer);
    });
  }

  private tryHandshake(): void {
    if (this.done) return;
    const handshake = readDataHandshake(this.queue);
    if (handshake === null) return;
    clearTimeout(this.timer);
    this.done = true;
    this.socket.off('data', this.onHandshakeData);
    const channel = this.ctx.broker.attachData(handshake.token, this, handshake.timeoutSeconds);
    if (channel === null) {
      this.fail(new PsrtError(ErrorCode.DataChannelDenied, 'data channel access denied'), true);
      return;
    }
    this.channel = channel;
    this.socket.on('data', () => {
      /* the protocol never reads the data socket after the handshake; discard */
    });
    this.socket.on('drain', () => {
      this.clearWriteTimer();
      channel.onWritable();
    });
    this.socket.write(OK);
    this.ctx.log.info(`Data stream launched for ${this.address}`);
  }

  private armWriteTimer(): void {
    if (this.writeTimer !== null) return;
    this.writeTimer = setTimeout(() => {
      this.writeTimer = null;
      // After an event-loop stall longer than T the 'drain' may be waiting behind the timers:
      // decide after this turn's I/O (a drained socket re-arms on its next full write).
      setImmediate(() => {
        if (this.writeTimer !== null || !this.socket.writableNeedDrain || this.socket.destroyed) return;
        const label = this.channel === null ? this.address : this.ctx.broker.sessionLabel(this.channel);
        this.ctx.log.error(`data stream ${label} error Timeout: write timed out`);
        this.socket.destroy();
      });
    }, this.ctx.timeoutMs);
  }

  private clearWriteTimer(): void {
    if (this.writeTimer !== null) {
      clearTimeout(this.writeTimer);
      this.writeTimer = null;
    }
  }

  private fail(e: PsrtError, reply: boolean): void {
    clearTimeout(this.timer);
    logClientError(this.ctx, this.address, e);
    if (reply) {
      this.socket.write(REFUSED);
      this.end();
    } else {
      this.socket.destroy();
    }
  }

  private closed(): void {
    clearTimeout(this.timer);
    this.clearWriteTimer();
    if (this.channel !== null) {
      this.ctx.broker.detachData(this.channel);
      this.channel = null;
    }
  }
}
