/**
 * One control-socket request and its settlement. Requests are plain objects so that tens of
 * thousands of pipelined publishes cost one small allocation each.
 */
import {
  OP_BYE,
  OP_NOP,
  OP_PUBLISH,
  OP_PUBLISH_REPL,
  OP_SUBSCRIBE,
  OP_UNSUBSCRIBE,
} from '../protocol/constants.js';
import { ErrorCode, PsrtError } from '../protocol/errors.js';
import { MAX_TIMEOUT_SECONDS } from './options.js';

export interface RequestOptions {
  /** Seconds; default: the client's timeout. Counts from the call, queueing included. */
  readonly timeout?: number;
  /** Rejects the operation (it is not sent if still queued; a sent one cannot be recalled). */
  readonly signal?: AbortSignal;
}

/** The bytes of a request: `frame` (+ `tail`), and for PUBLISH_REPL the stage-2 body. */
export interface Wire {
  readonly frame: Buffer;
  readonly tail?: Uint8Array;
  readonly stage2?: Buffer;
}

export interface Request {
  /** Op code, for messages. */
  readonly op: number;
  /** Topic(s) concerned, for messages. */
  readonly subject: string | readonly string[] | undefined;
  /** Stage-1 bytes (the whole request for everything except PUBLISH_REPL). */
  readonly frame: Buffer;
  /** Large payload sent right after `frame` without being copied into it (zero-copy). */
  readonly tail: Uint8Array | null;
  /** PUBLISH_REPL body, sent after the server's `02`. */
  readonly stage2: Buffer | null;
  /** 0 queued, 1 written, 2 PUBLISH_REPL body written. */
  stage: number;
  /** performance.now() ms; Infinity when the request has its own timer. */
  readonly deadline: number;
  settled: boolean;
  timer: NodeJS.Timeout | undefined;
  /** Keep-alive NOP: its timeout means the server is gone. */
  readonly internal: boolean;
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
  /** Detaches the AbortSignal listener, if any. */
  cleanup: (() => void) | undefined;
}

const OP_NAMES: Readonly<Record<number, string>> = {
  [OP_NOP]: 'ping',
  [OP_PUBLISH]: 'publish',
  [OP_SUBSCRIBE]: 'subscribe',
  [OP_UNSUBSCRIBE]: 'unsubscribe',
  [OP_PUBLISH_REPL]: 'publish_repl',
  [OP_BYE]: 'bye',
};

/**
 * A request not yet sent. The client's timeout (`defaultTimeoutMs`) runs from now and is watched
 * by the channel (or the park timer) once queued; a per-call `timeout` gets its own timer at
 * once. `whyUnsent` says, for the timeout message, why a request still waiting was not written.
 */
export function newRequest(
  op: number,
  subject: Request['subject'],
  wire: Wire,
  opts: RequestOptions | undefined,
  defaultTimeoutMs: number,
  whyUnsent: () => string | undefined,
  resolve: () => void,
  reject: (e: Error) => void,
): Request {
  const custom = opts?.timeout;
  const timeoutMs = custom === undefined ? defaultTimeoutMs : custom * 1000;
  const req: Request = {
    op,
    subject,
    frame: wire.frame,
    tail: wire.tail ?? null,
    stage2: wire.stage2 ?? null,
    stage: 0,
    deadline: custom === undefined ? performance.now() + timeoutMs : Number.POSITIVE_INFINITY,
    settled: false,
    timer: undefined,
    internal: false,
    resolve,
    reject,
    cleanup: undefined,
  };
  if (custom !== undefined) {
    req.timer = setTimeout(() => {
      settleError(req, timeoutError(req, timeoutMs, whyUnsent()));
    }, timeoutMs);
  }
  if (opts?.signal !== undefined) watchSignal(req, opts.signal);
  return req;
}

export function describeRequest(req: Pick<Request, 'op' | 'subject'>): string {
  const name = OP_NAMES[req.op] ?? `op ${req.op}`;
  const s = req.subject;
  if (s === undefined) return name;
  return `${name} ${typeof s === 'string' ? s : s.join(', ')}`;
}

export function settleOk(req: Request): void {
  if (req.settled) return;
  req.settled = true;
  if (req.timer !== undefined) clearTimeout(req.timer);
  req.cleanup?.();
  req.resolve();
}

export function settleError(req: Request, err: Error): void {
  if (req.settled) return;
  req.settled = true;
  if (req.timer !== undefined) clearTimeout(req.timer);
  req.cleanup?.();
  req.reject(err);
}

/**
 * A request that was never written says so (and why, when the client knows: reconnecting), so
 * the caller does not look for a lost reply from a server that never saw it.
 */
export function timeoutError(req: Request, timeoutMs: number, unsentBecause?: string): PsrtError {
  const seconds = timeoutMs / 1000;
  const what = describeRequest(req);
  const text =
    req.stage === 0
      ? `${what}: not sent within ${seconds}s${unsentBecause !== undefined ? ` (${unsentBecause})` : ''}`
      : `${what}: no reply within ${seconds}s`;
  return new PsrtError(ErrorCode.Timeout, text);
}

export function hex(code: number): string {
  return code.toString(16).padStart(2, '0');
}

export function watchSignal(req: Request, signal: AbortSignal): void {
  const abort = (): void => {
    const reason: unknown = signal.reason;
    settleError(req, reason instanceof Error ? reason : new Error('operation aborted'));
  };
  if (signal.aborted) {
    abort();
    return;
  }
  signal.addEventListener('abort', abort, { once: true });
  req.cleanup = () => {
    signal.removeEventListener('abort', abort);
  };
}

/** A NUL would break the framing; an empty topic makes the server drop the connection. */
export function checkTopics(topics: readonly string[]): void {
  for (const t of topics) {
    if (t === '' || t.includes('\0')) {
      throw new PsrtError(ErrorCode.InvalidDataBlock, `invalid topic ${JSON.stringify(t)}`);
    }
  }
}

/**
 * Rejected locally because the server would close the whole connection (PROTOCOL.md §5.6):
 * empty topic, NUL, or a wildcard character anywhere.
 */
export function publishTopicError(topic: string): PsrtError | null {
  if (topic === '' || topic.includes('\0')) {
    return new PsrtError(ErrorCode.InvalidDataBlock, `invalid topic ${JSON.stringify(topic)}`);
  }
  if (topic.includes('+') || topic.includes('#')) {
    return new PsrtError(ErrorCode.WildcardInPublish, `wildcards are not allowed in a publish topic: ${topic}`);
  }
  return null;
}

/** A timer cannot hold 0, a negative, NaN, Infinity or more than ~24 days: it would fire at once. */
export function timeoutOptionError(timeout: number | undefined): RangeError | null {
  if (timeout === undefined || (timeout > 0 && timeout <= MAX_TIMEOUT_SECONDS)) return null;
  return new RangeError(`timeout must be a positive number of seconds, at most ${MAX_TIMEOUT_SECONDS}, got ${timeout}`);
}

/** A priority is one byte on the wire: anything else would be sent silently wrapped. */
export function priorityError(priority: number): RangeError | null {
  if (Number.isInteger(priority) && priority >= 0 && priority <= 255) return null;
  return new RangeError(`priority must be an integer 0..255, got ${priority}`);
}
