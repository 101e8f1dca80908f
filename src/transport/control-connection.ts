/**
 * A control socket after its login: the request loop (PROTOCOL.md §5.2). The login (§5.1) is
 * the base class, ControlLogin (control-login.ts).
 *
 * Requests are cut many per read. Their replies are written once per event-loop turn, after
 * the deliveries they caused (the FlushScheduler flushes in marking order and data channels
 * are marked while requests are handled): a subscriber gets a message one write sooner, and
 * all reads of a turn share one reply write. A read of a few requests is flushed as soon as
 * it is handled (see SYNC_FLUSH_REQUESTS). Each request must be
 * complete within T of the previous reply (§7): the deadline timer is re-armed only when
 * replies go out, so a slowloris sender cannot stretch it. While a subscriber this session
 * feeds is congested, reading stops (backpressure) and the deadline is suspended.
 */
import type { Socket } from 'node:net';
import type { AclEntry } from '../auth/acl.js';
import { stampNow, type Deadline, type Expiring, type Flushable, type PublisherPort, type Session, type Stamp } from '../broker/index.js';
import { RESPONSE_ERR, RESPONSE_OK, RESPONSE_OK_WAITING } from '../protocol/constants.js';
import { ControlDecoder, type ControlRequest } from '../protocol/control.js';
import { ErrorCode, PsrtError } from '../protocol/errors.js';
import { TOPICS_PER_TURN, ignoreErrorsOf, logClientError, type StreamContext } from './context.js';
import { ControlLogin } from './control-login.js';
import { ReplyBytes } from './reply-bytes.js';
import { routeSocketEvents, type SocketOwner } from './socket-events.js';
import { escapeForLog } from '../protocol/log-escape.js';

/**
 * Requests that share one receive Stamp. Processing 64 small publishes takes ~20 µs, so the
 * latency figures stay within that of a clock read per publish, at 1/64 of its cost.
 */
const STAMP_REQUESTS = 64;

/**
 * Reads of at most this many requests ask the FlushScheduler to write their deliveries and
 * replies right away: at moderate rates every message is a read of its own, and going through
 * setImmediate only adds a loop phase before its delivery write (docs/performance.md, "Latency
 * tail at moderate load"). Larger reads (pipelining, bursts) are batched as before.
 */
const SYNC_FLUSH_REQUESTS = 4;

export class ControlConnection extends ControlLogin implements PublisherPort, Flushable, Expiring, SocketOwner {
  blockedOn = 0;
  dirty = false;
  private readonly decoder: ControlDecoder;
  private session: Session | null = null;
  /** The request deadline, on the broker's shared wheel. */
  private readonly deadline: Deadline;
  private readonly replies = new ReplyBytes();
  private replTargets: Session[] | null = null;
  private replTopic = '';
  private resumeQueued = false;
  private replyWritePaused = false;
  private loggedTooMany = false;
  /** Requests handled so far: progress seen by a deadline check (onExpired). */
  private handled = 0;

  constructor(ctx: StreamContext, socket: Socket, address: string, unix: boolean) {
    super(ctx, socket, address, unix);
    this.decoder = new ControlDecoder(this.queue, ctx.limits);
    this.deadline = ctx.broker.wheel.deadline(this);
    this.deadline.arm(ctx.timeoutMs);
  }

  start(surplus: Buffer): void {
    if (this.ctx.log.enabled('info')) this.ctx.log.info(`Client connected: ${this.address}`);
    ignoreErrorsOf(this.socket); // 'close' follows; an I/O error ends the session
    routeSocketEvents(this.socket, this);
    this.queue.push(surplus);
    this.process();
  }

  onSocketData(chunk: Buffer): void {
    this.queue.push(chunk);
    this.process();
  }

  onSocketClose(): void {
    this.end();
  }

  onSocketDrain(): void {
    if (this.replyWritePaused) {
      this.replyWritePaused = false;
      this.resume();
    }
  }

  /** PublisherPort: every congested subscriber we wait for has drained. */
  resume(): void {
    if (this.resumeQueued || this.state === 'closed') return;
    this.resumeQueued = true;
    // Deferred: resume() is called from inside a channel flush; keep the stack flat.
    queueMicrotask(() => {
      this.resumeQueued = false;
      if (this.state === 'closed' || this.blockedOn > 0 || this.replyWritePaused) return;
      this.deadline.arm(this.ctx.timeoutMs);
      this.socket.resume();
      this.process();
    });
  }

