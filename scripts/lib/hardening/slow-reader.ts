/**
 * Load pieces for the slow-reader policy (test/security/slow-reader.test.ts and
 * scripts/slow-reader.ts): a publisher that keeps psrtd's pipeline full, a subscriber that
 * reads at a fixed byte rate, and one that reads as fast as it can.
 */
import type { Socket } from 'node:net';

function publishFrame(topic: string, payload: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(topic), Buffer.from([0]), payload]);
  const head = Buffer.alloc(6);
  head[0] = 0x01;
  head[1] = 0x7f;
  head.writeUInt32LE(body.length, 2);
  return Buffer.concat([head, body]);
}

/**
 * Publishes `payloadBytes`-byte messages to `topic` on a logged-in control socket as fast as
 * psrtd takes them: chunks of `perChunk` pipelined publishes, at most `maxChunks` unanswered.
 */
export class Flooder {
  /** Publishes answered (any status). */
  answered = 0;
  private sent = 0;
  private running = false;
  private readonly chunk: Buffer;

  constructor(
    private readonly socket: Socket,
    topic: string,
    payloadBytes: number,
    private readonly perChunk = 256,
    private readonly maxChunks = 8,
  ) {
    const frame = publishFrame(topic, Buffer.alloc(payloadBytes, 0x61));
    this.chunk = Buffer.concat(Array.from({ length: perChunk }, () => frame));
    socket.removeAllListeners('data');
    socket.on('data', (d: Buffer) => {
      this.answered += d.length;
      this.pump();
    });
  }

  start(): void {
    this.running = true;
    this.pump();
  }

  stop(): void {
    this.running = false;
  }

  private pump(): void {
    while (this.running && this.sent - this.answered < this.perChunk * this.maxChunks) {
      this.sent += this.perChunk;
      this.socket.write(this.chunk);
    }
  }
}

/** Counts the bytes a data socket receives (as fast as possible). */
export class FastReader {
  bytes = 0;
  constructor(socket: Socket) {
    socket.removeAllListeners('data');
    socket.on('data', (d: Buffer) => {
      this.bytes += d.length;
    });
  }
}

/** Reads a data socket at about `bytesPerSecond` (10 ms ticks); the kernel buffers the rest. */
export class SlowReader {
  bytes = 0;
  closed = false;
  private readonly timer: NodeJS.Timeout;

  constructor(socket: Socket, bytesPerSecond: number) {
    socket.removeAllListeners('data');
    socket.pause();
    socket.on('close', () => {
      this.closed = true;
    });
    const perTick = bytesPerSecond / 100;
    let allowance = 0;
    this.timer = setInterval(() => {
      allowance = Math.min(allowance + perTick, 4 * perTick);
      while (allowance > 0) {
        const c = socket.read() as Buffer | null;
        if (c === null) break;
        this.bytes += c.length;
        allowance -= c.length;
      }
    }, 10);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
