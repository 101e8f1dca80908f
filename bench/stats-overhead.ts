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
 * with a data socket; throughput = publishes acknowledged per second during the measurement
 * window, after a warm-up. Bounded: ROUNDS × 3 × (WARMUP + SECONDS) + start-ups ≈ 45 s.
 */
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
const ROUNDS = Math.min(arg('--rounds', 3), 5);
const SECONDS = Math.min(arg('--seconds', 3), 5);

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

/** Pipelined publishing for warm-up + measurement; resolves with acknowledged publishes/s. */
async function publish(port: number, seconds: number): Promise<number> {
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
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const rate = ((acked - start) * 1000) / (performance.now() - t0);
  running = false;
  ctl.destroy();
  return rate;
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

async function runOnce(mode: Mode): Promise<number> {
  const server: Psrtd = await startPsrtd({
    proto: { timeout: 30 },
    server: mode === 'off' ? {} : { bind_stats: '127.0.0.1:0' },
  });
  const sub = await subscriber(server.port);
  const stopScraping = mode === 'scraped' && server.statsPort !== null ? scraper(server.statsPort) : () => undefined;
  try {
    return await publish(server.port, SECONDS);
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

async function main(): Promise<void> {
  const results = new Map<Mode, number[]>(MODES.map((m) => [m, []]));
  for (let round = 1; round <= ROUNDS; round++) {
    // Rotate the order each round so drift (thermal, other load) does not favour one mode.
    const order = MODES.map((_, i) => MODES[(i + round) % MODES.length] as Mode);
    for (const mode of order) {
      const rate = await runOnce(mode);
      results.get(mode)?.push(rate);
      console.log(`round ${round} ${mode.padEnd(8)} ${Math.round(rate).toLocaleString('en-US')} publishes/s`);
    }
  }
  const off = median(results.get('off') ?? []);
  console.log('\nmode      median publishes/s   vs off');
  for (const mode of MODES) {
    const m = median(results.get(mode) ?? []);
    const diff = off > 0 ? ((m - off) / off) * 100 : 0;
    console.log(`${mode.padEnd(9)} ${Math.round(m).toLocaleString('en-US').padStart(18)}   ${diff >= 0 ? '+' : ''}${diff.toFixed(1)} %`);
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
