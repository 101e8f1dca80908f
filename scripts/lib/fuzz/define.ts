/**
 * A fuzz property that both the bounded test (fixed seed, few runs) and the long fuzz script
 * (random seeds, millions of runs) execute, with a printable, replayable failure report.
 */
import fc from 'fast-check';

export interface FuzzParams {
  readonly seed: number;
  readonly numRuns: number;
  /** fast-check replay path of a reported failure. */
  readonly path?: string;
}

export interface FuzzResult {
  readonly name: string;
  readonly failed: boolean;
  /** Inputs run (on failure: up to and including the failing one, before shrinking). */
  readonly numRuns: number;
  readonly seed: number;
  readonly path: string | null;
  readonly counterexample: string | null;
  readonly error: string | null;
}

export interface FuzzProperty {
  readonly name: string;
  /** Runs in the normal test run: keeps that run within its time budget. */
  readonly testRuns: number;
  check(params: FuzzParams): FuzzResult;
}

export function defineProperty<Ts extends [unknown, ...unknown[]]>(
  name: string,
  testRuns: number,
  make: () => fc.IPropertyWithHooks<Ts>,
): FuzzProperty {
  let property: fc.IPropertyWithHooks<Ts> | null = null;
  return {
    name,
    testRuns,
    check: (p) => {
      property ??= make();
      const base = { seed: p.seed, numRuns: p.numRuns };
      const details = fc.check(property, p.path === undefined ? base : { ...base, path: p.path });
      return {
        name,
        failed: details.failed,
        numRuns: details.numRuns,
        seed: details.seed,
        path: details.counterexamplePath,
        counterexample: details.counterexample === null ? null : fc.stringify(details.counterexample),
        error: details.errorInstance === null ? null : describeError(details.errorInstance),
      };
    },
  };
}

function describeError(e: unknown): string {
  if (e instanceof Error) return e.stack ?? `${e.name}: ${e.message}`;
  return String(e);
}

/** One line per failure with everything needed to replay it. */
export function formatFailure(r: FuzzResult): string {
  return [
    `property ${r.name} failed after ${r.numRuns} inputs`,
    `  replay: --property ${r.name} --seed ${r.seed} --path ${r.path ?? ''}`,
    `  counterexample: ${(r.counterexample ?? '').slice(0, 2000)}`,
    `  error: ${r.error ?? ''}`,
  ].join('\n');
}
