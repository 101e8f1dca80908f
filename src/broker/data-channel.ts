/**
 * The outgoing side of one data socket: a bounded FIFO of shared frames, drained to the socket
 * in one write per event-loop turn, with keep-alive pings and backpressure.
 *
 * Backpressure (our design, beyond the reference): when the queue reaches `queueLimit` frames
 * (or `byteLimit` bytes) the channel reports congestion and the publishers feeding it stop
 * reading until it drains below half. Only a channel that stays congested for `drainTimeoutMs`
 * is dropped, as the reference drops a full queue. Non-pausable sources (UDP) are bounded by a
 * hard cap of twice the limits.
 *
 * Slow readers (a subscriber that reads, but slower than its publishers write) never keep the
 * queue full for the whole drain timeout: it drains below half, the publishers resume, it fills
 * again, and the publishers spend most of their time paused. So the channel also measures how
 * long it held publishers back over a sliding window (`slowWindowMs`, see HoldMeter: evaluated
 * by a timer that runs only while the channel has held someone recently, never per message). More than `slowMaxHold` of the window: the subscriber is too slow, and is either
 * dropped (`slowAction` 'disconnect') or stops pausing publishers and has messages beyond its
 * queue limit dropped and counted ('drop') until it keeps up again. A burst that is absorbed
 * within a fraction of the window never comes near the threshold.
 */
import { ChannelPressure, type PressureHost, type PressureLimits } from './channel-pressure.js';
import type { Counters } from './counters.js';
import { PING_FRAME, nowUs, type Delivery, type Slab } from './delivery.js';
import type { Flushable, FlushScheduler } from './flush-scheduler.js';
import type { Deadline, DeadlineWheel, Expiring } from './deadline-wheel.js';
import type { BrokerLogger, DataPort, PublisherPort } from './ports.js';

export type { SlowConsumerAction } from './channel-pressure.js';

export interface DataChannelOptions extends PressureLimits {
  readonly latencyWarnUs: number;
}

/** What every channel of a broker shares (one object, not four fields per channel). */
export interface ChannelEnv {
  readonly scheduler: FlushScheduler;
  readonly counters: Counters;
  readonly log: BrokerLogger;
  readonly wheel: DeadlineWheel;
}

export interface DataChannelOwner {
  readonly label: string; // `<user>@<addr>` for logs
  /** The channel ended; the owner forgets it if it is still its current one. */
  channelClosed(channel: DataChannel): void;
  /**
   * Called when the channel must be dropped (stayed congested, hard cap exceeded, or a slow
   * reader: `reason` then says why, for the log line).
   */
  dropCongested(channel: DataChannel, reason?: string): void;
  /**
   * Optional: a flush wrote only control frames (no messages) and left the channel holding
   * nothing an owner could not make anew (see isIdle); the owner may let it go and make a new one
   * for its next frame, so a connection that only gets acks and ping replies keeps no channel.
   */
  channelIdle?(channel: DataChannel): void;
}

/** Write completion: the slabs of a written batch may be reused. */
function releaseAll(slabs: readonly Slab[]): void {
  for (const s of slabs) s.release();
}

/** buffer[start, end) without a new view when that is the whole buffer. */
function range(buffer: Buffer, start: number, end: number): Buffer {
  return start === 0 && end === buffer.length ? buffer : buffer.subarray(start, end);
}

export type EnqueueResult = 'ok' | 'congested' | 'dropped';

const PING_FRAMES: readonly Buffer[] = [PING_FRAME];
/**
 * The empty queue of every idle channel (never written to: replaced by an own array at the
 * first entry), so an idle subscriber costs no array.
 */
const NO_FRAMES: (Delivery | undefined)[] = [];
/**
 * A drained queue array up to this many slots is given back at once: what an idle subscriber
 * last received (CONNACK, SUBACK, a ping reply) then holds no array (a grown one is ~200 bytes),
 * while a busy channel's longer array is reused.
 */
const MAX_IDLE_SLOTS = 8;

/** Bytes handed to the socket in one write; at least one frame is always written. */
const MAX_BATCH_BYTES = 1 << 20;
/** Queue slots kept for reuse once drained; a longer backlog's array is released. */
const MAX_KEPT_SLOTS = 4096;

/** Milliseconds as a small integer that wraps every 2^30 ms (~12 days): no boxed number per channel. */
export function wrapMs(): number {
  return performance.now() & 0x3fffffff;
}

/** Milliseconds since a wrapMs() reading (for spans shorter than ~12 days). */
export function sinceMs(then: number): number {
  return (wrapMs() - then) & 0x3fffffff;
}