  /** ControlPort: closes the socket (shutdown or session end from the broker). */
  close(): void {
    this.socket.destroy();
  }

  protected process(): void {
    if (this.state === 'login') this.processLogin();
    if (this.state !== 'ready') return;
    const scheduler = this.ctx.broker.scheduler;
    scheduler.hold();
    let count = 0;
    try {
      // Requests cut from one read share a receive time (see Stamp and STAMP_REQUESTS).
      let received = stampNow();
      let request: ControlRequest | null;
      while (this.canRead() && (request = this.decoder.next()) !== null) {
        if (++count % STAMP_REQUESTS === 0) received = stampNow();
        this.handle(request, received);
      }
    } catch (e) {
      scheduler.release(false);
      this.fail(e);
      return;
    }
    if (this.replies.length > 0) scheduler.mark(this);
    // A read of a few requests (moderate load) is flushed now, not in the check phase.
    scheduler.release(count <= SYNC_FLUSH_REQUESTS);
    if (this.blockedOn > 0) this.socket.pause();
  }

  /** Flushable: this turn's replies, after this turn's deliveries. */
  flush(): void {
    this.flushReplies();
    if (this.replyWritePaused) this.socket.pause();
  }

  /** A method, not an inline test: handle() changes state, which TS narrowing cannot see. */
  private canRead(): boolean {
    return this.blockedOn === 0 && this.state === 'ready';
  }

  /** The peer ended while its login was checked: answer what it sent, then close like Node. */
  protected endAfterPeer(): void {
    if (this.state === 'closed') return; // a request broke the protocol: already closed
    this.flushReplies();
    this.endSession();
    this.state = 'closed';
    this.endGracefully(null);
  }

  /** The login succeeded: the session starts, and its token is the reply. */
  protected loggedIn(user: string, acl: AclEntry): void {
    this.session = this.ctx.broker.createSession(user, this.address, acl, this);
    this.decoder.allowClusterExtensions = acl.replicator;
    this.state = 'ready';
    this.socket.write(this.session.token);
    this.deadline.arm(this.ctx.timeoutMs);
    // The token is a credential (it attaches a data socket to this session): never logged.
    if (this.ctx.log.enabled('trace')) this.ctx.log.trace(`${this.address} logged in as ${escapeForLog(user)}`);
  }

  private handle(request: ControlRequest, received: Stamp): void {
    this.handled++;
    const broker = this.ctx.broker;
    const session = this.session;
    if (session === null) throw new PsrtError(ErrorCode.Internal, 'request without a session');
    switch (request.kind) {
      case 'nop':
        this.replies.push(RESPONSE_OK);
        return;
      case 'publish':
        this.replies.push(broker.publish(session, request, this, received));
        return;
      case 'subscribe':
      case 'unsubscribe':
        this.handleTopics(session, request.kind, request.topics, request.tooMany === true);
        return;
      case 'repl-topic':
        this.handleReplTopic(session, request.topic);
        return;
      case 'repl-body':
        this.handleReplBody(request);
        return;
      case 'x-repl-query':
        this.replies.push(broker.replication.query(session, request.topic));
        return;
      case 'x-repl-publish':
        this.replies.push(
          broker.replication.publish(session, request.priority, request.timestampNs, request.body, this),
        );
        return;
      case 'bye':
        this.replies.push(RESPONSE_OK);
        this.bye();
        return;
    }
  }

  private handleTopics(session: Session, kind: 'subscribe' | 'unsubscribe', topics: readonly string[], tooMany: boolean): void {
    if (tooMany) {
      this.replies.push(RESPONSE_ERR);
      if (!this.loggedTooMany) {
        this.loggedTooMany = true;
        if (this.ctx.broker.logLimiter.line('max_topics_per_subscribe refused').admit()) this.ctx.log.error(`${session.label}: ${kind} with more than server.max_topics_per_subscribe topics refused`);
      }
      this.yieldTurn(); // counting the topics of a huge request took a while: let others run
    } else if (topics.length <= TOPICS_PER_TURN) {
      this.replies.push(kind === 'subscribe' ? this.ctx.broker.subscribe(session, topics) : this.ctx.broker.unsubscribe(session, topics));
    } else {
      this.topicsInSlices(session, kind, topics);
    }
  }

