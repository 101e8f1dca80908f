/**
 * The scale benchmark's printed table: one column per target, one row per figure.
 */
import type { Check, TargetResult } from './target.js';

const f1 = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : '-');
const f2 = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : '-');
const mb = (kb: number): string => f1(kb / 1024);

/** Server RSS per session in KB: (after − before) / N. */
export function kbPerSession(r: TargetResult): number {
  return (r.rssAfterKb - r.rssBeforeKb) / r.n;
}

/** RSS growth per session over the second half of the sessions (the cost of one more). */
export function marginalKbPerSession(r: TargetResult): number {
  return (r.rssAfterKb - r.rssHalfKb) / (r.n - Math.floor(r.n / 2));
}

/** Extrapolated server RSS for `sessions`, in MB: the baseline plus the per-session slope. */
export function extrapolateMb(r: TargetResult, sessions: number): number {
  return (r.rssBeforeKb + kbPerSession(r) * sessions) / 1024;
}

function check(c: Check | null): string {
  if (c === null) return '-';
  return c.ok ? `ok (${c.exactlyOne})` : `FAIL: 1×${c.exactlyOne} 0×${c.none} >1×${c.more}`;
}

function rows(r: TargetResult): [string, string][] {
  const lat = r.latencyUs;
  const warm = r.warmupLatencyUs;
  const st = r.storm;
  const out: [string, string][] = [
    ['sessions (client processes)', `${r.n} (${r.clients})`],
    ['connect: time to set all up, s', r.connectS === null ? 'NOT ALL UP' : f2(r.connectS)],
    ['connect rate, sessions/s', r.connectS === null ? '-' : f1(r.n / r.connectS)],
    ['server CPU per new session, µs', f1((r.serverCpuConnectS / r.n) * 1e6)],
    ['  sessions/s one server core could set up', f1(r.n / Math.max(r.serverCpuConnectS, 1e-9))],
    ['server RSS before (no clients), MB', mb(r.rssBeforeKb)],
    ['server RSS after (N idle), MB', mb(r.rssAfterKb)],
    ['server RSS per session, KB', f2(kbPerSession(r))],
    ['  marginal: second half of the sessions, KB', f2(marginalKbPerSession(r))],
    ['  extrapolated to 100k sessions, MB', f1(extrapolateMb(r, 100_000))],
    ['  extrapolated to 1M sessions, GB', f2(extrapolateMb(r, 1_000_000) / 1024)],
    ['server idle CPU, % of a core (window, s)', `${f2(r.idleCpuPct)} (${f1(r.idleWindowS)})`],
    ['latency to 1 of N, p50 µs', lat === null ? '-' : f1(lat.p50)],
    ['latency p99 µs', lat === null ? '-' : f1(lat.p99)],
    ['latency p99.9 µs', lat === null ? '-' : f1(lat.p999)],
    ['latency probes received', lat === null ? '-' : String(lat.count)],
    ['  warm-up probes before them: p50 / p99 / max µs', warm === null ? '-' : `${f1(warm.p50)} / ${f1(warm.p99)} / ${f1(warm.max)}`],
    ['delivery check (exactly one each)', check(r.check)],
    ['drops while idle / failed attempts', `${r.status.drops} / ${r.status.failures}`],
    ['client CPU: start+connect / idle window, s', `${f2(r.clientCpuConnectS)} / ${f2(r.clientCpuIdleS)}`],
    ['  client CPU per new session, µs', f1((r.clientCpuConnectS / r.n) * 1e6)],
    ['client RSS (all processes), MB', mb(r.clientRssKb)],
  ];
  if (st !== null) {
    out.push(
      [`storm (${st.mode}): all back after, s`, st.allBackS === null ? 'NOT ALL BACK' : f2(st.allBackS)],
      ['  of which server restart, s', st.mode === 'restart' ? f2(st.serverRestartS) : '-'],
      ['  from listening to all back, s', st.fromListeningS === null ? '-' : f2(st.fromListeningS)],
      ['  check after storm', check(st.check)],
      ['  RSS steady → after storm, MB', `${mb(st.rssSteadyKb)} → ${mb(st.rssAfterKb)}`],
    );
    if (st.each.length > 1) {
      out.push(
        [`  storms in a row: all back after, s`, st.each.map((e) => (e.allBackS === null ? 'NOT ALL' : f1(e.allBackS))).join(' ')],
        ['  storms in a row: RSS after each, MB', st.each.map((e) => mb(e.rssAfterKb)).join(' ')],
      );
    }
  }
  return out;
}

export function table(results: readonly TargetResult[]): string {
  if (results.length === 0) return '(no results)';
  const heads = results.map((r) => `${r.server}/${r.proto}`);
  const all = results.map(rows);
  const labels = all[0]?.map(([k]) => k) ?? [];
  const longest = all.reduce((a, r) => (r.length > a.length ? r : a), all[0] ?? []);
  const names = longest.map(([k]) => k);
  const lw = Math.max(...names.map((k) => k.length), ...labels.map((k) => k.length));
  const cols = all.map((r, i) => Math.max((heads[i] ?? '').length, ...r.map(([, v]) => v.length)));
  const line = (k: string, vs: string[]): string => `${k.padEnd(lw)}  ${vs.map((v, i) => v.padStart(cols[i] ?? 0)).join('  ')}`;
  const out = [line('', heads), line('', cols.map((w) => '-'.repeat(w)))];
  for (const k of names) out.push(line(k, all.map((r) => r.find(([x]) => x === k)?.[1] ?? '-')));
  return out.join('\n');
}
