/**
 * The pipelined control socket. Requests are written as soon as possible (many in flight, up to
 * `maxInFlight`), batched into one socket write per event-loop turn, and replies — single status
 * bytes that the server sends strictly in request order (PROTOCOL.md §5.2) — are matched FIFO.
 *
 * Timeouts: all requests with the default timeout have increasing deadlines, so one timer on the
 * oldest is enough; a request that times out stays in the in-flight queue as a ghost so that its
 * late reply is still matched to it and does not shift every later reply. The keep-alive NOP
 * goes out when the socket was idle for an interval, or when replies are overdue by one: its
 * own timeout then ends the connection (a server that stopped answering).
 *
 * Reply codes: `01` success; `FE` AccessDenied; `FF` ServerError — both reject only that request
 * and the connection stays usable (the server keeps the session after both). This differs from
 * the Rust client, which drops the connection on `FF`. Any other byte, or a byte nobody waits
 * for, is a protocol violation and ends the connection.
 */
import type { ByteQueue } from '../protocol/byte-queue.js';
import {
  OP_BYE,
  OP_NOP,
  RESPONSE_ERR,
  RESPONSE_ERR_ACCESS,
  RESPONSE_NOT_REQUIRED,
  RESPONSE_OK,
  RESPONSE_OK_WAITING,
} from '../protocol/constants.js';
import { encodeBye, encodeNop } from '../protocol/encode.js';
import { ErrorCode, PsrtError } from '../protocol/errors.js';
import type { ClientSocket } from './connect.js';
import { Fifo } from './fifo.js';
import {
  describeRequest,
  hex,
  settleError,
  settleOk,
  timeoutError,
  type Request,
} from './request.js';

/** Frames at least this long are written on their own instead of being copied into a batch. */
const BATCH_LIMIT = 64 * 1024;
/** A write at least this fraction of the keep-alive interval ago counts as idle (see onKeepAlive). */
const KEEPALIVE_MARGIN = 0.75;
const NOP_FRAME = encodeNop();
const BYE_FRAME = encodeBye();

export interface ControlSettings {
  readonly timeoutMs: number;
  readonly maxInFlight: number;
  readonly keepAliveMs: number;
}

export class ControlChannel {
  private readonly waiting = new Fifo<Request>();
  private readonly inflight = new Fifo<Request>();
  /** Requests on the default timeout, oldest first (their deadlines increase). */
  private readonly deadlines = new Fifo<Request>();
  private deadlineTimer: NodeJS.Timeout | undefined;
  private readonly keepAliveTimer: NodeJS.Timeout;
  private flushScheduled = false;
  private writeBlocked = false;
  /** A PUBLISH_REPL is between its stages: nothing else may be written. */
  private barrier = false;
  private nopPending = false;
  private lastWriteAt = performance.now();
  /** Last reply byte, or when the in-flight queue stopped being empty: replies are due since. */
  private repliesDueSince = performance.now();
  private ended = false;
  /** Set once BYE is queued: no new requests. */
  private closing = false;

  constructor(
    private readonly socket: ClientSocket,
    surplus: ByteQueue,
    private readonly settings: ControlSettings,
    /**
     * Called once when the channel ends; `null` after a completed BYE or local close. `unsent`:
     * the requests never written (the server never saw them), which the owner settles or sends
     * on a new connection.
     */
    private readonly onEnd: (err: PsrtError | null, unsent: Request[]) => void,
  ) {
    socket.on('data', this.onData);
    socket.on('drain', this.onDrain);
    socket.on('error', this.onSocketError);
    socket.on('close', this.onSocketClose);
    this.keepAliveTimer = setInterval(this.onKeepAlive, settings.keepAliveMs);
    this.keepAliveTimer.unref(); // the socket keeps the process alive, not the pinger
    if (surplus.length > 0) this.onData(surplus.drain());
    socket.resume();
    // Lost while the rest of the handshake ran (its 'close' event is gone already).
    if (socket.destroyed) process.nextTick(this.onSocketClose);
  }

  get isOpen(): boolean {
    return !this.ended && !this.closing;
  }

  /** Number of requests queued or awaiting a reply. */
  get pending(): number {
    return this.waiting.length + this.inflight.length;
  }

