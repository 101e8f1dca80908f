/**
 * Rate-limited log of refused connections: a connection flood must not become a log flood, yet
 * the operator must learn at once that connections are being refused and how many.
 *
 * The first refusal after a quiet second is logged at once; later ones are only counted, and a
 * timer logs their sum one second after the previous line. When a second passes with nothing to
 * report the timer is not re-armed, so an idle server holds no timer; the timer is unref'd so it
 * never keeps the process alive.
 */

/** Time source and one-shot timer; injectable for tests. */
export interface RefusalClock {
  /** Milliseconds, monotonic. */
  now(): number;
  /** Runs `fn` once after `ms`; the timer must not keep the process alive. Returns a cancel. */
  schedule(fn: () => void, ms: number): () => void;
}

export const realClock: RefusalClock = {
  now: () => performance.now(),
  schedule: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return () => {
      clearTimeout(t);
    };
  },
};

/** What was refused and why, e.g. `server.max_connections (20) reached`; `hint` says what to do. */
export interface Refusal {
  readonly what: string;
  readonly hint?: string;
}

export const REFUSAL_LOG_INTERVAL_MS = 1000;

export class RefusalLog {
  /** Refusals counted since the last line. */
  private pending = 0;
  private last: Refusal = { what: '' };
  private lastLineAt = 0;
  private cancel: (() => void) | null = null;

  constructor(
    /** Line prefix naming the listener kind, e.g. `mqtt: ` (empty for PSRT). */
    private readonly prefix: string,
    private readonly emit: (line: string) => void,
    private readonly clock: RefusalClock = realClock,
  ) {}

  note(refusal: Refusal): void {
    this.last = refusal;
    if (this.cancel !== null) {
      this.pending++;
      return;
    }
    this.emit(`${this.prefix}connection refused: ${refusal.what}${hintOf(refusal)}`);
    this.lastLineAt = this.clock.now();
    this.arm();
  }

  /** Stops the timer without logging what is pending (listener shut down). */
  stop(): void {
    this.cancel?.();
    this.cancel = null;
    this.pending = 0;
  }

  private arm(): void {
    this.cancel = this.clock.schedule(() => {
      this.tick();
    }, REFUSAL_LOG_INTERVAL_MS);
  }

  private tick(): void {
    this.cancel = null;
    if (this.pending === 0) return;
    const now = this.clock.now();
    const seconds = ((now - this.lastLineAt) / 1000).toFixed(1);
    const n = this.pending;
    this.pending = 0;
    this.lastLineAt = now;
    this.emit(`${this.prefix}connections refused: ${this.last.what}, ${n} refused in the last ${seconds} s${hintOf(this.last)}`);
    this.arm();
  }
}

function hintOf(r: Refusal): string {
  return r.hint === undefined ? '' : `; ${r.hint}`;
}