export class DataChannel implements Flushable, Expiring, PressureHost {
  dirty = false;
  /**
   * Frames [head, tail) are pending. Slots are cleared as they are written and the array is
   * reused, so a steady stream does not regrow it every turn (garbage per message).
   */
  private queue: (Delivery | undefined)[] = NO_FRAMES;
  private head = 0;
  private tail = 0;
  /** Messages in [head, tail) (an entry may hold several, see Delivery). */
  private pendingMessages = 0;
  /** Bytes in [head, tail). */
  pendingBytes = 0;
  private writable = true;
  private closed = false;
  /** Null when the protocol has no server pings (MQTT: the client pings). */
  private readonly pingDeadline: Deadline | null;
  /** wrapMs() of the last write (a small integer: a double field would box a number). */
  private lastWriteMs = wrapMs();
  /** Made at the first congestion or latency warning, dropped when quiet (see ChannelPressure). */
  private p: ChannelPressure | null = null;

  constructor(
    readonly port: DataPort,
    readonly owner: DataChannelOwner,
    private readonly opts: DataChannelOptions,
    private readonly env: ChannelEnv,
    /** 0: no pings. */
    private readonly pingIntervalMs = 0,
  ) {
    this.pingDeadline = pingIntervalMs > 0 ? env.wheel.deadline(this) : null;
    this.pingDeadline?.arm(pingIntervalMs);
  }

