/**
 * Does the stats server cost the publish path anything? Publish throughput of a real psrtd
 * (spawned from bin/psrtd.js) in three set-ups, interleaved round by round:
 *
 *   off      no bind_stats
 *   idle     bind_stats set, nobody looking
 *   scraped  bind_stats set, /status + /topics + /metrics fetched every second (a browser on
 *            the page plus an impatient Prometheus)
 *
 *   npx tsc -p tsconfig.json && node dist/bench/stats-overhead.js [--rounds N] [--seconds S]
 *
 * One pipelined publisher (window of WINDOW unacknowledged publishes) and one subscriber of `#`
 * with a data socket. Two numbers per run, both over the measurement window after a warm-up:
 * throughput (publishes acknowledged per second) and psrtd's CPU time per publish (from
 * /proc/<pid>/stat). On a small machine where client and server share the cores the throughput
 * is noisy; CPU per publish is normalised and steadier. Medians over interleaved rounds.
 *
 * Then the cost of one scrape itself: psrtd's CPU time per request of each endpoint with the
 * topic table full (10,000 topics), which is what "scraped" adds per second.
 * Bounded: ROUNDS × 3 × (start-up + WARMUP + SECONDS) + ~5 s ≈ 50 s with the defaults.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { startPsrtd, type Psrtd } from '../test/helpers/psrtd.js';
import { loginFrame, publishFrame, topicsFrame } from '../test/helpers/raw.js';

type Mode = 'off' | 'idle' | 'scraped';
const MODES: readonly Mode[] = ['off', 'idle', 'scraped'];
const WINDOW = 512;
const WARMUP_MS = 1000;

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  const v = i >= 0 ? Number(process.argv[i + 1]) : Number.NaN;
  return Number.isFinite(v) && v > 0 ? v : fallback;
}
const ROUNDS = Math.min(arg('--rounds', 4), 6);
const SECONDS = Math.min(arg('--seconds', 2), 5);

const CLOCK_TICKS = ((): number => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** User + system CPU seconds of a process (Linux /proc; NaN elsewhere). */
function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS; // utime, stime
  } catch {
    return Number.NaN;
  }
}

interface RunResult {
  readonly rate: number;
  readonly cpuUsPerPublish: number;
}

/** Reads exactly n bytes from a socket during the handshake phase. */
function readExactly(s: Socket, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const onData = (d: Buffer): void => {
      buf = Buffer.concat([buf, d]);
      if (buf.length < n) return;
      s.off('data', onData);
      s.off('error', reject);
      if (buf.length > n) s.unshift(buf.subarray(n));
      resolve(buf.subarray(0, n));
    };
    s.on('data', onData);
    s.once('error', reject);
  });
}

async function open(port: number): Promise<Socket> {
  const s = connect(port, '127.0.0.1');
  s.setNoDelay(true);
  await new Promise<void>((res, rej) => { s.once('connect', res); s.once('error', rej); });
  return s;
}

async function session(port: number): Promise<{ ctl: Socket; token: Buffer }> {
  const ctl = await open(port);
  ctl.write(Buffer.concat([Buffer.from([0xee, 0xaa, 0x00]), loginFrame('', '')]));
  const reply = await readExactly(ctl, 36);
  return { ctl, token: reply.subarray(4) };
}

/** A subscriber of `#` that discards what it receives. */
async function subscriber(port: number): Promise<Socket[]> {
  const { ctl, token } = await session(port);
  const data = await open(port);
  data.write(Buffer.concat([Buffer.from([0xee, 0xab, 0x00]), token, Buffer.from([255])]));
  await readExactly(data, 5);
  data.on('data', () => undefined);
  ctl.write(topicsFrame(2, ['#']));
  await readExactly(ctl, 1);
  return [ctl, data];
}

/** Pipelined publishing for warm-up + measurement; psrtd's pid for its CPU time. */
async function publish(port: number, pid: number, seconds: number): Promise<RunResult> {
  const { ctl } = await session(port);
  const frames = Array.from({ length: 16 }, (_, i) => publishFrame(`bench/plant${i % 4}/sensor${i}`, 'x'.repeat(16)));
  const batch = Buffer.concat(frames);
  let outstanding = 0;
  let acked = 0;
  let running = true;
  const refill = (): void => {
    while (running && outstanding + frames.length <= WINDOW) {
      ctl.write(batch);
      outstanding += frames.length;
    }
  };
  ctl.on('data', (d: Buffer) => {
    outstanding -= d.length;
    acked += d.length;
    refill();
  });
  refill();
  await new Promise((r) => setTimeout(r, WARMUP_MS));
  const start = acked;
  const cpu0 = cpuSeconds(pid);
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const count = acked - start;
  const rate = (count * 1000) / (performance.now() - t0);
  const cpuUsPerPublish = ((cpuSeconds(pid) - cpu0) * 1e6) / count;
  running = false;
  ctl.destroy();
  return { rate, cpuUsPerPublish };
}

