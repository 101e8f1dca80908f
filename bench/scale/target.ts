/**
 * One measured target of the scale benchmark: a fresh server (psrtd or Mosquitto), N idle
 * sessions of one protocol opened by the load-client processes, then in order: RSS after a
 * settle, idle CPU over the idle window, one-way latency to one of the N sessions, the
 * delivery check, and optionally the reconnect storm.
 */
import { Child, allUp, totalStatus } from './children.js';
import { openPublisher, sendChecks, sendProbes } from './publisher.js';
import { rssKb, cpuSeconds, startMosquitto, startNodeFloor, startPsrtd, waitTimeWaitDrained, type Server, type ServerName } from './servers.js';
import { monoMs, sessionTopic, type ClientStatus, type Proto } from './wire.js';

export interface TargetOptions {
  readonly n: number;
  readonly keepaliveS: number;
  readonly idleS: number;
  readonly settleS: number;
  readonly window: number;
  readonly perClient: number;
  readonly addrs: readonly string[];
  readonly probes: number;
  /** Probes sent before the measured ones, reported apart (the first messages after idling). */
  readonly warmupProbes: number;
  readonly probeRate: number;
  readonly storm: 'restart' | 'drop' | null;
  /** Storms in a row (each with its check and settle): does memory come back, or ratchet? */
  readonly storms: number;
  readonly jitterMs: number;
  readonly timeoutS: number;
  /** The native load client's executable (bench/scale/native.ts), or null for the Node client. */
  readonly nativeClient: string | null;
}

export interface Check {
  readonly exactlyOne: number;
  readonly none: number;
  readonly more: number;
  readonly ok: boolean;
}

export interface StormResult {
  readonly mode: 'restart' | 'drop';
  /** From the kill (or drop) until every session is back and subscribed; null = not all back. */
  readonly allBackS: number | null;
  /** From the restarted server accepting connections until all are back (restart mode). */
  readonly fromListeningS: number | null;
  readonly serverRestartS: number;
  /** Server RSS just before the storm (the steady level) and after it plus a settle. */
  readonly rssSteadyKb: number;
  readonly rssAfterKb: number;
  readonly check: Check | null;
  readonly client: ClientStatus;
  /** Every storm of the run in order (the fields above are the first one's, the check the worst). */
  readonly each: readonly StormRound[];
}

export interface StormRound {
  readonly allBackS: number | null;
  readonly rssAfterKb: number;
  readonly checkOk: boolean;
}

export interface TargetResult {
  readonly server: ServerName;
  readonly proto: Proto;
  readonly n: number;
  readonly clients: number;
  readonly client: 'native' | 'node';
  readonly connectS: number | null;
  /** Server CPU time spent while the N sessions were set up (accepts, handshakes, logins). */
  readonly serverCpuConnectS: number;
  readonly rssBeforeKb: number;
  /** RSS with the first ⌊N/2⌋ sessions up (after a settle). */
  readonly rssHalfKb: number;
  readonly rssAfterKb: number;
  readonly idleCpuPct: number;
  readonly idleWindowS: number;
  /** The measured probes, after the warm-up ones. */
  readonly latencyUs: Percentiles | null;
  /** The warm-up probes: the first messages through the server after the idle window. */
  readonly warmupLatencyUs: Percentiles | null;
  readonly check: Check | null;
  readonly clientCpuConnectS: number;
  readonly clientCpuIdleS: number;
  readonly clientRssKb: number;
  readonly status: ClientStatus;
  readonly storm: StormResult | null;
  readonly errors: string[];
}

