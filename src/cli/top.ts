/**
 * Top mode (CLI.md §6): per-topic message count and payload bytes, computed locally from the
 * messages received on the subscribed topics, shown as a live table.
 *
 * On a terminal: the screen is cleared and the table redrawn at most once per second while
 * messages arrive (plus at once after a key); `s` switches the sort between count and bytes,
 * `q` or Ctrl-C quits. Unlike the reference, a quiet period still gets the last update drawn.
 * Without a terminal (piped stdout) it degrades to plain snapshots — no escape codes, no
 * colours, at most 20 rows — printed at most once per second and once more at exit.
 */
import { spawnSync } from 'node:child_process';
import { topicList, type CliOptions } from './args.js';
import { runError } from './errors.js';
import { groupDigits, humanBytes, renderTable, useColor } from './format.js';
import { closed, connectCli, interrupted, QUEUE_SIZE, type CliIo } from './session.js';

export type SortKey = 'count' | 'bytes';

interface TopicStat {
  count: number;
  bytes: number;
}

export class TopStats {
  private readonly topics = new Map<string, TopicStat>();
  sortBy: SortKey = 'count';

  add(topic: string, bytes: number): void {
    const s = this.topics.get(topic);
    if (s === undefined) this.topics.set(topic, { count: 1, bytes });
    else {
      s.count++;
      s.bytes += bytes;
    }
  }

  toggleSort(): void {
    this.sortBy = this.sortBy === 'count' ? 'bytes' : 'count';
  }

  /** Descending by the sort key; ties in alphabetical topic order. */
  rows(limit: number): [string, TopicStat][] {
    const key = this.sortBy;
    return [...this.topics]
      .sort((a, b) => b[1][key] - a[1][key] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .slice(0, Math.max(0, limit));
  }
}

export const CLEAR_SCREEN = '\x1b[2J\x1b[1;1H';
const HIDE_CURSOR = '\x1b[?25l';
const SHOW_CURSOR = '\x1b[?25h';

/** The table text (no screen control): header, dashes, one row per topic. */
export function renderTop(stats: TopStats, maxRows: number, color: boolean): string {
  const rows = stats.rows(maxRows).map(([topic, s]) => [topic, groupDigits(s.count), humanBytes(s.bytes)]);
  return renderTable([{ header: 'topic' }, { header: 'count' }, { header: 'bytes' }], rows, color);
}

interface Screen {
  readonly tty: boolean;
  readonly color: boolean;
  rows(): number;
}

/** Terminal height − 4 rows (reference), 20 when not a terminal. */
function screenOf(stdout: NodeJS.WriteStream): Screen {
  const tty = stdout.isTTY;
  return {
    tty,
    color: useColor(stdout),
    rows: () => (tty ? Math.max(1, stdout.rows - 4) : 20),
  };
}

/** Redraws at most once per second; `now` draws at once (key press, exit). */
class Painter {
  private lastDraw = 0;
  private timer: NodeJS.Timeout | undefined;
  private dirty = false;

  constructor(
    private readonly stats: TopStats,
    private readonly screen: Screen,
    private readonly out: NodeJS.WriteStream,
  ) {}

  changed(): void {
    this.dirty = true;
    if (this.timer !== undefined) return;
    const wait = Math.max(0, 1000 - (Date.now() - this.lastDraw));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.dirty) this.now();
    }, wait);
  }

  now(): void {
    this.dirty = false;
    this.lastDraw = Date.now();
    const table = renderTop(this.stats, this.screen.rows(), this.screen.color);
    this.out.write(this.screen.tty ? CLEAR_SCREEN + table : `${table}\n`);
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/** Raw-mode key reader; resolves `quit` on q / Ctrl-C. Returns a disposer. */
function readKeys(stdin: NodeJS.ReadStream, onKey: (key: string) => void): () => void {
  if (!stdin.isTTY) return () => undefined;
  const onData = (d: Buffer): void => {
    for (const ch of d.toString('utf8')) onKey(ch);
  };
  stdin.setRawMode(true);
  stdin.on('data', onData);
  stdin.resume();
  return () => {
    stdin.off('data', onData);
    stdin.setRawMode(false);
    stdin.pause();
  };
}

export async function runTop(o: CliOptions, io: CliIo): Promise<void> {
  const client = await connectCli(o, { dataStream: true, queueSize: QUEUE_SIZE });
  const stop = interrupted();
  const stats = new TopStats();
  const screen = screenOf(io.stdout);
  const painter = new Painter(stats, screen, io.stdout);
  let quit: () => void = () => undefined;
  const quitKey = new Promise<void>((resolve) => (quit = resolve));
  const disposeKeys = readKeys(io.stdin, (key) => {
    if (key === 's') {
      stats.toggleSort();
      painter.now();
    } else if (key === 'q' || key === '\u0003') quit();
  });
  try {
    client.on('message', (m) => {
      stats.add(m.topic, m.payload.length);
      painter.changed();
    });
    const ended = closed(client);
    await client.subscribe(topicList(o.topic));
    if (screen.tty) io.stdout.write(HIDE_CURSOR);
    painter.now();
    await Promise.race([ended, stop.promise, quitKey]);
    await client.bye().catch(() => undefined);
  } catch (err) {
    client.close();
    throw runError(err);
  } finally {
    painter.stop();
    disposeKeys();
    stop.dispose();
    restoreScreen(screen, io.stdout, () => {
      painter.now();
    });
  }
}

/** Terminal: clear, show the cursor, and reset `screen` (CLI.md §6 item 7). Pipe: last table. */
function restoreScreen(screen: Screen, out: NodeJS.WriteStream, finalTable: () => void): void {
  if (!screen.tty) {
    finalTable();
    return;
  }
  out.write(`\x1b[2J${SHOW_CURSOR}`);
  if ((process.env.TERM ?? '').startsWith('screen')) {
    spawnSync('tput', ['reset'], { stdio: 'inherit' });
    spawnSync('tput', ['cnorm'], { stdio: 'inherit' });
  }
}