function scraper(statsPort: number): () => void {
  const base = `http://127.0.0.1:${statsPort}`;
  const timer = setInterval(() => {
    for (const path of ['/status', '/topics?limit=15', '/metrics']) {
      void fetch(base + path).then((r) => r.arrayBuffer()).catch(() => undefined);
    }
  }, 1000);
  return () => { clearInterval(timer); };
}

async function runOnce(mode: Mode): Promise<RunResult> {
  const server: Psrtd = await startPsrtd({
    proto: { timeout: 30 },
    server: mode === 'off' ? {} : { bind_stats: '127.0.0.1:0' },
  });
  const sub = await subscriber(server.port);
  const stopScraping = mode === 'scraped' && server.statsPort !== null ? scraper(server.statsPort) : () => undefined;
  try {
    return await publish(server.port, server.proc.pid ?? 0, SECONDS);
  } finally {
    stopScraping();
    for (const s of sub) s.destroy();
    await server.stop();
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[m] ?? 0) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2;
};

const TABLE_TOPICS = 10_000;
const SCRAPES = 200;

/** psrtd CPU µs per request of each endpoint, with a full topic table. */
async function scrapeCost(): Promise<void> {
  const server = await startPsrtd({ proto: { timeout: 30 }, server: { bind_stats: '127.0.0.1:0' } });
  try {
    const { ctl } = await session(server.port);
    let acked = 0;
    const done = new Promise<void>((res) => {
      ctl.on('data', (d: Buffer) => {
        acked += d.length;
        if (acked >= TABLE_TOPICS) res();
      });
    });
    for (let i = 0; i < TABLE_TOPICS; i += 500) {
      ctl.write(Buffer.concat(Array.from({ length: 500 }, (_, k) => publishFrame(`fill/${i + k}`, 'x'))));
    }
    await done;
    ctl.destroy();
    const pid = server.proc.pid ?? 0;
    console.log(`\npsrtd CPU per request (topic table: ${TABLE_TOPICS.toLocaleString('en-US')} topics, ${SCRAPES} requests each)`);
    for (const path of ['/status', '/topics?limit=15', '/metrics', '/']) {
      const cpu0 = cpuSeconds(pid);
      for (let i = 0; i < SCRAPES; i++) await (await fetch(`http://127.0.0.1:${server.statsPort ?? 0}${path}`)).arrayBuffer();
      const us = ((cpuSeconds(pid) - cpu0) * 1e6) / SCRAPES;
      console.log(`  ${path.padEnd(18)} ${us.toFixed(0).padStart(6)} µs`);
    }
  } finally {
    await server.stop();
  }
}

const pct = (x: number, ref: number): string => {
  const d = ref > 0 ? ((x - ref) / ref) * 100 : 0;
  return `${d >= 0 ? '+' : ''}${d.toFixed(1)} %`;
};

async function main(): Promise<void> {
  const results = new Map<Mode, RunResult[]>(MODES.map((m) => [m, []]));
  for (let round = 1; round <= ROUNDS; round++) {
    // Rotate the order each round so drift (thermal, other load) does not favour one mode.
    const order = MODES.map((_, i) => MODES[(i + round) % MODES.length]!);
    for (const mode of order) {
      const r = await runOnce(mode);
      results.get(mode)?.push(r);
      console.log(`round ${round} ${mode.padEnd(8)} ${Math.round(r.rate).toLocaleString('en-US').padStart(9)} publishes/s  ${r.cpuUsPerPublish.toFixed(3)} µs CPU/publish`);
    }
  }
  const rateOf = (m: Mode): number => median((results.get(m) ?? []).map((r) => r.rate));
  const cpuOf = (m: Mode): number => median((results.get(m) ?? []).map((r) => r.cpuUsPerPublish));
  const spread = (m: Mode): string => {
    const rates = (results.get(m) ?? []).map((r) => r.rate);
    return `${Math.round(Math.min(...rates) / 1000)}k–${Math.round(Math.max(...rates) / 1000)}k`;
  };
  console.log(`\nmedians over ${ROUNDS} rounds of ${SECONDS} s`);
  console.log('mode      publishes/s (range)        vs off    µs CPU/publish   vs off');
  for (const mode of MODES) {
    const rate = Math.round(rateOf(mode)).toLocaleString('en-US');
    console.log(
      `${mode.padEnd(9)} ${rate.padStart(9)} (${spread(mode).padEnd(11)})  ${pct(rateOf(mode), rateOf('off')).padStart(8)}` +
        `   ${cpuOf(mode).toFixed(3).padStart(10)}     ${pct(cpuOf(mode), cpuOf('off')).padStart(8)}`,
    );
  }
  await scrapeCost();
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