  /**
   * Messages waiting to be written, or queued entries when there are more: acks and pings count
   * no message, yet a client that sends requests without reading the answers must still hit the
   * limit (each entry costs far more memory than its few bytes on the wire).
   */
  get pending(): number {
    return Math.max(this.pendingMessages, this.tail - this.head);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  get label(): string {
    return this.owner.label;
  }

  drop(reason?: string): void {
    this.owner.dropCongested(this, reason);
  }

  /** Lets go of the pressure state once it has nothing to remember (140–360 bytes a channel). */
  pressureQuiet(): void {
    if (this.p?.quiet === true) this.p = null;
  }

  enqueue(delivery: Delivery): EnqueueResult {
    if (this.closed) return 'ok';
    if (this.p?.shedding === true && this.atLimit()) {
      this.p.shed(delivery.messages);
      return 'ok';
    }
    return this.push(delivery);
  }

  /**
   * Queued even while a slow reader's messages are shed ('drop'): what the protocol cannot lose
   * without breaking the connection's state (an MQTT ack, a QoS 1/2 delivery waiting for its
   * ack, a topic alias's first use). Still bounded: twice the limits drop the channel.
   */
  enqueueKept(delivery: Delivery): EnqueueResult {
    if (this.closed) return 'ok';
    return this.push(delivery);
  }

  private push(delivery: Delivery): EnqueueResult {
    if (this.tail < this.queue.length) this.queue[this.tail] = delivery;
    else if (this.queue === NO_FRAMES) this.queue = [delivery];
    else this.queue.push(delivery);
    this.tail++;
    delivery.slab?.hold(); // released once written (see writeBatch) or discarded (close)
    return this.added(delivery.messages, delivery.bytes);
  }

  /** Is `delivery` the last queued entry, not yet written (so it may still grow)? */
  endsWith(delivery: Delivery): boolean {
    return this.tail > this.head && this.queue[this.tail - 1] === delivery;
  }

  /** One message was appended to the last queued entry (see Broker.publish). */
  grown(bytes: number): EnqueueResult {
    return this.added(1, bytes);
  }

  private added(messages: number, bytes: number): EnqueueResult {
    this.pendingMessages += messages;
    this.pendingBytes += bytes;
    this.env.scheduler.mark(this);
    if (this.pending < this.opts.queueLimit && this.pendingBytes < this.opts.byteLimit) return 'ok';
    if (this.pending >= 2 * this.opts.queueLimit || this.pendingBytes >= 2 * this.opts.byteLimit) {
      this.owner.dropCongested(this);
      return 'dropped';
    }
    const p = this.pressure();
    if (p.shedding) return 'ok';
    p.congested();
    return 'congested';
  }

  private atLimit(): boolean {
    return this.pending >= this.opts.queueLimit || this.pendingBytes >= this.opts.byteLimit;
  }

  private pressure(): ChannelPressure {
    return (this.p ??= new ChannelPressure(this, this.opts, this.env.counters, this.env.log));
  }

  /** Registers a publisher to resume when this channel drains (or is closed). */
  addWaiter(publisher: PublisherPort): void {
    if (!this.closed) this.pressure().addWaiter(publisher);
  }

  flush(): void {
    let messages = 0;
    while (!this.closed && this.writable && this.head < this.tail) messages += this.writeBatch();
    if (this.p !== null) {
      this.p.afterWrite();
      this.pressureQuiet();
    }
    if (messages === 0 && this.isIdle()) this.owner.channelIdle?.(this);
  }

  /**
   * Nothing queued, the socket writable, never congested, no pings: nothing a new channel would
   * not have (a busy subscriber's channel is not idle only in that it reuses its queue array).
   */
  isIdle(): boolean {
    return this.head === this.tail && this.writable && !this.closed && this.p === null && this.pingDeadline === null;
  }

  /** The transport's 'drain' event. */
  onWritable(): void {
    this.writable = true;
    this.flush();
  }

  /** Stops everything; pending frames are discarded and waiting publishers released. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.pingDeadline?.disarm();
    for (let i = this.head; i < this.tail; i++) this.queue[i]?.slab?.release();
    this.queue = NO_FRAMES;
    this.head = 0;
    this.tail = 0;
    this.pendingMessages = 0;
    this.pendingBytes = 0;
    this.p?.close();
  }

  /** Writes one batch; returns the messages in it (acks and pings count none). */
  private writeBatch(): number {
    const batch: Buffer[] = [];
    let held: Slab[] | null = null; // slabs of the written entries, released once on the wire
    const now = nowUs();
    let bytes = 0;
    /** Bytes of message frames: acks, answers and pings are written but not counted as sent. */
    let messageBytes = 0;
    let latency = 0;
    let messages = 0;
    // Consecutive frames that are consecutive in one buffer (a slab) are written as one range.
    let run: Buffer | null = null;
    let runStart = 0;
    let runEnd = 0;
    const queue = this.queue;
    let i = this.head;
    while (i < this.tail && (bytes < MAX_BATCH_BYTES || messages === 0)) {
      const d = queue[i];
      if (d === undefined) break;
      queue[i++] = undefined;
      messages += d.messages;
      bytes += d.bytes;
      if (d.messages > 0) messageBytes += d.bytes;
      if (d.slab !== null) (held ??= []).push(d.slab);
      if (d.buffer === run && d.offset === runEnd) {
        runEnd += d.bytes;
      } else {
        if (run !== null) batch.push(range(run, runStart, runEnd));
        if (d.pieces !== null) {
          run = null;
          for (const piece of d.pieces) batch.push(piece);
        } else {
          run = d.buffer;
          runStart = d.offset;
          runEnd = d.offset + d.bytes;
        }
      }
      const lat = Math.max(0, Math.trunc(now - d.received.us)) % 0x100000000;
      latency += lat * d.messages;
      if (lat > this.opts.latencyWarnUs && d.messages > 0) this.pressure().warnLatency(lat, d.topic); // not for acks
    }
    if (run !== null) batch.push(range(run, runStart, runEnd));
    this.advance(i, messages, bytes);
    const c = this.env.counters;
    c.sentMessages += messages;
    c.sentBytes += messageBytes;
    c.sentLatency += latency;
    this.lastWriteMs = wrapMs();
    this.writable = this.port.write(batch, held === null ? undefined : releaseAll.bind(null, held));
    return messages;
  }

  private advance(newHead: number, messages: number, bytes: number): void {
    this.pendingMessages -= messages;
    this.pendingBytes -= bytes;
    if (newHead >= this.tail) {
      // Drained (the slots are already cleared): an array grown by a backlog, or a small one, is
      // given back; one in between stays for the next frames until the channel is found quiet
      // (see releaseIdle).
      if (this.queue.length > MAX_KEPT_SLOTS || this.queue.length <= MAX_IDLE_SLOTS) this.queue = NO_FRAMES;
      this.head = 0;
      this.tail = 0;
    } else if (newHead > MAX_KEPT_SLOTS && newHead * 2 > this.tail) {
      this.queue = this.queue.slice(newHead, this.tail);
      this.tail -= newHead;
      this.head = 0;
    } else {
      this.head = newHead;
    }
  }

  /**
   * Gives back the queue array of a drained channel; called when it is found quiet (a ping or
   * keep-alive check), so an idle subscriber holds no array while a busy one keeps reusing its
   * own (an array per flush would be garbage at millions of messages a second).
   */
  releaseIdle(): void {
    if (this.head === this.tail) this.queue = NO_FRAMES;
  }

  /**
   * The ping deadline: pings only an idle socket (any write within the interval already proves
   * liveness), and re-arms for one interval after the last write.
   */
  onExpired(): void {
    if (this.closed) return;
    this.releaseIdle();
    this.pressureQuiet();
    const interval = this.pingIntervalMs;
    const since = sinceMs(this.lastWriteMs);
    if (since < interval * 0.9 || !this.writable || this.pending > 0) {
      this.pingDeadline?.arm(Math.max(interval - since, interval * 0.1));
      return;
    }
    this.lastWriteMs = wrapMs();
    this.writable = this.port.write(PING_FRAMES);
    this.pingDeadline?.arm(interval);
  }
}
