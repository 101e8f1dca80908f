/**
 * The bounded buffer behind `client.messages()`: an async iterator with back-pressure. When it
 * holds `capacity` messages or `maxBytes` bytes the data socket is paused; it resumes once the
 * consumer has taken it down to half of both (hysteresis, so a slow consumer does not toggle
 * the socket for every message). A message is always taken, even one larger than `maxBytes`:
 * the bound pauses the reading that follows it, so such a message still gets through.
 */
import { Fifo } from './fifo.js';
import type { Message } from './data-channel.js';

interface Waiter {
  readonly resolve: (r: IteratorResult<Message>) => void;
  readonly reject: (e: Error) => void;
}

export class MessageQueue {
  private readonly items = new Fifo<Message>();
  private waiter: Waiter | null = null;
  private finished = false;
  private failure: Error | null = null;
  private full = false;
  /** Sum of sizeOf() over `items`. */
  private bytes = 0;

  constructor(
    private readonly capacity: number,
    private readonly maxBytes: number,
    /** Called when a full buffer has drained to half. */
    private readonly onSpace: () => void,
  ) {}

  get length(): number {
    return this.items.length;
  }

  /** Bytes held (topic + payload of each buffered message). */
  get byteLength(): number {
    return this.bytes;
  }

  /** Returns false when the buffer is now full (the producer should pause). */
  push(msg: Message): boolean {
    if (this.finished) return true;
    const w = this.waiter;
    if (w !== null) {
      this.waiter = null;
      w.resolve({ value: msg, done: false });
      return true;
    }
    this.items.push(msg);
    this.bytes += sizeOf(msg);
    if (this.items.length >= this.capacity || this.bytes >= this.maxBytes) this.full = true;
    return !this.full;
  }

  /** No more messages; `err` is thrown to the consumer after the buffered ones. */
  end(err: Error | null): void {
    if (this.finished) return;
    this.finished = true;
    this.failure = err;
    const w = this.waiter;
    this.waiter = null;
    if (w === null) return;
    if (err !== null) w.reject(err);
    else w.resolve({ value: undefined, done: true });
  }

  next(): Promise<IteratorResult<Message>> {
    const msg = this.takeOne();
    if (msg !== undefined) {
      this.space();
      return Promise.resolve({ value: msg, done: false });
    }
    if (this.finished) {
      const err = this.failure;
      this.failure = null; // thrown once; later calls just report the end
      return err !== null ? Promise.reject(err) : Promise.resolve({ value: undefined, done: true });
    }
    if (this.waiter !== null) return Promise.reject(new Error('messages(): concurrent next()'));
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  /**
   * Removes and returns everything buffered. The producer is not resumed here: call `space()`
   * once these are handed on, so that newer messages follow them.
   */
  takeAll(): Message[] {
    this.bytes = 0;
    return this.items.drain();
  }

  /** Removes and returns the oldest buffered message (the producer is not resumed: see space()). */
  takeOne(): Message | undefined {
    const msg = this.items.shift();
    if (msg !== undefined) this.bytes -= sizeOf(msg);
    return msg;
  }

  /** Resumes a paused producer if the buffer has drained to half. */
  space(): void {
    if (this.full && this.items.length <= this.capacity / 2 && this.bytes <= this.maxBytes / 2) {
      this.full = false;
      this.onSpace();
    }
  }

  /** Wakes a pending next() with the end of iteration (consumer called return()). */
  release(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.resolve({ value: undefined, done: true });
  }
}

/** What a buffered message holds on to: its payload plus the topic (and its 00 on the wire). */
function sizeOf(msg: Message): number {
  return msg.payload.length + msg.topic.length + 1;
}