  /**
   * A large topic list, TOPICS_PER_TURN topics per event-loop turn. Reading pauses meanwhile
   * (blockedOn, as for backpressure), so later requests and the reply keep their order; the
   * result is the same as in one go (the first failing topic ends the request).
   */
  private topicsInSlices(session: Session, kind: 'subscribe' | 'unsubscribe', topics: readonly string[]): void {
    this.blockedOn++;
    let next = 0;
    const step = (): void => {
      if (this.state === 'closed' || session.ended) return;
      const slice = topics.slice(next, next + TOPICS_PER_TURN);
      next += TOPICS_PER_TURN;
      const broker = this.ctx.broker;
      const status = kind === 'subscribe' ? broker.subscribe(session, slice) : broker.unsubscribe(session, slice);
      if (status === RESPONSE_OK && next < topics.length) {
        setImmediate(step);
        return;
      }
      this.replies.push(status);
      broker.scheduler.mark(this);
      if (--this.blockedOn === 0) this.resume();
    };
    step();
  }

  /** Reads nothing more in this event-loop turn (after an expensive request). */
  private yieldTurn(): void {
    this.blockedOn++;
    setImmediate(() => {
      if (--this.blockedOn === 0) this.resume();
    });
  }

  private handleReplTopic(session: Session, topic: string): void {
    const { status, targets } = this.ctx.broker.replication.topic(session, topic);
    this.replies.push(status);
    if (status === RESPONSE_OK_WAITING) {
      this.replTargets = targets;
      this.replTopic = topic;
      this.decoder.expectReplBody();
    }
  }

  /** The body of the replicated message whose topic the previous request named. */
  private handleReplBody(request: Extract<ControlRequest, { kind: 'repl-body' }>): void {
    const { priority, timestampNs, payload } = request;
    this.replies.push(this.ctx.broker.replication.body(this.replTargets ?? [], this.replTopic, priority, timestampNs, payload, this));
    this.replTargets = null;
  }

  private flushReplies(): void {
    if (this.replies.length === 0) return;
    const out = this.replies.take();
    if (this.state === 'closed') return;
    if (!this.socket.write(out) && this.socket.writableLength > this.ctx.maxPendingReplyBytes) {
      // The client pipelines requests without reading our replies: stop reading it.
      this.replyWritePaused = true;
    }
    this.deadline.arm(this.ctx.timeoutMs);
  }

  private bye(): void {
    this.flushReplies();
    this.ctx.log.info(`Client disconnected: ${this.address}`);
    this.endSession();
    this.state = 'closed';
    this.endGracefully(null);
  }

  /** The request deadline expired. */
  onExpired(): void {
    if (this.state === 'closed') return;
    // Not the client's fault: bcrypt is queued behind others, or a subscriber it feeds is slow.
    if (this.state === 'authenticating' || this.blockedOn > 0) {
      this.deadline.arm(this.ctx.timeoutMs);
      return;
    }
    // Timers run before I/O in an event-loop turn: after a stall longer than T (GC, CPU
    // starvation, SIGSTOP) the client's next request may already wait in the socket. Judge after
    // this turn's I/O; any progress (a request, the login, a drained reply) re-armed the timer.
    const { state, handled, replyWritePaused } = this;
    setImmediate(() => {
      if (this.state !== state || this.handled !== handled) return;
      if (replyWritePaused && !this.replyWritePaused) return;
      // A client that stopped reading its replies is the client's fault: as in the reference,
      // a reply write must complete within T (PROTOCOL.md §7), else the session lives forever.
      const what = this.replyWritePaused ? 'reply write timed out' : 'request timed out';
      this.fail(new PsrtError(ErrorCode.Timeout, what));
    });
  }

  /** Closes this client only; replies to requests before the violation still go out. */
  protected fail(e: unknown): void {
    if (this.state === 'closed') return;
    const pending = this.replies.length > 0 ? this.replies.take() : null;
    logClientError(this.ctx, this.address, e);
    this.endSession();
    this.state = 'closed';
    if (pending !== null) this.endGracefully(pending);
    else this.socket.destroy();
  }

  /** Half-closes after the last bytes; a peer that never closes its side is cut after T. */
  private endGracefully(last: Buffer | null): void {
    if (last !== null) this.socket.end(last);
    else this.socket.end();
    const killer = setTimeout(() => {
      this.socket.destroy();
    }, this.ctx.timeoutMs);
    this.socket.on('close', () => {
      clearTimeout(killer);
    });
  }

  private end(): void {
    this.state = 'closed';
    this.endSession();
  }

  private endSession(): void {
    this.deadline.disarm();
    if (this.session !== null) {
      this.ctx.broker.endSession(this.session);
      this.session = null;
    }
  }
}
