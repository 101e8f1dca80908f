/**
 * Rate limit for log lines a client can repeat at will (an ACL denial per publish, a protocol
 * error per connection): a device publishing thousands of denied messages a second must not
 * write thousands of lines a second to the journal, yet the operator must see at once what
 * happens and how often.
 *
 * Per kind of line: the first one opens a one-second window and is logged unchanged (the exact
 * text the reference and its operators expect); the rest of the window are only counted, and
 * when the window ends one summary line gives their number. The next line after that opens a
 * new window, so a continuous flood logs at most two lines a second per kind: one as it is
 * (who is doing it now) and one summary. A window's unref'd timer is the only timer; an idle
 * kind holds none. A suppressed line costs one counter increment: callers build the text only
 * when admit() says so.
 *
 * Lives in the broker layer because the broker, MQTT and transports all log such lines and may
 * import the broker (src/log sits above them and reaches them only through BrokerLogger).
 */
import type { BrokerLogger } from './ports.js';

/** Time source and one-shot timer; injectable for tests. */
export interface LimiterClock {
  /** Milliseconds, monotonic. */
  now(): number;
  /** Runs `fn` once after `ms`; the timer must not keep the process alive. Returns a cancel. */
  schedule(fn: () => void, ms: number): () => void;
}

export const realLimiterClock: LimiterClock = {
  now: () => performance.now(),
  schedule: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return () => {
      clearTimeout(t);
    };
  },
};

export const LOG_LIMIT_WINDOW_MS = 1000;

/** The PSRT `<addr>: topic too deep` lines (publish, subscribe and unsubscribe share one kind). */
export const TOO_DEEP = 'topic too deep';

export type LimitedLevel = 'error' | 'warn' | 'info';

/** One kind of line (e.g. `pub access deneid`) and its current window. */
export class RepeatedLine {
  private suppressed = 0;
  private openedAt = 0;
  private cancel: (() => void) | null = null;
  /** Made once per kind: the suppressed path allocates nothing. */
  private readonly onWindowEnd = (): void => {
    this.cancel = null;
    this.summarise();
  };

  constructor(
    /** Names the kind in the summary line. */
    readonly label: string,
    private readonly level: LimitedLevel,
    private readonly log: BrokerLogger,
    private readonly clock: LimiterClock,
  ) {}

  /** True: log the line now, unchanged. False: it was counted for the window's summary. */
  admit(): boolean {
    if (this.cancel !== null) {
      this.suppressed++;
      return false;
    }
    this.openedAt = this.clock.now();
    this.cancel = this.clock.schedule(this.onWindowEnd, LOG_LIMIT_WINDOW_MS);
    return true;
  }

  /** Lines counted and not yet summarised. */
  get pending(): number {
    return this.suppressed;
  }

  /** Ends the window now: logs its summary (if any) and drops the timer (shutdown). */
  flush(): void {
    this.cancel?.();
    this.cancel = null;
    this.summarise();
  }

  private summarise(): void {
    const n = this.suppressed;
    if (n === 0) return;
    this.suppressed = 0;
    const seconds = ((this.clock.now() - this.openedAt) / 1000).toFixed(1);
    this.log[this.level](`... and ${n.toLocaleString('en-US')} more '${this.label}' lines in the last ${seconds} s`);
  }
}

/** The kinds of one server, shared by every connection (one flood, one window, whoever sends). */
export class LogLimiter {
  private readonly lines = new Map<string, RepeatedLine>();

  constructor(
    private readonly log: BrokerLogger,
    private readonly clock: LimiterClock = realLimiterClock,
  ) {}

  /** The kind named `label` (the same object for the same label); look it up once, not per line. */
  line(label: string, level: LimitedLevel = 'error'): RepeatedLine {
    let line = this.lines.get(label);
    if (line === undefined) {
      line = new RepeatedLine(label, level, this.log, this.clock);
      this.lines.set(label, line);
    }
    return line;
  }

  /** Summarises every open window now and drops their timers (shutdown). */
  flush(): void {
    for (const line of this.lines.values()) line.flush();
  }
}