  submit(req: Request): void {
    if (this.ended || this.closing) {
      settleError(req, new PsrtError(ErrorCode.NotConnected, `${describeRequest(req)}: not connected`));
      return;
    }
    // Timed out or aborted before they could be written (a publisher faster than the link, a
    // server slow to answer): they go, or memory grew with them until the connection ended.
    while (this.waiting.peek()?.settled === true) this.waiting.shift();
    this.waiting.push(req);
    if (req.deadline !== Number.POSITIVE_INFINITY) {
      this.deadlines.push(req);
      if (this.deadlineTimer === undefined) this.armDeadlineTimer();
    }
    this.scheduleFlush();
  }

  /** Queues BYE after everything already submitted; the channel ends after its reply. */
  bye(req: Request): void {
    this.submit(req);
    this.closing = true;
  }

  /** Ends the channel now (no BYE); requests in flight fail with `pendingError`. */
  close(err: PsrtError | null, pendingError: PsrtError, lastWords?: Buffer): void {
    if (this.ended) return;
    this.ended = true;
    clearInterval(this.keepAliveTimer);
    clearTimeout(this.deadlineTimer);
    this.socket.off('close', this.onSocketClose);
    if (lastWords !== undefined && this.socket.writable) {
      // Let the bytes leave, but never wait long for a peer that does not close.
      const socket = this.socket;
      socket.end(lastWords);
      setTimeout(() => socket.destroy(), 1000).unref();
    } else this.socket.destroy();
    for (const req of this.inflight.drain()) settleError(req, pendingError);
    const unsent = this.waiting.drain().filter((req) => !req.settled && !req.internal);
    this.deadlines.drain();
    this.onEnd(err, unsent);
  }

  /** Best effort BYE without waiting (used when the data stream breaks the protocol). */
  sendByeAndClose(err: PsrtError): void {
    this.close(err, err, BYE_FRAME);
  }

  private fail(err: PsrtError): void {
    this.close(err, err);
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // One write per turn: everything submitted synchronously goes out together.
    process.nextTick(this.flush);
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    if (this.ended) return;
    const batch: Buffer[] = [];
    let batchBytes = 0;
    const max = this.settings.maxInFlight;
    while (!this.writeBlocked && !this.barrier && this.inflight.length < max) {
      const req = this.waiting.shift();
      if (req === undefined) break;
      if (req.settled) continue; // timed out or aborted before it was sent
      req.stage = 1;
      if (this.inflight.length === 0) this.repliesDueSince = performance.now();
      this.inflight.push(req);
      if (req.stage2 !== null) this.barrier = true;
      if (req.tail !== null) {
        // Header into the batch, then the caller's payload as its own write, in order.
        batch.push(req.frame);
        this.writeBatch(batch, batchBytes + req.frame.length);
        batch.length = 0;
        batchBytes = 0;
        this.write(req.tail);
      } else if (req.frame.length >= BATCH_LIMIT) {
        this.writeBatch(batch, batchBytes);
        batch.length = 0;
        batchBytes = 0;
        this.write(req.frame);
      } else {
        batch.push(req.frame);
        batchBytes += req.frame.length;
        if (batchBytes >= BATCH_LIMIT) {
          this.writeBatch(batch, batchBytes);
          batch.length = 0;
          batchBytes = 0;
        }
      }
    }
    this.writeBatch(batch, batchBytes);
  };

  private writeBatch(batch: Buffer[], bytes: number): void {
    if (batch.length === 0) return;
    const first = batch[0];
    this.write(batch.length === 1 && first !== undefined ? first : Buffer.concat(batch, bytes));
  }

  private write(buf: Uint8Array): void {
    this.lastWriteAt = performance.now();
    if (!this.socket.write(buf)) this.writeBlocked = true;
  }

  private readonly onDrain = (): void => {
    this.writeBlocked = false;
    this.scheduleFlush();
  };

  private readonly onData = (chunk: Buffer): void => {
    this.repliesDueSince = performance.now();
    const before = this.inflight.length;
    for (let i = 0; i < chunk.length && !this.ended; i++) this.reply(chunk[i] ?? 0);
    if (!this.ended && this.inflight.length < before && this.waiting.length > 0) {
      this.scheduleFlush();
    }
  };

  private reply(code: number): void {
    const req = this.inflight.peek();
    if (req === undefined) {
      this.fail(new PsrtError(ErrorCode.ProtocolViolation, `unexpected reply byte ${hex(code)}`));
      return;
    }
    if (req.stage2 !== null && req.stage === 1) {
      this.replStageReply(req, code);
      return;
    }
    this.inflight.shift();
    if (req.stage2 !== null) this.endBarrier();
    if (req.op === OP_NOP && req.internal) this.nopPending = false;
    if (code === RESPONSE_OK) {
      settleOk(req);
      if (req.op === OP_BYE) this.close(null, this.notConnected());
    } else this.replyError(req, code);
  }

