/**
 * The congestion side of a data channel (see DataChannel): the publishers waiting for it to
 * drain, the drain deadline, the slow-reader measure and its 'drop' mode, and the rate limit of
 * its high-latency warnings. Made at a channel's first congestion or latency warning: most
 * subscribers never have one, and each of these fields would cost every connection 8 bytes.
 * Given back (see `quiet`) once it has nothing left to remember, so a subscriber that was
 * congested once does not keep it for the life of its connection.
 */
import { escapeForLog } from '../protocol/log-escape.js';
import type { Counters } from './counters.js';
import { HoldMeter, type HoldMeterOwner } from './hold-meter.js';
import type { BrokerLogger, PublisherPort } from './ports.js';

export type SlowConsumerAction = 'disconnect' | 'drop';

export interface PressureLimits {
  readonly queueLimit: number;
  readonly byteLimit: number;
  readonly drainTimeoutMs: number;
  /** Window over which the time publishers were held back is measured; 0: no slow-reader policy. */
  readonly slowWindowMs?: number;
  /** Fraction (0–1] of the window a subscriber may hold its publishers back. Default 0.5. */
  readonly slowMaxHold?: number;
  /** Default 'disconnect'. */
  readonly slowAction?: SlowConsumerAction;
}

/** What the pressure state needs of its channel (DataChannel implements it). */
export interface PressureHost {
  /** Messages and bytes waiting to be written. */
  readonly pending: number;
  readonly pendingBytes: number;
  readonly isClosed: boolean;
  /** `<user>@<addr>` for logs. */
  readonly label: string;
  /** The channel must go: it stayed congested, or it is too slow (`reason`, for the log line). */
  drop(reason?: string): void;
  /** The pressure may have become `quiet` without a write (its slow-reader window emptied). */
  pressureQuiet(): void;
}

const NO_WAITERS: PublisherPort[] = [];
const LATENCY_WARN_INTERVAL_MS = 1000;

export class ChannelPressure implements HoldMeterOwner {
  private waiters: PublisherPort[] = NO_WAITERS;
  private fullTimer: NodeJS.Timeout | null = null;
  /** Time publishers were held back (the slow-reader measure); made at the first wait. */
  private hold: HoldMeter | null = null;
  /** slow_consumer 'drop' in force: publishers are not paused, overflow is dropped. */
  shedding = false;
  private shedSinceTick = 0;
  private shedTotal = 0;
  private lastLatencyWarnMs = -Infinity;
  private suppressedLatencyWarnings = 0;

  constructor(
    private readonly host: PressureHost,
    private readonly limits: PressureLimits,
    private readonly counters: Counters,
    private readonly log: BrokerLogger,
  ) {}

  /**
   * Nothing to remember: no waiting publisher, no timer, not shedding, an empty slow-reader
   * window and no latency warning within the rate limit's interval (nor any suppressed one
   * still to report). Only the channel refers to this object then, and a new one made at its
   * next congestion starts from the same state.
   */
  get quiet(): boolean {
    return (
      this.waiters.length === 0 &&
      this.fullTimer === null &&
      !this.shedding &&
      (this.hold === null || this.hold.idle) &&
      this.suppressedLatencyWarnings === 0 &&
      performance.now() - this.lastLatencyWarnMs >= LATENCY_WARN_INTERVAL_MS
    );
  }

  /** HoldMeter: its window emptied and its timer stopped. */
  meterStopped(): void {
    this.host.pressureQuiet();
  }

  /** Below half of both limits: waiting publishers may go on. */
  private get drained(): boolean {
    return this.host.pending <= this.limits.queueLimit / 2 && this.host.pendingBytes <= this.limits.byteLimit / 2;
  }

  /** slow_consumer 'drop': the message is not queued for this subscriber, only counted. */
  shed(messages: number): void {
    this.counters.droppedSlowMessages += messages;
    this.shedSinceTick += messages;
    this.shedTotal += messages;
  }

  /** The queue reached a limit: the channel goes if it does not drain within the timeout. */
  congested(): void {
    if (this.fullTimer === null) this.armFullTimer();
  }

