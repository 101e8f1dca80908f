/**
 * A data socket after its greeting: the token handshake (PROTOCOL.md §6.1), then a DataPort
 * through which the broker's DataChannel writes batched frames. Incoming bytes after the
 * handshake are read and discarded so a peer close is noticed at once (SERVER.md §18 item 2).
 */
import type { Socket } from 'node:net';
import type { DataChannel, DataPort, Deadline, Expiring } from '../broker/index.js';
import { ByteQueue } from '../protocol/byte-queue.js';
import { RESPONSE_ERR, RESPONSE_OK } from '../protocol/constants.js';
import { ErrorCode, PsrtError } from '../protocol/errors.js';
import { readDataHandshake } from '../protocol/handshake.js';
import { ignoreErrorsOf, logClientError, type StreamContext } from './context.js';
import { routeSocketEvents, type SocketOwner } from './socket-events.js';
import { writeFrames } from './write-frames.js';
import { statusBuffer } from './reply-bytes.js';

export class DataConnection implements DataPort, Expiring, SocketOwner {
  /** Handshake bytes; null once the handshake is done (never read again). */
  private queue: ByteQueue | null = new ByteQueue();
  private channel: DataChannel | null = null;
  /** The handshake deadline, on the broker's shared wheel; null once done. */
  private deadline: Deadline | null;
  /** Armed while a write waits for 'drain': a write must complete within T (§7). */
  private writeTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly ctx: StreamContext,
    private readonly socket: Socket,
    private readonly address: string,
  ) {
    this.deadline = ctx.broker.wheel.deadline(this);
    this.deadline.arm(ctx.timeoutMs);
  }

  onExpired(): void {
    this.fail(new PsrtError(ErrorCode.Timeout, 'data socket handshake timed out'), false);
  }

  start(surplus: Buffer): void {
    ignoreErrorsOf(this.socket); // 'close' follows
    routeSocketEvents(this.socket, this);
    this.queue?.push(surplus);
    this.tryHandshake();
  }

  /** The handshake; afterwards input is read (so a peer close is seen at once) and dropped. */
  onSocketData(chunk: Buffer): void {
    if (this.queue === null) return;
    this.queue.push(chunk);
    this.tryHandshake();
  }

  onSocketDrain(): void {
    this.clearWriteTimer();
    this.channel?.onWritable();
  }

  onSocketClose(): void {
    this.closed();
  }

  write(frames: readonly Buffer[], written?: () => void): boolean {
    const ok = writeFrames(this.socket, frames, written);
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
    this.socket.on('close', () => {
      clearTimeout(killer);
    });
  }

  private tryHandshake(): void {
    if (this.queue === null) return;
    const handshake = readDataHandshake(this.queue);
    if (handshake === null) return;
    this.clearDeadline();
    this.queue = null;
    const channel = this.ctx.broker.attachData(handshake.token, this, handshake.timeoutSeconds);
    if (channel === null) {
      this.fail(new PsrtError(ErrorCode.DataChannelDenied, 'data channel access denied'), true);
      return;
    }
    this.channel = channel;
    this.socket.write(statusBuffer(RESPONSE_OK));
    if (this.ctx.log.enabled('info')) this.ctx.log.info(`Data stream launched for ${this.address}`);
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

  private clearDeadline(): void {
    this.deadline?.disarm();
    this.deadline = null;
  }

  private fail(e: PsrtError, reply: boolean): void {
    this.clearDeadline();
    this.queue = null;
    logClientError(this.ctx, this.address, e);
    if (reply) {
      this.socket.write(statusBuffer(RESPONSE_ERR));
      this.end();
    } else {
      this.socket.destroy();
    }
  }

  private closed(): void {
    this.clearDeadline();
    this.clearWriteTimer();
    if (this.channel !== null) {
      this.ctx.broker.detachData(this.channel);
      this.channel = null;
    }
  }
}
