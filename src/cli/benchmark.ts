/**
 * Benchmark mode (CLI.md §7): W workers, each its own connection doing strictly sequential
 * request/reply operations (one request in flight per worker, like the reference, so the
 * numbers compare), through the stages subscribe, pub-<size>, pub-read-<size>, unsubscribe.
 *
 * Deviation: the reference's `unsubscribe` stage subscribes again (a bug); ours really
 * unsubscribes the I topics.
 */
import { randomInt } from 'node:crypto';
import type { PsrtClient } from '../client/client.js';
import type { Message } from '../client/data-channel.js';
import type { CliOptions } from './args.js';
import { CliError, EXIT, runError } from './errors.js';
import { generatedPayload, groupDigits, paint, renderTable, useColor } from './format.js';
import { Progress } from './progress.js';
import { BENCHMARK_QUEUE_SIZE, connectCli, type CliIo } from './session.js';

interface Worker {
  readonly id: string;
  readonly client: PsrtClient;
  /** Where messages are read: the same client, or the one on the cluster node. */
  readonly reader: PsrtClient;
  readonly inbox: AsyncIterator<Message, undefined>;
}

export interface StageResult {
  readonly name: string;
  readonly iters: number;
  readonly seconds: number;
}

const SIZES: readonly (readonly [string, number, number])[] = [
  // name, bytes, divisor of the iteration count
  ['10b', 10, 1],
  ['1kb', 1000, 1],
  ['10kb', 10_000, 1],
  ['100kb', 100_000, 10],
  ['1mb', 1_000_000, 100],
];

export async function runBenchmark(o: CliOptions, io: CliIo): Promise<void> {
  const w = o.benchmarkWorkers;
  const iters = o.benchmarkIterations;
  io.log.info(`Benchmarking, ${w} workers, ${iters} iterations per worker...`);
  const workers = await openWorkers(o);
  const bench = new Bench(io, new Progress(io.stderr, o.progress));
  try {
    await runStages(bench, workers, iters);
    await Promise.all(workers.flatMap((x) => (x.reader === x.client ? [x.client.bye()] : [x.client.bye(), x.reader.bye()])));
  } catch (err) {
    for (const x of workers) {
      x.client.close();
      x.reader.close();
    }
    throw runError(err);
  } finally {
    bench.progress.stop();
  }
  io.stdout.write(renderResults(bench.results, io.stdout));
}

async function openWorkers(o: CliOptions): Promise<Worker[]> {
  const settings = { dataStream: true, queueSize: BENCHMARK_QUEUE_SIZE };
  const prefix = randomInt(0, 0xffffffff);
  const opened: PsrtClient[] = [];
  try {
    return await Promise.all(
      Array.from({ length: o.benchmarkWorkers }, async (_, i) => {
        const client = await connectCli(o, settings);
        opened.push(client);
        const cluster = o.benchmarkClusterSub;
        const reader = cluster === undefined ? client : await connectCli(o, { ...settings, address: cluster });
        if (reader !== client) opened.push(reader);
        return { id: `${prefix}/${i}`, client, reader, inbox: reader.messages() };
      }),
    );
  } catch (err) {
    for (const c of opened) c.close();
    throw err;
  }
}

async function runStages(bench: Bench, workers: readonly Worker[], iters: number): Promise<void> {
  const topics = (x: Worker): string[] => Array.from({ length: iters }, (_, n) => `benchmark/${x.id}/${n}`);
  await bench.stage('subscribe', workers, iters, async (x, tick) => {
    for (const t of topics(x)) {
      await x.client.subscribe(t);
      tick();
    }
  });
  for (const [name, bytes, div] of SIZES) {
    const n = Math.trunc(iters / div);
    const payload = generatedPayload(bytes);
    await bench.stage(`pub-${name}`, workers, n, async (x, tick) => {
      const topic = `benchmark/${x.id}/test/pub-${name}`;
      for (let i = 0; i < n; i++) {
        await x.client.publish(topic, payload);
        tick();
      }
    });
    await Promise.all(workers.map((x) => x.client.unsubscribe(`benchmark/${x.id}/test/pub-${name}`)));
    await bench.stage(`pub-read-${name}`, workers, n, (x, tick) => pubRead(x, `benchmark/${x.id}/test/pub-read-${name}`, payload, n, tick));
    await Promise.all(workers.map((x) => x.client.unsubscribe(`benchmark/${x.id}/test/pub-read-${name}`)));
  }
  await bench.stage('unsubscribe', workers, iters, async (x, tick) => {
    for (const t of topics(x)) {
      await x.client.unsubscribe(t);
      tick();
    }
  });
}

/** Subscribe (timed), then publish n and read n concurrently, checking every payload. */
async function pubRead(x: Worker, topic: string, payload: Buffer, n: number, tick: () => void): Promise<void> {
  await x.reader.subscribe(topic);
  const publish = async (): Promise<void> => {
    for (let i = 0; i < n; i++) await x.client.publish(topic, payload);
  };
  const read = async (): Promise<void> => {
    for (let i = 0; i < n; i++) {
      const r = await x.inbox.next();
      if (r.done === true) throw new CliError(EXIT.lost, 'connection closed while reading');
      if (r.value.topic !== topic || !r.value.payload.equals(payload)) {
        throw new CliError(EXIT.error, `benchmark: unexpected message on ${r.value.topic} (payload mismatch)`);
      }
      tick();
    }
  };
  await Promise.all([publish(), read()]);
}

class Bench {
  readonly results: StageResult[] = [];
  private readonly color: boolean;

  constructor(
    private readonly io: CliIo,
    readonly progress: Progress,
  ) {
    this.color = useColor(io.stdout);
  }

  async stage(
    name: string,
    workers: readonly Worker[],
    perWorker: number,
    body: (x: Worker, tick: () => void) => Promise<void>,
  ): Promise<void> {
    const total = perWorker * workers.length;
    this.io.stdout.write(`${paint(`!!! stage started: ${name}`, 'dim', this.color)}\n`);
    this.progress.start(name, total);
    const tick = (): void => {
      this.progress.done++;
    };
    const t0 = performance.now();
    await Promise.all(workers.map((x) => body(x, tick)));
    const seconds = (performance.now() - t0) / 1000;
    this.progress.stop();
    this.results.push({ name, iters: total, seconds });
    const line = `*** stage completed: ${name} (${groupDigits(total)} iters, ${seconds.toFixed(3)} secs)`;
    this.io.stdout.write(`${paint(line, 'dim', this.color)}\n`);
  }
}

/** Separator padded to the terminal width (40 without one), then the table by stage name. */
export function renderResults(results: readonly StageResult[], out: { isTTY?: boolean; columns?: number }): string {
  const width = out.isTTY === true && out.columns !== undefined ? out.columns : 40;
  const head = '--- Benchmark results ';
  const color = useColor(out);
  const rows = [...results]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((r) => [
      r.name,
      groupDigits(r.iters),
      r.seconds.toFixed(3),
      (r.seconds * 1000).toFixed(3),
      groupDigits(r.seconds > 0 ? Math.trunc(r.iters / r.seconds) : 0),
    ]);
  const table = renderTable(
    [
      { header: 'stage' },
      { header: 'iters', color: 'magenta' },
      { header: 'secs', color: 'blue' },
      { header: 'msecs', color: 'cyan' },
      { header: 'iters/s', color: 'yellow' },
    ],
    rows,
    color,
  );
  return `${head.padEnd(width, '-')}\n${table}`;
}
