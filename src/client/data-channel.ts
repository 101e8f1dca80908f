/**
 * The data socket reader (PROTOCOL.md §6.2–6.3). Every read is cut into as many frames as it
 * holds by a DataDecoder over a ByteQueue, so payloads are zero-copy views into the received
 * chunk. `00` pings only refresh the idle timer.
 *
 * Back-pressure: when the consumer's buffer is full the socket is paused and the idle timer
 * stopped (time spent waiting for the consumer is not server silence). The server then drops
 * the data socket if we stay paused too long, exactly as with the reference client.
 */
import type { ByteQueue } from '../protocol/byte-queue.js';
import { DataDecoder, type DataEvent, type DataMessage } from '../protocol/data-decoder.js';
import { ErrorCode, PsrtError, isPsrtError } from '../protocol/errors.js';
import type { ClientSocket } from './connect.js';

export interface Message {
  /** Topic as delivered (normalised by the server). */
  readonly topic: string;
  /** Payload; a view into the received bytes (valid for as long as you keep it). */
  readonly payload: Buffer;
  /** Priority byte of the publisher (the reference keeps it but does not expose it). */
  readonly priority: number;
}

/** Returns false when the consumer cannot take more for now (the socket is then paused). */
export type MessageSink = (msg: DataMessage) => boolean;

export class DataChannel {
  private readonly decoder: DataDecoder;
  private paused = false;
  private ended = false;

  constructor(
    private readonly socket: ClientSocket,
    private readonly queue: ByteQueue,
    private readonly idleMs: number,
    /** Largest frame LEN accepted, checked from the length field before the body is buffered. */
    private readonly maxFrame: number,
    private readonly sink: MessageSink,
    private readonly onEnd: (err: PsrtError) => void,
  ) {
    this.decoder = new DataDecoder(queue, maxFrame);
    socket.setTimeout(idleMs);
    socket.on('timeout', this.onIdle);
    socket.on('data', this.onData);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
    this.drain();
    if (!this.paused) socket.resume();
    if (socket.destroyed) process.nextTick(this.onClose); // lost before we listened
  }

  /** Consumer made room: continue with buffered frames, then the socket. */
  resume(): void {
    if (!this.paused || this.ended) return;
    this.paused = false;
    this.drain();
    if (this.stopped()) return; // the drain may have filled the consumer again
    this.socket.setTimeout(this.idleMs);
    this.socket.resume();
  }

  private stopped(): boolean {
    return this.paused || this.ended;
  }

  /** Closes without reporting (the control side decided). */
  close(): void {
    if (this.ended) return;
    this.ended = true;
    this.socket.setTimeout(0);
    this.socket.destroy();
  }

  private readonly onData = (chunk: Buffer): void => {
    this.queue.push(chunk);
    this.drain();
  };

  private drain(): void {
    while (!this.paused && !this.ended) {
      let event: DataEvent | null;
      try {
        event = this.decoder.next();
      } catch (err) {
        if (this.skippable(err)) continue;
        this.fail(this.explain(err));
        return;
      }
      if (event === null) return;
      if (event.kind === 'ping') continue;
      if (!this.sink(event)) this.pause();
    }
  }

  /** The reference skips a message that fails to parse; the frame is already consumed. */
  private skippable(err: unknown): boolean {
    return (
      isPsrtError(err) &&
      (err.code === ErrorCode.InvalidUtf8 || err.code === ErrorCode.InvalidDataBlock)
    );
  }

  /** The decoder's error, with the option to raise when a frame was over our own limit. */
  private explain(err: unknown): PsrtError {
    if (!isPsrtError(err)) return new PsrtError(ErrorCode.Internal, String(err));
    if (err.code !== ErrorCode.FrameTooLong) return err;
    return new PsrtError(
      ErrorCode.FrameTooLong,
      `data socket: ${err.message}: more than maxMessageSize (${this.maxFrame} bytes)`,
      { cause: err },
    );
  }

  private pause(): void {
    this.paused = true;
    this.socket.pause();
    this.socket.setTimeout(0);
  }

  private fail(err: PsrtError): void {
    if (this.ended) return;
    this.close();
    this.onEnd(err);
  }

  private readonly onIdle = (): void => {
    this.fail(
      new PsrtError(ErrorCode.Timeout, `no data or ping from the server for ${this.idleMs / 1000}s`),
    );
  };

  private readonly onError = (err: NodeJS.ErrnoException): void => {
    const reset = err.code === 'ECONNRESET' || err.code === 'EPIPE';
    this.fail(
      new PsrtError(reset ? ErrorCode.Eof : ErrorCode.Io, `data socket: ${err.message}`, { cause: err }),
    );
  };

  private readonly onClose = (): void => {
    this.fail(new PsrtError(ErrorCode.Eof, 'data connection closed by the server'));
  };
}
