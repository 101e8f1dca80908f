/**
 * Load-generator processes: dist/bench/load/worker.js pinned to the load core, one Job each over
 * IPC. Every worker has a deadline after which it is killed by its PID.
 */
import { join } from 'node:path';
import type { CloseMessage, Job, JobResult, LoadJob, LoadResult, PopulateJob, PopulateResult } from '../load/job.js';
import { REPO_ROOT, SHIPPED_RUNTIME } from './brokers.js';
import { LOAD_CORE, startPinned, type Proc } from './procs.js';

const WORKER = join(REPO_ROOT, 'dist/bench/load/worker.js');
/** Set-up, drain and exit on top of the job's own timeline. */
const SLACK_MS = 30_000;

interface ErrorReply {
  kind: 'error';
  errors: string[];
}

function startWorker(job: Job, deadlineMs: number): { proc: Proc; result: Promise<JobResult> } {
  // The generator is Node too: it gets psrtd's allocator settings (glibc keeps freed memory),
  // which raise its 1 MB ceiling as much as psrtd's; its young generation stays V8's default.
  const proc = startPinned(LOAD_CORE, process.execPath, [WORKER], ['ignore', 'pipe', 'pipe', 'ipc'], SHIPPED_RUNTIME.env);
  const result = new Promise<JobResult>((resolve, reject) => {
    const timer = setTimeout(() => {
      void proc.stop();
      reject(new Error(`worker ${proc.pid} (${job.kind}) missed its ${deadlineMs} ms deadline`));
    }, deadlineMs);
    proc.child.once('message', (m: JobResult | ErrorReply) => {
      clearTimeout(timer);
      if (m.kind === 'error') reject(new Error(`worker failed: ${m.errors.join('; ')}`));
      else resolve(m);
    });
    proc.child.once('exit', (code) => {
      // The IPC pipe may still hold the result when 'exit' fires: give it a moment.
      setTimeout(() => {
        clearTimeout(timer);
        reject(new Error(`worker ${proc.pid} exited (${code}) without a result:\n${proc.output.join('\n')}`));
      }, 1000);
    });
  });
  proc.child.send(job);
  return { proc, result };
}

export async function runLoad(job: LoadJob): Promise<LoadResult> {
  const { proc, result } = startWorker(job, job.warmupMs + job.durationMs + job.drainMs + SLACK_MS);
  try {
    const r = await result;
    if (r.kind !== 'load') throw new Error('unexpected worker reply');
    return r;
  } finally {
    await proc.stop();
  }
}

export interface Population {
  readonly result: PopulateResult;
  /** Closes the sessions (the worker exits). */
  close(): Promise<void>;
}

/** Opens the sessions and subscriptions in a separate worker that keeps them until close(). */
export async function populate(job: PopulateJob, deadlineMs: number): Promise<Population> {
  const { proc, result } = startWorker(job, deadlineMs);
  let r: JobResult;
  try {
    r = await result;
  } catch (e) {
    await proc.stop();
    throw e;
  }
  if (r.kind !== 'populate') throw new Error('unexpected worker reply');
  return {
    result: r,
    close: async () => {
      const close: CloseMessage = { kind: 'close' };
      if (proc.child.connected) proc.child.send(close);
      const exited = new Promise((res) => proc.child.once('exit', res));
      await Promise.race([exited, new Promise((res) => setTimeout(res, 5000))]);
      await proc.stop();
    },
  };
}