  /** PUBLISH_REPL stage 1: `02` → send the body; `E0` → done; errors as usual. */
  private replStageReply(req: Request, code: number): void {
    if (code === RESPONSE_OK_WAITING && req.stage2 !== null) {
      req.stage = 2;
      this.write(req.stage2);
      return;
    }
    this.inflight.shift();
    this.endBarrier();
    if (code === RESPONSE_NOT_REQUIRED) settleOk(req);
    else this.replyError(req, code);
  }

  private replyError(req: Request, code: number): void {
    const what = describeRequest(req);
    if (code === RESPONSE_ERR_ACCESS) {
      settleError(req, new PsrtError(ErrorCode.AccessDenied, `access denied: ${what}`));
    } else if (code === RESPONSE_ERR) {
      settleError(req, new PsrtError(ErrorCode.ServerError, `server error (FF): ${what}`));
    } else {
      const err = new PsrtError(ErrorCode.ProtocolViolation, `unexpected reply ${hex(code)} to ${what}`);
      settleError(req, err);
      this.fail(err);
    }
  }

  private endBarrier(): void {
    this.barrier = false;
    if (this.waiting.length > 0) this.scheduleFlush();
  }

  private armDeadlineTimer(): void {
    let head = this.deadlines.peek();
    while (head?.settled === true) {
      this.deadlines.shift();
      head = this.deadlines.peek();
    }
    if (head === undefined) return;
    const wait = Math.max(0, head.deadline - performance.now());
    this.deadlineTimer = setTimeout(this.onDeadline, Math.ceil(wait));
  }

  private readonly onDeadline = (): void => {
    this.deadlineTimer = undefined;
    const now = performance.now();
    for (let head = this.deadlines.peek(); head !== undefined; head = this.deadlines.peek()) {
      if (!head.settled && head.deadline > now) break;
      this.deadlines.shift();
      if (head.settled) continue;
      settleError(head, timeoutError(head, this.settings.timeoutMs));
      if (head.internal) {
        this.fail(new PsrtError(ErrorCode.Timeout, 'server did not answer the keep-alive ping'));
        return;
      }
    }
    this.armDeadlineTimer();
  };

  private readonly onKeepAlive = (): void => {
    if (this.ended || this.closing || this.nopPending) return;
    const now = performance.now();
    const interval = this.settings.keepAliveMs;
    // Idle: timers tick with ms granularity, so a write made one interval ago can look a little
    // younger; without the margin every other NOP was skipped and the socket stayed silent for a
    // whole timeout — the server's own limit when both use the default (5 s).
    const idle = now - this.lastWriteAt >= interval * KEEPALIVE_MARGIN;
    // Busy but unanswered: a client that writes more often than the interval never went idle,
    // so a server that stopped answering (a black-holed link) went unnoticed while every
    // request timed out. The NOP's own deadline ends the connection then, as the reference
    // ends it on any reply timeout.
    const unanswered = this.inflight.length > 0 && now - this.repliesDueSince >= interval;
    if (!idle && !unanswered) return;
    this.nopPending = true;
    this.submit({
      op: OP_NOP,
      subject: undefined,
      frame: NOP_FRAME,
      tail: null,
      stage2: null,
      stage: 0,
      deadline: performance.now() + this.settings.timeoutMs,
      settled: false,
      timer: undefined,
      internal: true,
      resolve: noop,
      reject: noop,
      cleanup: undefined,
    });
  };

  private readonly onSocketError = (err: NodeJS.ErrnoException): void => {
    const reset = err.code === 'ECONNRESET' || err.code === 'EPIPE';
    const code = reset ? ErrorCode.Eof : ErrorCode.Io;
    this.fail(new PsrtError(code, `control socket: ${err.message}`, { cause: err }));
  };

  private readonly onSocketClose = (): void => {
    this.fail(new PsrtError(ErrorCode.Eof, 'connection closed by the server'));
  };

  private notConnected(): PsrtError {
    return new PsrtError(ErrorCode.NotConnected, 'client closed');
  }
}

function noop(): void {
  // keep-alive replies are not reported
}
