/**
 * Progress line on stderr during long benchmark stages (an extension). On a terminal it is
 * rewritten in place every 250 ms once a stage has run for 1 s; otherwise a plain line is
 * printed every 5 s, so logs of CI runs show that a slow stage is alive.
 */
import { groupDigits } from './format.js';

export class Progress {
  done = 0;
  private timer: NodeJS.Timeout | undefined;
  private started = 0;
  private lastAt = 0;
  private lastDone = 0;
  private shown = false;

  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly enabled: boolean,
  ) {}

  start(stage: string, total: number): void {
    this.stop();
    this.done = 0;
    this.started = performance.now();
    this.lastAt = this.started;
    this.lastDone = 0;
    if (!this.enabled) return;
    const tty = this.out.isTTY;
    this.timer = setInterval(() => {
      this.tick(stage, total, tty);
    }, tty ? 250 : 5000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    if (this.shown && this.out.isTTY) this.out.write('\r\x1b[K');
    this.shown = false;
  }

  private tick(stage: string, total: number, tty: boolean): void {
    const now = performance.now();
    if (now - this.started < 1000) return;
    const rate = ((this.done - this.lastDone) * 1000) / Math.max(1, now - this.lastAt);
    const avg = (this.done * 1000) / (now - this.started);
    this.lastAt = now;
    this.lastDone = this.done;
    const pct = total > 0 ? Math.floor((this.done * 100) / total) : 100;
    const line =
      `${stage}: ${groupDigits(this.done)}/${groupDigits(total)} (${pct}%), ` +
      `${groupDigits(rate)} iters/s now, ${groupDigits(avg)} iters/s average`;
    this.out.write(tty ? `\r\x1b[K${line}` : `${line}\n`);
    this.shown = true;
  }
}
