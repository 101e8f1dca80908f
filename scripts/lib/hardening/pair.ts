/**
 * The well-behaved pub/sub pair that must keep working while everything else misbehaves: one
 * publisher at a steady rate, one subscriber that reads everything and pings its control
 * socket. Every payload carries a sequence number, so loss, duplicates and reordering show.
 */
import { ByteQueue } from '../../../src/protocol/byte-queue.js';
import { DataDecoder } from '../../../src/protocol/data-decoder.js';
import { encodeNop, encodePublish, encodeSubscribe } from '../../../src/protocol/encode.js';
import { attachData, login, type RawConn } from '../../../test/helpers/raw.js';

const MAGIC = 0x52494150; // "PAIR"

export interface PairReport {
  readonly sent: number;
  readonly acked: number;
  readonly received: number;
  /** Messages that arrived with another sequence number than the next expected one. */
  readonly orderErrors: number;
  /** Replies other than 01 (publisher or subscriber pings). */
  readonly badReplies: number;
  readonly maxLatencyMs: number;
  /** A socket of the pair closed while running. */
  readonly lostSocket: boolean;
}

export class Pair {
  private sent = 0;
  private acked = 0;
  private received = 0;
  private orderErrors = 0;
  private badReplies = 0;
  private maxLatencyMs = 0;
  private lostSocket = false;
  private timers: NodeJS.Timeout[] = [];
  private stopping = false;

  private constructor(
    private readonly pub: RawConn,
    private readonly subCtl: RawConn,
    private readonly subData: RawConn,
    private readonly topic: string,
  ) {
    this.watchReplies(pub);
    this.watchReplies(subCtl);
    const queue = new ByteQueue();
    const decoder = new DataDecoder(queue);
    subData.socket.removeAllListeners('data');
    subData.socket.on('data', (chunk: Buffer) => {
      queue.push(chunk);
      for (let e = decoder.next(); e !== null; e = decoder.next()) {
        if (e.kind === 'message' && e.topic === topic) this.onMessage(e.payload);
      }
    });
    for (const c of [pub, subCtl, subData]) {
      c.socket.once('close', () => {
        if (!this.stopping) this.lostSocket = true;
      });
    }
  }

  static async start(port: number, topic = 'pair/t'): Promise<Pair> {
    const sub = await login(port);
    const data = await attachData(port, sub.token, 255);
    sub.ctl.send(encodeSubscribe([topic]));
    const ok = await sub.ctl.read(1);
    if (ok[0] !== 1) throw new Error('pair subscribe failed');
    const pub = await login(port);
    return new Pair(pub.ctl, sub.ctl, data, topic);
  }

  /**
   * Publishes `perTick` messages (pipelined) every `intervalMs`; the subscriber pings its
   * control socket every `pingMs` (it must, within the server's T).
   */
  run(intervalMs: number, pingMs: number, perTick = 1): void {
    this.timers.push(
      setInterval(() => {
        for (let i = 0; i < perTick; i++) this.publishNow();
      }, intervalMs),
      setInterval(() => {
        this.subCtl.send(encodeNop());
      }, pingMs),
    );
  }

  /** Stops publishing and waits until everything sent was acknowledged and received. */
  async stop(timeoutMs: number): Promise<PairReport> {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    const t0 = performance.now();
    while ((this.acked < this.sent || this.received < this.sent) && performance.now() - t0 < timeoutMs && !this.lostSocket) {
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.report();
  }

  report(): PairReport {
    const { sent, acked, received, orderErrors, badReplies, maxLatencyMs, lostSocket } = this;
    return { sent, acked, received, orderErrors, badReplies, maxLatencyMs, lostSocket };
  }

  close(): void {
    this.stopping = true;
    for (const t of this.timers) clearInterval(t);
    for (const c of [this.pub, this.subCtl, this.subData]) c.destroy();
  }

  private publishNow(): void {
    const payload = Buffer.alloc(16);
    payload.writeUInt32LE(MAGIC, 0);
    payload.writeUInt32LE(this.sent++, 4);
    payload.writeDoubleLE(performance.timeOrigin + performance.now(), 8);
    this.pub.send(encodePublish(0x7f, this.topic, payload));
  }

  private onMessage(payload: Buffer): void {
    if (payload.length !== 16 || payload.readUInt32LE(0) !== MAGIC) return;
    if (payload.readUInt32LE(4) !== this.received) this.orderErrors++;
    this.received = payload.readUInt32LE(4) + 1;
    const latency = performance.timeOrigin + performance.now() - payload.readDoubleLE(8);
    this.maxLatencyMs = Math.max(this.maxLatencyMs, latency);
  }

  /** Every reply byte must be 01; replies of the publisher count its acks. */
  private watchReplies(conn: RawConn): void {
    conn.socket.removeAllListeners('data');
    conn.socket.on('data', (chunk: Buffer) => {
      for (const b of chunk) {
        if (b !== 1) this.badReplies++;
        if (conn === this.pub) this.acked++;
      }
    });
  }
}
