/**
 * Summarises a V8 .cpuprofile (written by `node --cpu-prof`): self time per function, the
 * biggest first. Self time of a node = the time deltas of the samples that landed in it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTime {
  readonly fn: string;
  readonly pct: number;
  readonly ms: number;
}

function label(f: CallFrame): string {
  const name = f.functionName === '' ? '(anonymous)' : f.functionName;
  if (f.url === '') return name;
  const file = f.url.replace(/^file:\/\/.*?\/(dist\/|node:)/, '$1').replace(/^node:/, 'node:');
  return `${name} ${file}:${f.lineNumber + 1}`;
}

export function selfTimes(file: string, top = 15): SelfTime[] {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const totals = new Map<string, number>();
  let all = 0;
  p.samples.forEach((id, i) => {
    const dt = p.timeDeltas[i] ?? 0;
    const node = byId.get(id);
    if (node === undefined) return;
    const key = label(node.callFrame);
    totals.set(key, (totals.get(key) ?? 0) + dt);
    all += dt;
  });
  return [...totals.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([fn, us]) => ({ fn, pct: (us / all) * 100, ms: us / 1000 }));
}

/** The .cpuprofile files in a directory (one per profiled process). */
export function profilesIn(dir: string): string[] {
  try {
    return readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(dir, f));
  } catch {
    return [];
  }
}

export function formatSelfTimes(rows: readonly SelfTime[]): string {
  return rows.map((r) => `${r.pct.toFixed(1).padStart(5)} %  ${r.ms.toFixed(0).padStart(6)} ms  ${r.fn}`).join('\n');
}
