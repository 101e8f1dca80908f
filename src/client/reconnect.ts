/**
 * Optional automatic reconnect (off by default, the reference has none): after an unexpected
 * loss, retry the whole handshake with exponential back-off, re-subscribe, then release the
 * requests made meanwhile. Messages published while disconnected are lost (PSRT delivery is
 * at most once).
 */
import { ErrorCode, PsrtError, isPsrtError } from '../protocol/errors.js';
import type { OpenedConnection } from './connect.js';
import type { ResolvedReconnect } from './options.js';
import { isRefusal } from './resubscribe.js';

export interface ReconnectHooks {
  /** Install a freshly opened connection. */
  attach(c: OpenedConnection): void;
  /** Re-subscribe on the installed connection. */
  resubscribe(): Promise<void>;
  /** Close the installed connection after a failed re-subscribe. */
  drop(err: PsrtError): void;
  /** Back in business; `refused`: the server refused re-subscribing (some) topics. */
  reconnected(refused: PsrtError | null): void;
  /** One attempt failed (another follows unless `maxAttempts` is reached). */
  failed(err: PsrtError, attempt: number): void;
  /** `maxAttempts` reached. */
  giveUp(err: PsrtError): void;
}

export class Reconnector {
  private running = false;
  private cancelled = false;
  private timer: NodeJS.Timeout | undefined;
  private wake: (() => void) | null = null;
  /** Aborts the handshake in progress, so close() does not leave it running until its deadline. */
  private abort: AbortController | null = null;

  constructor(
    private readonly cfg: ResolvedReconnect,
    private readonly open: (signal: AbortSignal) => Promise<OpenedConnection>,
    private readonly hooks: ReconnectHooks,
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.cancelled = false;
    void this.loop();
  }

  cancel(): void {
    this.cancelled = true;
    clearTimeout(this.timer);
    this.wake?.();
    this.abort?.abort();
  }

  private async loop(): Promise<void> {
    let delay = this.cfg.initialDelayMs;
    for (let attempt = 1; ; attempt++) {
      await this.sleep(delay);
      if (this.cancelled) break;
      const err = await this.attempt();
      if (err === null || this.isCancelled()) break;
      notify(() => {
        this.hooks.failed(err, attempt);
      });
      if (this.isCancelled()) break; // a 'reconnectFailed' listener closed the client
      if (attempt >= this.cfg.maxAttempts) {
        this.running = false;
        notify(() => {
          this.hooks.giveUp(err);
        });
        return;
      }
      delay = Math.min(delay * this.cfg.factor, this.cfg.maxDelayMs);
    }
    this.running = false;
  }

  /** One try; null on success. */
  private async attempt(): Promise<PsrtError | null> {
    let c: OpenedConnection;
    this.abort = new AbortController();
    try {
      c = await this.open(this.abort.signal);
    } catch (err) {
      return asPsrt(err);
    } finally {
      this.abort = null;
    }
    if (this.cancelled) {
      c.control.socket.destroy();
      c.data?.socket.destroy();
      return null;
    }
    this.hooks.attach(c);
    let refused: PsrtError | null = null;
    try {
      await this.hooks.resubscribe();
    } catch (err) {
      const e = asPsrt(err);
      // Refused topics (ACL changed meanwhile) do not make the connection unusable, but the
      // owner must hear of them: its subscriptions are not what they were.
      if (!isRefusal(err)) {
        this.hooks.drop(e);
        return e;
      }
      refused = e;
    }
    if (this.isCancelled()) return null;
    this.running = false;
    notify(() => {
      this.hooks.reconnected(refused);
    });
    return null;
  }

  /** Re-read after awaits (close() may have been called meanwhile). */
  private isCancelled(): boolean {
    return this.cancelled;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
      this.timer = setTimeout(resolve, ms);
    });
  }
}

/**
 * Runs a hook that emits the client's events (`disconnect`, `reconnect`, `reconnectFailed`,
 * `close`). A listener that throws must neither stop the loop (the client would stay
 * reconnecting for good) nor become an unhandled rejection of it: the exception is rethrown on
 * the next tick, an `uncaughtException` as from a listener of a socket event, and the client
 * carries on as if the listener had returned.
 */
export function notify(hook: () => void): void {
  try {
    hook();
  } catch (err) {
    process.nextTick(() => {
      throw err;
    });
  }
}

function asPsrt(err: unknown): PsrtError {
  return isPsrtError(err) ? err : new PsrtError(ErrorCode.Io, String(err));
}
