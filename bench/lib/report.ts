/**
 * Turns the run records of all rounds into medians, the target verdicts of issue 6, text tables
 * for stdout and the JSON document written to bench/results/.
 */
import type { Latency } from '../load/job.js';
import type { BrokerName } from './brokers.js';
import type { RunRecord } from './scenarios.js';

export interface Summary {
  readonly scenario: string;
  readonly broker: BrokerName;
  readonly proto: string;
  readonly rounds: number;
  readonly delivered: number;
  readonly published: number;
  readonly genCpuPct: number;
  readonly serverCpuPct: number;
  readonly rssMb: number;
  readonly latency: Latency | null;
  readonly lateSends: number;
  readonly subscribeMs: number;
  readonly connectMs: number;
  readonly extraSubscriptions: number;
  /** (e): median over rounds of delivered / the paired empty-server figure. */
  readonly vsEmpty: number;
  /** (e): server CPU per message, empty ÷ with the subscriptions (1 = no extra cost per message). */
  readonly vsEmptyCpu: number;
  /** Summed over rounds: any non-zero value fails the scenario. */
  readonly loss: number;
  readonly duplicates: number;
  readonly outOfOrder: number;
  readonly corrupt: number;
  readonly errors: readonly string[];
}

export interface TargetVerdict {
  readonly target: string;
  readonly goal: string;
  readonly value: string;
  readonly met: boolean | null;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? NaN) : ((s[mid - 1] ?? NaN) + (s[mid] ?? NaN)) / 2;
}

function medianLatency(ls: readonly (Latency | null)[]): Latency | null {
  const xs = ls.filter((l): l is Latency => l !== null);
  if (xs.length === 0) return null;
  const m = (f: (l: Latency) => number): number => median(xs.map(f));
  return { count: m((l) => l.count), p50: m((l) => l.p50), p99: m((l) => l.p99), p999: m((l) => l.p999), max: m((l) => l.max) };
}

