/**
 * Batches socket writes: channels that received frames are marked dirty and flushed together
 * once per event-loop turn (setImmediate runs after the current I/O phase), so a burst of
 * publishes becomes one write per subscriber instead of one per message.
 */
export interface Flushable {
  dirty: boolean;
  flush(): void;
}

export class FlushScheduler {
  private pending: Flushable[] = [];
  private spare: Flushable[] = [];
  private scheduled = false;
  private readonly run = (): void => {
    this.flushNow();
  };

  mark(target: Flushable): void {
    if (target.dirty) return;
    target.dirty = true;
    this.pending.push(target);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.run);
    }
  }

  flushNow(): void {
    this.scheduled = false;
    const batch = this.pending;
    this.pending = this.spare;
    for (const target of batch) {
      target.dirty = false;
      target.flush();
    }
    batch.length = 0;
    this.spare = batch;
  }
}