export interface Percentiles {
  readonly p50: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
  readonly count: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function pct(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN;
}

async function startServer(server: ServerName, proto: Proto): Promise<Server> {
  if (server === 'node-floor') return startNodeFloor(proto === 'mqtt');
  return server === 'mosquitto' ? startMosquitto() : startPsrtd(proto === 'mqtt');
}

/**
 * The Node.js floor forwards every publish to every session (no topics), so of the phases
 * after the idle window it takes none: latency, delivery check and storm are left out.
 */
export function measuresDelivery(server: ServerName): boolean {
  return server !== 'node-floor';
}

/** Publishes one check message per session and counts who got exactly one. */
async function deliveryCheck(children: readonly Child[], server: Server, proto: Proto, n: number): Promise<Check> {
  for (const c of children) c.send({ type: 'reset-counts' });
  const pub = await openPublisher(proto, server.port);
  try {
    await sendChecks(pub, n);
  } finally {
    pub.close();
  }
  // Deliveries trail the publisher's acks; wait until complete or stable for 2 s.
  let last = -1;
  let s = await totalStatus(children);
  for (let stable = 0; s.got1 + s.gotMore < n && stable < 10; ) {
    await sleep(200);
    s = await totalStatus(children);
    stable = s.got1 + s.gotMore === last ? stable + 1 : 0;
    last = s.got1 + s.gotMore;
  }
  await sleep(300); // let duplicates, if any, arrive
  s = await totalStatus(children);
  return { exactlyOne: s.got1, none: s.got0, more: s.gotMore, ok: s.got1 === n };
}

function percentiles(samples: readonly number[]): Percentiles {
  const us = [...samples].sort((a, b) => a - b);
  return { p50: pct(us, 0.5), p99: pct(us, 0.99), p999: pct(us, 0.999), max: us.at(-1) ?? NaN, count: us.length };
}

interface LatencyResult {
  readonly warmup: Percentiles | null;
  readonly measured: Percentiles | null;
}

/**
 * Probes to session 0: first the warm-up ones (the server's publish and delivery path has not
 * run since it started: psrtd compiles it then), reported apart, then the measured ones.
 */
async function latency(children: readonly Child[], server: Server, proto: Proto, o: TargetOptions): Promise<LatencyResult> {
  const first = children[0];
  if (first === undefined || o.probes <= 0) return { warmup: null, measured: null };
  const reset = async (): Promise<void> => {
    for (const c of children) c.send({ type: 'reset-counts' });
    await sleep(200); // the clients take the reset before the next probe
  };
  await reset();
  const pub = await openPublisher(proto, server.port);
  let warmup: Percentiles | null = null;
  try {
    if (o.warmupProbes > 0) {
      await sendProbes(pub, sessionTopic(0), o.warmupProbes, o.probeRate);
      await sleep(500);
      warmup = percentiles(await first.latency());
      await reset();
    }
    await sendProbes(pub, sessionTopic(0), o.probes, o.probeRate);
  } finally {
    pub.close();
  }
  await sleep(500);
  return { warmup, measured: percentiles(await first.latency()) };
}

/** `o.storms` storms in a row; the first one's figures, the first failed check, every round. */
async function storms(children: readonly Child[], server: Server, proto: Proto, o: TargetOptions, mode: 'restart' | 'drop', log: (s: string) => void): Promise<StormResult> {
  const rounds: Omit<StormResult, 'each'>[] = [];
  for (let k = 1; k <= o.storms; k++) {
    const st = await storm(children, server, proto, o, mode);
    rounds.push(st);
    log(`  storm ${k} (${mode}): all back in ${st.allBackS?.toFixed(1) ?? 'NOT ALL'} s; check ${st.check?.ok === true ? 'ok' : 'FAILED'}; RSS ${(st.rssAfterKb / 1024).toFixed(1)} MB`);
    if (st.allBackS === null) break;
  }
  const first = rounds[0];
  if (first === undefined) throw new Error('--storms must be at least 1');
  const failed = rounds.find((r) => r.check?.ok !== true);
  const each = rounds.map((r) => ({ allBackS: r.allBackS, rssAfterKb: r.rssAfterKb, checkOk: r.check?.ok === true }));
  return { ...first, check: failed === undefined ? first.check : failed.check, each };
}

async function storm(children: readonly Child[], server: Server, proto: Proto, o: TargetOptions, mode: 'restart' | 'drop'): Promise<Omit<StormResult, 'each'>> {
  const rssSteadyKb = rssKb(server.proc.pid);
  const t0 = monoMs();
  let listening = t0;
  if (mode === 'restart') {
    await server.restart();
    listening = monoMs();
  } else {
    for (const c of children) c.send({ type: 'drop' });
  }
  const back = await allUp(children, t0, o.timeoutS * 1000);
  const client = await totalStatus(children);
  const check = back === null ? null : await deliveryCheck(children, server, proto, o.n);
  await sleep(o.settleS * 1000);
  return {
    mode,
    allBackS: back === null ? null : (back - t0) / 1000,
    fromListeningS: back === null || mode === 'drop' ? null : (back - listening) / 1000,
    serverRestartS: (listening - t0) / 1000,
    rssSteadyKb,
    rssAfterKb: rssKb(server.proc.pid),
    check,
    client,
  };
}

/** Server and client CPU over the idle window (keepalives only), and the clients' RSS. */
async function idle(children: readonly Child[], server: Server, seconds: number): Promise<{ idleCpuPct: number; idleWindowS: number; clientCpuIdleS: number; clientRssKb: number }> {
  const cpu0 = cpuSeconds(server.proc.pid);
  const cli0 = children.reduce((a, c) => a + c.cpuS(), 0);
  const w0 = performance.now();
  await sleep(seconds * 1000);
  const idleWindowS = (performance.now() - w0) / 1000;
  return {
    idleCpuPct: ((cpuSeconds(server.proc.pid) - cpu0) / idleWindowS) * 100,
    idleWindowS,
    clientCpuIdleS: children.reduce((a, c) => a + c.cpuS(), 0) - cli0,
    clientRssKb: children.reduce((a, c) => a + c.rssKb(), 0),
  };
}

function spread(n: number, o: TargetOptions): number[] {
  const k = Math.max(2, Math.ceil(n / o.perClient));
  return Array.from({ length: k }, (_, i) => Math.floor((n * (i + 1)) / k) - Math.floor((n * i) / k));
}

interface Connected {
  readonly up: number | null;
  readonly connectS: number | null;
  readonly clientCpuConnectS: number;
  readonly serverCpuConnectS: number;
}

/**
 * Starts client processes for sessions [first, first + n) and opens them; `up` is when the
 * last one was established.
 */
async function connectBatch(children: Child[], server: Server, proto: Proto, o: TargetOptions, first: number, n: number): Promise<Connected> {
  const counts = spread(n, o);
  const batch = counts.map(() => Child.spawn(o.nativeClient));
  children.push(...batch);
  await Promise.all(batch.map((c) => c.ready));
  const cpu0 = cpuSeconds(server.proc.pid);
  const cli0 = batch.reduce((a, c) => a + c.cpuS(), 0);
  const t0 = monoMs();
  let next = first;
  counts.forEach((count, i) => {
    const window = Math.max(1, Math.round(o.window / counts.length));
    batch[i]?.start({ type: 'start', proto, port: server.port, first: next, count, window, keepaliveS: o.keepaliveS, jitterMs: o.jitterMs, addrs: o.addrs, prefix: `scale-${process.pid}` });
    next += count;
  });
  const up = await allUp(batch, t0, o.timeoutS * 1000);
  return {
    up,
    connectS: up === null ? null : (up - t0) / 1000,
    clientCpuConnectS: batch.reduce((a, c) => a + c.cpuS(), 0) - cli0,
    serverCpuConnectS: cpuSeconds(server.proc.pid) - cpu0,
  };
}

function sumConnected(a: Connected, b: Connected): Connected {
  return {
    up: a.up === null || b.up === null ? null : b.up,
    connectS: a.connectS === null || b.connectS === null ? null : a.connectS + b.connectS,
    clientCpuConnectS: a.clientCpuConnectS + b.clientCpuConnectS,
    serverCpuConnectS: a.serverCpuConnectS + b.serverCpuConnectS,
  };
}

export async function runTarget(name: ServerName, proto: Proto, o: TargetOptions, log: (s: string) => void): Promise<TargetResult> {
  await waitTimeWaitDrained(log);
  const server = await startServer(name, proto);
  const children: Child[] = [];
  const errors: string[] = [];
  try {
    await sleep(o.settleS * 1000);
    const rssBeforeKb = rssKb(server.proc.pid);
    // Two halves with an RSS reading between them: the second half's growth is the marginal
    // cost of a session, free of what the first connections warm up once (code, pools).
    const half = Math.floor(o.n / 2);
    const first = await connectBatch(children, server, proto, o, 0, half);
    await sleep(o.settleS * 1000);
    const rssHalfKb = rssKb(server.proc.pid);
    const second = await connectBatch(children, server, proto, o, half, o.n - half);
    const { up, connectS, clientCpuConnectS, serverCpuConnectS } = sumConnected(first, second);
    log(`  ${name}/${proto}: ${up === null ? 'NOT all' : 'all'} ${o.n} sessions up${connectS === null ? '' : ` in ${connectS.toFixed(1)} s`}`);
    if (up === null) errors.push(`not all sessions up in ${o.timeoutS} s: ${JSON.stringify(await totalStatus(children))}`);
    await sleep(o.settleS * 1000);
    const rssAfterKb = rssKb(server.proc.pid);
    const { idleCpuPct, idleWindowS, clientCpuIdleS, clientRssKb } = await idle(children, server, o.idleS);
    log(`  idle: server ${idleCpuPct.toFixed(2)}% of a core over ${idleWindowS.toFixed(0)} s; RSS ${(rssAfterKb / 1024).toFixed(1)} MB`);
    const delivers = measuresDelivery(name);
    const { measured: latencyUs, warmup: warmupLatencyUs } = delivers ? await latency(children, server, proto, o) : { measured: null, warmup: null };
    const check = delivers ? await deliveryCheck(children, server, proto, o.n) : null;
    const status = await totalStatus(children);
    if (check !== null) log(`  check: ${check.exactlyOne}/${o.n} got exactly one (none ${check.none}, more ${check.more}); drops ${status.drops}`);
    const st = o.storm === null || !delivers ? null : await storms(children, server, proto, o, o.storm, log);
    return { server: name, proto, n: o.n, clients: children.length, client: o.nativeClient === null ? 'node' : 'native', connectS, serverCpuConnectS, rssBeforeKb, rssHalfKb, rssAfterKb, idleCpuPct, idleWindowS, latencyUs, warmupLatencyUs, check, clientCpuConnectS, clientCpuIdleS, clientRssKb, status, storm: st, errors };
  } finally {
    await Promise.all(children.map((c) => c.stop()));
    // The server's complaints, briefly (psrtd's latency_warn lines during the check are expected).
    const out = server.proc.output.filter((l) => /error|warn|refused/i.test(l));
    await server.stop();
    for (const l of out.slice(-3)) log(`  ${name} said: ${l}`);
    if (out.length > 3) log(`  (${out.length} such lines in the last ${server.proc.output.length} of its output)`);
  }
}
