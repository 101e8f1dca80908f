/**
 * A hostile or well-behaved raw TCP peer for the hardening tests: collects what the server
 * sends, knows when and how the connection ended, and can never outlive its own deadline.
 */
import { connect, type Socket } from 'node:net';

export class Peer {
  private buf: Buffer = Buffer.alloc(0);
  private waiter: (() => void) | null = null;
  private endedFlag = false;
  /** Resolves when the socket is fully closed (either side, any reason). */
  readonly closed: Promise<void>;

  private constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => {
      // Keep only a bounded tail: some peers receive megabytes of replies they ignore.
      this.buf = this.buf.length > 65536 ? d : Buffer.concat([this.buf, d]);
      this.waiter?.();
    });
    socket.on('error', () => {
      /* ECONNRESET etc.: 'close' follows */
    });
    this.closed = new Promise((resolve) => {
      socket.once('close', () => {
        this.endedFlag = true;
        this.waiter?.();
        resolve();
      });
    });
  }

  static open(port: number, timeoutMs = 5000): Promise<Peer> {
    return new Promise((resolve, reject) => {
      const socket = connect({ port, host: '127.0.0.1', noDelay: true });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error('connect timed out'));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve(new Peer(socket));
      });
      socket.once('error', (e) => {
        clearTimeout(timer);
        socket.destroy();
        reject(e);
      });
    });
  }

  get ended(): boolean {
    return this.endedFlag;
  }

  get received(): Buffer {
    return this.buf;
  }

  send(bytes: Buffer): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  /** Resolves with the first `n` received bytes (consumed), or null on close/timeout. */
  async read(n: number, timeoutMs: number): Promise<Buffer | null> {
    const ok = await this.until(() => this.buf.length >= n, timeoutMs);
    if (!ok) return null;
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  /** True if the connection closed within `ms`; otherwise destroys it and returns false. */
  async closesWithin(ms: number): Promise<boolean> {
    const ok = await this.until(() => this.endedFlag, ms);
    if (!ok) this.socket.destroy();
    return ok;
  }

  destroy(): void {
    this.socket.destroy();
  }

  private until(cond: () => boolean, ms: number): Promise<boolean> {
    if (cond()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (v: boolean): void => {
        clearTimeout(timer);
        this.waiter = null;
        resolve(v);
      };
      const timer = setTimeout(() => {
        done(cond());
      }, ms);
      this.waiter = () => {
        if (cond()) done(true);
        else if (this.endedFlag) done(false);
      };
    });
  }
}
