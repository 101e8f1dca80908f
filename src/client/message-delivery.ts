/**
 * Where a client's received messages go: its `message` listeners, its open iterators, and the
 * bounded buffer between them (MessageQueue, whose fill pauses the data socket). Messages are
 * buffered while an iterator is open or while nobody listens, so nothing is lost between
 * subscribe() and the first listener or iteration.
 */
import type { Message } from './data-channel.js';
import { MessageQueue } from './message-queue.js';

export class MessageDelivery {
  private readonly inbox: MessageQueue;
  private iterating = 0;

  constructor(
    capacity: number,
    maxBytes: number,
    /** The buffer drained to half: resume the paused data socket. */
    onSpace: () => void,
    /** The number of `message` listeners, and how to call them. */
    private readonly listeners: () => number,
    private readonly emit: (msg: Message) => void,
  ) {
    this.inbox = new MessageQueue(capacity, maxBytes, onSpace);
  }

  /** One received message; false when the buffer is full (the data socket pauses). */
  readonly deliver = (msg: Message): boolean => {
    const listeners = this.listeners();
    if (listeners > 0) this.emit(msg);
    if (this.iterating > 0 || listeners === 0) return this.inbox.push(msg);
    return true;
  };

  /**
   * A `message` listener was added (Node emits `newListener` before adding it). What was
   * buffered while nobody listened goes to it, one by one while a listener is left (a `once`
   * listener takes one, the rest wait for the next). Without this they stayed buffered for good
   * and, once the buffer was full, the paused data socket never resumed.
   */
  listenerAdded(): void {
    if (this.iterating > 0 || this.inbox.length === 0) return;
    queueMicrotask(() => {
      try {
        while (this.iterating === 0 && this.listeners() > 0) {
          const msg = this.inbox.takeOne();
          if (msg === undefined) break;
          this.emit(msg);
        }
      } finally {
        this.inbox.space(); // also when a listener throws: the data socket must not stay paused
      }
    });
  }

  /** An async iterator with back-pressure; it ends with end() and throws its error. */
  iterator(): AsyncIterableIterator<Message, undefined, undefined> {
    this.iterating++;
    let open = true;
    const finish = (): Promise<IteratorResult<Message>> => {
      if (open) {
        open = false;
        this.iterating--;
        this.inbox.release();
        // The listeners have seen what is still buffered; keeping it would only hold the socket.
        if (this.iterating === 0 && this.listeners() > 0) {
          this.inbox.takeAll();
          this.inbox.space();
        }
      }
      return Promise.resolve({ value: undefined, done: true });
    };
    const iterator: AsyncIterableIterator<Message, undefined, undefined> = {
      next: () => (open ? this.inbox.next() : finish()),
      return: finish,
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  /** The client ended: iterators finish (with `err` when it failed). */
  end(err: Error | null): void {
    this.inbox.end(err);
  }
}
