/**
 * The long codec fuzz run (issue 7 item 1): every property of lib/fuzz/properties.ts with
 * random seeds, round robin, until `--inputs` inputs (default 1,000,000) were run or
 * `--max-seconds` (default 900) passed. Prints inputs/s per property; on a failure prints the
 * seed and replay path and exits 1.
 *
 *   node dist/scripts/fuzz.js [--inputs N] [--max-seconds S] [--seed S] [--batch B]
 *   node dist/scripts/fuzz.js --property NAME --seed S --path P     (replay one failure)
 *
 * Exit status: 0 all inputs passed; 1 a property failed; 2 bad arguments; 3 the time bound
 * was reached before the input target (the inputs run so far all passed).
 */
import { parseArgs } from 'node:util';
import { formatFailure, type FuzzProperty, type FuzzResult } from './lib/fuzz/define.js';
import { PROPERTIES } from './lib/fuzz/properties.js';

interface Options {
  readonly inputs: number;
  readonly maxSeconds: number;
  readonly seed: number;
  readonly batch: number;
  readonly only: string | undefined;
  readonly path: string | undefined;
}

function options(): Options {
  const { values } = parseArgs({
    options: {
      inputs: { type: 'string', default: '1000000' },
      'max-seconds': { type: 'string', default: '900' },
      seed: { type: 'string' },
      batch: { type: 'string', default: '2000' },
      property: { type: 'string' },
      path: { type: 'string' },
    },
  });
  const num = (name: string, v: string | undefined, fallback: number): number => {
    const n = v === undefined ? fallback : Number(v);
    if (!Number.isSafeInteger(n) || n < 0) {
      process.stderr.write(`fuzz: --${name} must be a non-negative integer\n`);
      process.exit(2);
    }
    return n;
  };
  return {
    inputs: num('inputs', values.inputs, 1_000_000),
    maxSeconds: num('max-seconds', values['max-seconds'], 900),
    seed: num('seed', values.seed, Math.floor(Math.random() * 0x7fffffff)),
    batch: Math.max(1, num('batch', values.batch, 2000)),
    only: values.property,
    path: values.path,
  };
}

function select(only: string | undefined): readonly FuzzProperty[] {
  if (only === undefined) return PROPERTIES;
  const found = PROPERTIES.filter((p) => p.name === only);
  if (found.length === 0) {
    process.stderr.write(`fuzz: unknown property ${only}; known: ${PROPERTIES.map((p) => p.name).join(', ')}\n`);
    process.exit(2);
  }
  return found;
}

interface Tally {
  inputs: number;
  ms: number;
}

/** Lets queued immediates run: the broker schedules one flush per session it sees. */
const yieldToLoop = (): Promise<void> => new Promise((r) => setImmediate(r));

function fail(r: FuzzResult): never {
  process.stdout.write(`\nFAILED\n${formatFailure(r)}\n`);
  process.exit(1);
}

async function main(): Promise<void> {
  const o = options();
  const props = select(o.only);
  if (o.path !== undefined) {
    const prop = props[0];
    if (prop === undefined) throw new Error('unreachable');
    const r = prop.check({ seed: o.seed, numRuns: 1, path: o.path });
    if (r.failed) fail(r);
    process.stdout.write(`replay of ${prop.name} passed\n`);
    return;
  }
  process.stdout.write(`fuzz: ${props.length} properties, target ${o.inputs} inputs, at most ${o.maxSeconds} s, base seed ${o.seed}\n`);
  const tallies = new Map<string, Tally>(props.map((p) => [p.name, { inputs: 0, ms: 0 }]));
  const t0 = performance.now();
  let total = 0;
  let lastReport = t0;
  for (let round = 0; total < o.inputs; round++) {
    for (const p of props) {
      const start = performance.now();
      // Seeds are derived from the base seed, so a whole run can be repeated with --seed.
      const r = p.check({ seed: (o.seed + round * 7919 + props.indexOf(p)) | 0, numRuns: o.batch });
      if (r.failed) fail(r);
      const t = tallies.get(p.name);
      if (t !== undefined) {
        t.inputs += r.numRuns;
        t.ms += performance.now() - start;
      }
      total += r.numRuns;
      await yieldToLoop();
    }
    const now = performance.now();
    if (now - lastReport > 10_000) {
      lastReport = now;
      process.stdout.write(`  ${total} inputs, ${rate(total, now - t0)} inputs/s\n`);
    }
    if ((now - t0) / 1000 > o.maxSeconds) break;
  }
  report(tallies, total, performance.now() - t0);
  if (total < o.inputs) {
    process.stdout.write(`time bound reached before ${o.inputs} inputs (no failure)\n`);
    process.exit(3);
  }
}

function rate(inputs: number, ms: number): string {
  return ms > 0 ? Math.round((inputs * 1000) / ms).toLocaleString('en') : '-';
}

function report(tallies: ReadonlyMap<string, Tally>, total: number, ms: number): void {
  for (const [name, t] of tallies) {
    process.stdout.write(`  ${name.padEnd(30)} ${String(t.inputs).padStart(9)} inputs  ${rate(t.inputs, t.ms).padStart(8)} inputs/s\n`);
  }
  process.stdout.write(`PASSED: ${total} inputs in ${(ms / 1000).toFixed(1)} s (${rate(total, ms)} inputs/s), no failure\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`fuzz: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
