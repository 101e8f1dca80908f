/**
 * Long loads in slices. A loader written as a generator yields every few thousand entries; run
 * synchronously it is one call, run cooperatively it gives the event loop back between slices,
 * so that reloading the ACL of a million users does not stop every client for seconds.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';

/** A computation that yields between slices of work and returns T. */
export type Steps<T> = Generator<void, T, void>;

/** All slices at once (start-up paths, tests, embedders). */
export function runSteps<T>(steps: Steps<T>): T {
  for (;;) {
    const r = steps.next();
    if (r.done === true) return r.value;
  }
}

/** Slices of at most about `sliceMs` each, with a turn of the event loop between them. */
export async function runStepsCooperatively<T>(steps: Steps<T>, sliceMs = 10): Promise<T> {
  let sliceStart = performance.now();
  for (;;) {
    const r = steps.next();
    if (r.done === true) return r.value;
    if (performance.now() - sliceStart >= sliceMs) {
      await nextTurn();
      sliceStart = performance.now();
    }
  }
}

/** How many entries a loader handles between yields: small enough for a ~1 ms slice. */
export const ENTRIES_PER_STEP = 100;
