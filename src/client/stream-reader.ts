/**
 * Exact-length reads on a socket during connection set-up. The handshake is a short strict
 * dialogue (greeting reply, token, data handshake status); after it the socket is handed over
 * to the pipelined channels together with any surplus bytes already received.
 */
import type { Duplex } from 'node:stream';
import { ByteQueue } from '../protocol/byte-queue.js';
import { ErrorCode, PsrtError } from '../protocol/errors.js';

interface Waiter {
  readonly n: number;
  readonly resolve: (b: Buffer) => void;
  readonly reject: (e: Error) => void;
}

export class StreamReader {
  private readonly queue = new ByteQueue();
  private waiter: Waiter | null = null;
  private failure: Error | null = null;

  private readonly onData = (chunk: Buffer): void => {
    this.queue.push(chunk);
    this.serve();
  };
  private readonly onEnd = (): void => {
    this.fail(new PsrtError(ErrorCode.Eof, `connection closed by ${this.peer}`));
  };
  private readonly onError = (err: Error): void => {
    this.fail(err);
  };

  constructor(
    private readonly socket: Duplex,
    private readonly peer: string,
  ) {
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onEnd);
    socket.on('error', this.onError);
  }

  /** Resolves with exactly `n` bytes (a copy-free view when they arrived in one chunk). */
  read(n: number): Promise<Buffer> {
    if (this.waiter !== null) throw new Error('StreamReader: concurrent read');
    return new Promise<Buffer>((resolve, reject) => {
      this.waiter = { n, resolve, reject };
      this.serve();
    });
  }

  /**
   * Stops listening and returns the bytes received beyond the last read. The socket is paused
   * so nothing is lost between this call and the next owner attaching its listener.
   */
  detach(): ByteQueue {
    this.socket.pause();
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onEnd);
    this.socket.off('close', this.onEnd);
    this.socket.off('error', this.onError);
    return this.queue;
  }

  private serve(): void {
    const w = this.waiter;
    if (w === null) return;
    if (this.queue.length >= w.n) {
      this.waiter = null;
      w.resolve(this.queue.take(w.n));
    } else if (this.failure !== null) {
      this.waiter = null;
      w.reject(this.failure);
    }
  }

  private fail(err: Error): void {
    this.failure ??= err;
    this.serve();
  }
}