export function summarize(records: readonly RunRecord[]): Summary[] {
  const groups = new Map<string, RunRecord[]>();
  for (const r of records) {
    const key = `${r.scenario}|${r.broker}|${r.proto}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  return [...groups.values()].map((rs) => {
    const first = rs[0] as RunRecord;
    const m = (f: (r: RunRecord) => number): number => median(rs.map(f));
    const sum = (f: (r: RunRecord) => number): number => rs.reduce((n, r) => n + f(r), 0);
    return {
      scenario: first.scenario,
      broker: first.broker,
      proto: first.proto,
      rounds: rs.length,
      delivered: m((r) => r.delivered),
      published: m((r) => r.published),
      genCpuPct: m((r) => r.genCpuPct),
      serverCpuPct: m((r) => r.serverCpuPct),
      rssMb: m((r) => r.rssMb),
      latency: medianLatency(rs.map((r) => r.latency)),
      lateSends: m((r) => r.lateSends),
      subscribeMs: m((r) => r.subscribeMs),
      connectMs: m((r) => r.connectMs),
      extraSubscriptions: m((r) => r.extraSubscriptions),
      vsEmpty: m((r) => (r.emptyDelivered > 0 ? r.delivered / r.emptyDelivered : NaN)),
      vsEmptyCpu: m((r) => r.emptyServerUsPerMsg / ((r.serverCpuPct * 1e4) / r.delivered)),
      loss: sum((r) => r.loss),
      duplicates: sum((r) => r.duplicates),
      outOfOrder: sum((r) => r.outOfOrder),
      corrupt: sum((r) => r.corrupt),
      errors: rs.flatMap((r) => r.errors),
    };
  });
}

export function checkText(s: Summary): string {
  const bad = s.loss + s.duplicates + s.outOfOrder + s.corrupt;
  if (bad === 0 && s.errors.length === 0) return 'ok';
  return `FAIL loss=${s.loss} dup=${s.duplicates} ooo=${s.outOfOrder} bad=${s.corrupt}${s.errors.length > 0 ? ' err' : ''}`;
}

const find = (ss: readonly Summary[], scenario: string, broker: BrokerName): Summary | undefined =>
  ss.find((s) => s.scenario === scenario && s.broker === broker);

const int = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '-');
const fix = (n: number, d = 1): string => (Number.isFinite(n) ? n.toFixed(d) : '-');
const ok = (s: Summary | undefined): boolean => s !== undefined && checkText(s) === 'ok';

/** Target verdicts; `null` = could not be evaluated in this run (scenario or baseline absent). */
export function targets(ss: readonly Summary[]): TargetVerdict[] {
  const out: TargetVerdict[] = [];
  const ratio = (id: string): number => (find(ss, id, 'psrtd')?.delivered ?? NaN) / (find(ss, id, 'mosquitto')?.delivered ?? NaN);
  const a = find(ss, 'a', 'psrtd');
  if (a !== undefined) {
    out.push({ target: '(a) delivered msgs/s', goal: '≥ 300,000', value: int(a.delivered), met: a.delivered >= 300_000 && ok(a) });
    const r = ratio('a');
    out.push({ target: '(a) psrtd / mosquitto', goal: '≥ 4×', value: `${fix(r, 2)}×`, met: Number.isNaN(r) ? null : r >= 4 });
    out.push({ target: '(f) peak RSS in (a)', goal: '≤ 80 MB', value: `${fix(a.rssMb)} MB`, met: a.rssMb <= 80 });
  }
  const f = find(ss, 'f-defaults', 'psrtd');
  if (f !== undefined) {
    // Informational: what the launcher's runtime settings are worth (no target of its own).
    const speed = a === undefined ? '' : `, ${fix(f.delivered / a.delivered, 2)}× (a) speed`;
    out.push({ target: '(f) … plain node, no launcher settings', goal: '(info)', value: `${fix(f.rssMb)} MB${speed}`, met: null });
  }
  const b = find(ss, 'b-4x4', 'psrtd');
  if (b !== undefined) {
    const r = ratio('b-4x4');
    out.push({ target: '(b) 4→4 psrtd / mosquitto, zero loss', goal: '≥ 4×, ok', value: `${fix(r, 2)}×, ${checkText(b)}`, met: Number.isNaN(r) ? (ok(b) ? null : false) : r >= 4 && ok(b) });
  }
  const c = find(ss, 'c', 'psrtd')?.latency;
  if (c !== undefined && c !== null) {
    out.push({ target: '(c) p50 one-way', goal: '≤ 50 µs', value: `${fix(c.p50)} µs`, met: c.p50 <= 50 });
    out.push({ target: '(c) p99 one-way', goal: '≤ 500 µs', value: `${fix(c.p99)} µs`, met: c.p99 <= 500 });
    const mq = find(ss, 'c', 'mosquitto')?.latency;
    out.push({ target: '(c) p99 vs mosquitto', goal: '≤ mosquitto p99', value: mq == null ? '-' : `${fix(c.p99)} vs ${fix(mq.p99)} µs`, met: mq == null ? null : c.p99 <= mq.p99 });
  }
  const d = find(ss, 'd-1x1', 'psrtd');
  if (d !== undefined) out.push({ target: '(d) 1 MB 1→1 deliveries/s', goal: '≥ 1,000', value: int(d.delivered), met: d.delivered >= 1000 && ok(d) });
  out.push(...mqttTargets(ss));
  const e = find(ss, 'e-1m', 'psrtd');
  if (e !== undefined) {
    const r = e.vsEmpty;
    // The verdict is the throughput ratio (the target); the CPU-per-message ratio beside it is
    // the same comparison with the generator's speed taken out.
    const value = `${fix(r, 3)}× (CPU/msg ${fix(e.vsEmptyCpu, 3)}×)`;
    out.push({ target: '(e) 1M subs vs empty server', goal: '≥ 0.95×', value, met: r >= 0.95 && ok(e) });
  }
  return out;
}

/** The MQTT listener's targets: against Mosquitto in the same rounds, and across protocols. */
function mqttTargets(ss: readonly Summary[]): TargetVerdict[] {
  const out: TargetVerdict[] = [];
  const vs = (id: string, label: string, goal: number): void => {
    const p = find(ss, id, 'psrtd');
    if (p === undefined) return;
    const r = p.delivered / (find(ss, id, 'mosquitto')?.delivered ?? NaN);
    out.push({ target: `${label} psrtd / mosquitto, zero loss`, goal: `≥ ${goal}×, ok`, value: `${fix(r, 2)}× (${int(p.delivered)}/s), ${checkText(p)}`, met: Number.isNaN(r) ? null : r >= goal && ok(p) });
  };
  vs('m-a', '(m) MQTT QoS 0 1→1', 10);
  vs('m-q1', '(m) MQTT QoS 1 1→1', 5);
  const b = find(ss, 'm-b', 'psrtd');
  if (b !== undefined) out.push({ target: '(m) MQTT 4→4 zero loss', goal: 'ok', value: `${int(b.delivered)}/s, ${checkText(b)}`, met: ok(b) });
  const c = find(ss, 'm-c', 'psrtd')?.latency;
  const mc = find(ss, 'm-c', 'mosquitto')?.latency;
  if (c != null) out.push({ target: '(m) MQTT p99 at 10k msg/s', goal: '≤ mosquitto p99', value: `${fix(c.p99)} vs ${mc == null ? '-' : fix(mc.p99)} µs`, met: mc == null ? null : c.p99 <= mc.p99 });
  const d = find(ss, 'm-d', 'psrtd');
  if (d !== undefined) out.push({ target: '(m) MQTT 1 MB 1→1 deliveries/s', goal: '≥ 1,000', value: int(d.delivered), met: d.delivered >= 1000 && ok(d) });
  for (const [id, label] of [['x-pm', 'PSRT → MQTT'], ['x-mp', 'MQTT → PSRT']] as const) {
    const x = find(ss, id, 'psrtd');
    if (x !== undefined) out.push({ target: `(x) ${label} 1→1 msgs/s`, goal: '≥ 1,000,000, ok', value: `${int(x.delivered)}, ${checkText(x)}`, met: x.delivered >= 1e6 && ok(x) });
  }
  return out;
}

/** A plain text table: numbers right-aligned, text left-aligned. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const numeric = headers.map((_, i) => rows.every((r) => /^[\d,.×x%µ -]*$/.test(r[i] ?? '')));
  const line = (cells: readonly string[]): string =>
    cells.map((c, i) => (numeric[i] === true ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0))).join(' | ');
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('-|-'), ...rows.map(line)].join('\n');
}

export function throughputTable(ss: readonly Summary[], titles: ReadonlyMap<string, string>): string {
  const ids = [...new Set(ss.filter((s) => s.latency === null).map((s) => s.scenario))];
  const rows = ids.map((id) => {
    const p = find(ss, id, 'psrtd') ?? find(ss, id, 'reflector');
    const m = find(ss, id, 'mosquitto');
    const mq = ss.find((s) => s.scenario === id && s.broker === 'reflector' && s.proto === 'mqtt');
    const other = m ?? mq;
    return [
      `${id} ${titles.get(id) ?? ''}`,
      p?.broker === 'reflector' ? 'psrt→sink' : 'psrtd',
      int(p?.delivered ?? NaN),
      int(p?.published ?? NaN),
      fix(p?.serverCpuPct ?? NaN, 0),
      fix(p?.genCpuPct ?? NaN, 0),
      fix(p?.rssMb ?? NaN),
      p === undefined ? '-' : checkText(p),
      int(other?.delivered ?? NaN),
      fix(other?.serverCpuPct ?? NaN, 0),
      fix(other?.genCpuPct ?? NaN, 0),
      fix(other?.rssMb ?? NaN),
      other === undefined ? '-' : checkText(other),
      m === undefined ? '-' : `${fix((p?.delivered ?? NaN) / m.delivered, 2)}×`,
    ];
  });
  const headers = ['scenario', 'broker', 'deliv/s', 'pub/s', 'srv%', 'gen%', 'RSS MB', 'check', 'mosquitto (mqtt→sink) deliv/s', 'srv%', 'gen%', 'RSS MB', 'check', 'ratio'];
  return table(headers, rows);
}

export function latencyTable(ss: readonly Summary[]): string {
  const rows = ss
    .filter((s) => s.latency !== null)
    .map((s) => {
      const l = s.latency as Latency;
      return [`${s.scenario} ${s.broker}/${s.proto}`, fix(l.p50), fix(l.p99), fix(l.p999), fix(l.max), int(l.count), int(s.lateSends), fix(s.rssMb), checkText(s)];
    });
  return table(['latency at 10k msg/s', 'p50 µs', 'p99 µs', 'p99.9 µs', 'max µs', 'samples', 'late sends', 'RSS MB', 'check'], rows);
}

export function extraSubsTable(ss: readonly Summary[]): string {
  const rows = ss
    .filter((s) => s.scenario.startsWith('e-'))
    .map((s) => [s.scenario, int(s.extraSubscriptions), int(s.connectMs), int(s.subscribeMs), int(s.extraSubscriptions / (s.subscribeMs / 1000)), int(s.delivered), `${fix(s.vsEmpty, 3)}×`, `${fix(s.vsEmptyCpu, 3)}×`, fix(s.rssMb)]);
  return table(['(e)', 'extra subs', 'connect ms', 'subscribe ms', 'subs/s', 'deliv/s', 'vs empty', 'CPU/msg empty÷full', 'RSS MB'], rows);
}

export function targetTable(ts: readonly TargetVerdict[]): string {
  return table(['target', 'goal', 'median', 'verdict'], ts.map((t) => [t.target, t.goal, t.value, t.met === null ? 'n/a' : t.met ? 'MET' : 'MISSED']));
}