  /**
   * A method of its own: a closure inside congested() would make V8 allocate a context object
   * on every call of it (per message while congested), not only when the timer is armed.
   */
  private armFullTimer(): void {
    this.fullTimer = setTimeout(() => {
      this.onDrainDeadline();
    }, this.limits.drainTimeoutMs);
  }

  /** Registers a publisher to resume when the channel drains (or is closed). */
  addWaiter(publisher: PublisherPort): void {
    if (this.waiters.includes(publisher)) return;
    if (this.waiters.length === 0) {
      (this.hold ??= new HoldMeter(this.limits.slowWindowMs ?? 0, this.limits.slowMaxHold ?? 0.5, this)).start();
      this.waiters = [];
    }
    this.waiters.push(publisher);
    publisher.blockedOn++;
  }

  /** After a write: below half of the limits, the deadline is off and the publishers go on. */
  afterWrite(): void {
    if (!this.drained) return;
    this.clearFullTimer();
    if (this.waiters.length > 0) this.releaseWaiters();
  }

  /** The channel closed: no timers, every waiting publisher released. */
  close(): void {
    this.clearFullTimer();
    this.hold?.close();
    this.releaseWaiters();
  }

  /** HoldMeter: publishers were held back longer than the policy allows. */
  tooSlow(heldMs: number, windowMs: number): void {
    const why = `subscriber too slow: held its publishers back ${(heldMs / 1000).toFixed(1)} s of the last ${(windowMs / 1000).toFixed(1)} s`;
    if ((this.limits.slowAction ?? 'disconnect') === 'disconnect') {
      this.counters.droppedSlowChannels++;
      this.host.drop(why);
      return;
    }
    this.shedding = true;
    this.shedSinceTick = 0;
    this.hold?.reset();
    this.clearFullTimer();
    this.releaseWaiters();
    this.log.warn(`${why} (${this.host.label}); dropping its messages beyond the queue limit`);
  }

  /**
   * HoldMeter: a tick within the allowed share. Shedding ends after a tick without a dropped
   * message and with the queue below half; ticks are wanted while it lasts.
   */
  calmTick(): boolean {
    if (!this.shedding) return false;
    const dropped = this.shedSinceTick;
    this.shedSinceTick = 0;
    if (dropped > 0 || this.host.pending > this.limits.queueLimit / 2) return true;
    this.shedding = false;
    this.log.warn(`slow subscriber ${this.host.label} keeps up again; ${this.shedTotal} messages were dropped for it`);
    this.shedTotal = 0;
    return false;
  }

  /** Rate-limited: a congested link would otherwise log one line per message. */
  warnLatency(latencyUs: number, topic: string): void {
    const now = performance.now();
    if (now - this.lastLatencyWarnMs < LATENCY_WARN_INTERVAL_MS) {
      this.suppressedLatencyWarnings++;
      return;
    }
    const more = this.suppressedLatencyWarnings > 0 ? ` (${this.suppressedLatencyWarnings} similar warnings suppressed)` : '';
    this.lastLatencyWarnMs = now;
    this.suppressedLatencyWarnings = 0;
    this.log.warn(`WARNING: high latency: ${latencyUs} μs topic ${escapeForLog(topic)} (${this.host.label})${more}`);
  }

  private releaseWaiters(): void {
    this.hold?.stop();
    const waiters = this.waiters;
    this.waiters = NO_WAITERS;
    for (const p of waiters) {
      p.blockedOn--;
      if (p.blockedOn === 0) p.resume();
    }
  }

  private onDrainDeadline(): void {
    this.fullTimer = null;
    if (this.host.isClosed) return;
    if (this.host.pending >= this.limits.queueLimit / 2 || this.host.pendingBytes >= this.limits.byteLimit / 2) this.host.drop();
  }

  private clearFullTimer(): void {
    if (this.fullTimer !== null) {
      clearTimeout(this.fullTimer);
      this.fullTimer = null;
    }
  }
}
