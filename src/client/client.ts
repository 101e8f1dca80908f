/**
 * PsrtClient: the TCP/Unix-socket PSRT client (CLIENT-API.md §9).
 *
 * ```ts
 * import { PsrtClient } from 'psrt-node';
 * const client = await PsrtClient.connect({ path: 'localhost:2873', timeout: 5 });
 * await client.subscribe('test/#');
 * client.on('message', (m) => console.log(m.topic, m.payload.toString()));
 * await client.publish('test/a', 'hello');
 * await client.bye();
 * ```
 *
 * Operations are pipelined: call publish() many times without awaiting and the requests go out
 * together; each promise settles when its own reply (matched in order) arrives. Errors are
 * PsrtError with `code`: AccessDenied (`FE`, connection kept), ServerError (`FF`, connection
 * kept), Timeout, NotConnected (closed client), Eof/Io (connection lost), ProtocolViolation.
 *
 * Events: `message` (each received message), `disconnect` (connection lost, a reconnect
 * follows), `reconnect` (reconnected and re-subscribed; argument: null, or the error of a
 * re-subscription the server refused, e.g. after an ACL change), `close` (final; argument: the error
 * that ended the client or null), `error` (same error as `close`, emitted only when a listener
 * is attached, so an unhandled connection loss never throws from an event).
 */
import { EventEmitter } from 'node:events';
import { inspect, type InspectOptions } from 'node:util';
import {
  DEFAULT_PRIORITY,
  OP_BYE,
  OP_NOP,
  OP_PUBLISH,
  OP_PUBLISH_REPL,
  OP_SUBSCRIBE,
  OP_UNSUBSCRIBE,
} from '../protocol/constants.js';
import {
  encodeBye,
  encodeNop,
  encodePublish,
  encodeReplBody,
  encodeReplTopic,
  encodeSubscribe,
  encodeUnsubscribe,
} from '../protocol/encode.js';
import { ErrorCode, PsrtError } from '../protocol/errors.js';
import { openConnection, type OpenedConnection } from './connect.js';
import { ControlChannel } from './control-channel.js';
import { DataChannel, type Message } from './data-channel.js';
import { Fifo } from './fifo.js';
import { MessageDelivery } from './message-delivery.js';
import { resolveOptions, type ClientOptions, type ResolvedOptions } from './options.js';
import { notify, Reconnector } from './reconnect.js';
import { resubscribeAll } from './resubscribe.js';
import {
  checkTopics,
  describeRequest,
  newRequest,
  priorityError,
  publishTopicError,
  settleError,
  timeoutError,
  timeoutOptionError,
  type Request,
  type RequestOptions,
  type Wire,
} from './request.js';
import { encodePublishHeader, ZERO_COPY_MIN } from './frames.js';
import { inspectSummary } from './redact.js';

export type Payload = Buffer | Uint8Array | string;

/** Op byte and LEN of a SUBSCRIBE frame. */
const SUBSCRIBE_HEADER = 5;

export interface PublishOptions extends RequestOptions {
  /** Priority byte, default 0x7f (the server passes it through unchanged). */
  readonly priority?: number;
}

export interface ClientEvents {
  message: [msg: Message];
  disconnect: [err: PsrtError];
  /** Reconnected; `refused`: null, or why the server refused re-subscribing (some) topics. */
  reconnect: [refused: PsrtError | null];
  /** With `reconnect`: one attempt failed (wrong password, server down, ...); retrying follows. */
  reconnectFailed: [err: PsrtError, attempt: number];
  close: [err: PsrtError | null];
  error: [err: PsrtError];
  /** Node's own event, emitted before a listener is added. */
  newListener: [event: string | symbol, listener: (...args: never[]) => void];
}

type State = 'connected' | 'reconnecting' | 'closing' | 'closed';

export class PsrtClient extends EventEmitter<ClientEvents> {
  private state: State = 'connected';
  private control: ControlChannel | null = null;
  private data: DataChannel | null = null;
  /** Requests made while reconnecting; sent once the new connection is up. */
  private readonly parked = new Fifo<Request>();
  /** Current subscriptions, kept only when reconnect is on (needed to re-subscribe). */
  private readonly subscriptions: Set<string> | null;
  private readonly delivery: MessageDelivery;
  private readonly reconnector: Reconnector | null;
  /** Body bytes of the largest SUBSCRIBE the server took: re-subscription stays within it. */
  private largestSubscribe = 0;
  /** The outcome of the first bye(): later calls wait for the same BYE. */
  private byeDone: Promise<void> | null = null;

  /** Connects (control socket, login, data socket) within `timeout`. */
  static async connect(options: ClientOptions): Promise<PsrtClient> {
    const opts = resolveOptions(options);
    const opened = await openConnection(opts, options.signal);
    const client = new PsrtClient(opts);
    client.attach(opened);
    return client;
  }

  private constructor(private readonly opts: ResolvedOptions) {
    super();
    this.delivery = new MessageDelivery(
      opts.queueSize,
      opts.queueBytes,
      () => this.data?.resume(),
      () => this.listenerCount('message'),
      (msg) => this.emit('message', msg),
    );
    this.on('newListener', (event) => {
      if (event === 'message') this.delivery.listenerAdded();
    });
    this.subscriptions = opts.reconnect !== null ? new Set() : null;
    this.reconnector =
      opts.reconnect !== null
        ? new Reconnector(opts.reconnect, (signal) => openConnection(opts, signal), {
            attach: (c) => {
              this.attach(c);
            },
            resubscribe: () => this.resubscribe(),
            reconnected: (refused) => {
              this.reconnected(refused);
            },
            drop: (err) => {
              this.control?.close(err, err);
            },
            failed: (err, attempt) => {
              this.emit('reconnectFailed', err, attempt);
            },
            giveUp: (err) => {
              this.finish(err);
            },
          })
        : null;
  }

  /** True while the control connection is up and usable. */
  get connected(): boolean {
    return this.state === 'connected' && this.control?.isOpen === true;
  }

  /** What logs may show: no password, no token, no internals. */
  toJSON(): Record<string, unknown> {
    return { address: this.opts.address.display, user: this.opts.user, state: this.state, connected: this.connected };
  }

  [inspect.custom](_depth: number, options: InspectOptions, nested: typeof inspect): string {
    return inspectSummary('PsrtClient', this.toJSON(), options, nested);
  }

  /** Subscribes to one topic or, with an array, to many in one request (bulk). */
  async subscribe(topic: string | readonly string[], opts?: RequestOptions): Promise<void> {
    const topics = typeof topic === 'string' ? [topic] : topic;
    if (topics.length === 0) return;
    checkTopics(topics);
    const frame = encodeSubscribe(topics);
    await this.call(OP_SUBSCRIBE, topic, { frame }, opts);
    if (this.subscriptions === null) return;
    for (const t of topics) this.subscriptions.add(t);
    this.largestSubscribe = Math.max(this.largestSubscribe, frame.length - SUBSCRIBE_HEADER);
  }

  async unsubscribe(topic: string | readonly string[], opts?: RequestOptions): Promise<void> {
    const topics = typeof topic === 'string' ? [topic] : topic;
    if (topics.length === 0) return;
    checkTopics(topics);
    await this.call(OP_UNSUBSCRIBE, topic, { frame: encodeUnsubscribe(topics) }, opts);
    if (this.subscriptions !== null) for (const t of topics) this.subscriptions.delete(t);
  }

  /** Publishes; resolves when the server has accepted (enqueued) the message. */
  publish(topic: string, payload: Payload, opts?: PublishOptions): Promise<void> {
    const priority = opts?.priority ?? DEFAULT_PRIORITY;
    const bad = publishTopicError(topic) ?? priorityError(priority);
    if (bad !== null) return Promise.reject(bad);
    const bytes = typeof payload === 'string' ? Buffer.from(payload) : payload;
    // Large payloads are not copied into the frame: the header and the caller's bytes are
    // written back to back. The caller must not modify them until the promise settles.
    const wire =
      bytes.length >= ZERO_COPY_MIN
        ? { frame: encodePublishHeader(priority, topic, bytes.length), tail: bytes }
        : { frame: encodePublish(priority, topic, bytes) };
    return this.call(OP_PUBLISH, topic, wire, opts);
  }

  /**
   * Replication publish (PROTOCOL.md §5.7; needs a `replicator` ACL). Resolves on `E0` (nobody
   * subscribed there) or on the final `01`. Other requests wait while it is between stages.
   */
  publishRepl(
    topic: string,
    payload: Payload,
    timestampNs: bigint,
    opts?: PublishOptions,
  ): Promise<void> {
    const priority = opts?.priority ?? DEFAULT_PRIORITY;
    const bad = priorityError(priority);
    if (bad !== null) return Promise.reject(bad);
    const bytes = typeof payload === 'string' ? Buffer.from(payload) : payload;
    const body = encodeReplBody(priority, timestampNs, bytes);
    return this.call(OP_PUBLISH_REPL, topic, { frame: encodeReplTopic(topic), stage2: body }, opts);
  }

  /** Explicit NOP round trip. */
  ping(opts?: RequestOptions): Promise<void> {
    return this.call(OP_NOP, undefined, { frame: encodeNop() }, opts);
  }

  /** Sends BYE after all pending requests and closes once the server confirms. */
  bye(opts?: RequestOptions): Promise<void> {
    const bad = timeoutOptionError(opts?.timeout);
    if (bad !== null) return Promise.reject(bad);
    this.byeDone ??= this.sayBye(opts);
    return this.byeDone;
  }

  private async sayBye(opts: RequestOptions | undefined): Promise<void> {
    const control = this.control;
    if (this.state !== 'connected' || control === null) {
      this.close();
      return;
    }
    this.state = 'closing';
    try {
      await new Promise<void>((resolve, reject) => {
        control.bye(this.makeRequest(OP_BYE, undefined, { frame: encodeBye() }, opts, resolve, reject));
      });
    } finally {
      this.close();
    }
  }

  /** Closes both sockets at once without BYE (like dropping the Rust client). */
  close(): void {
    if (this.state === 'closed') return;
    this.state = 'closing';
    this.reconnector?.cancel();
    this.control?.close(null, new PsrtError(ErrorCode.NotConnected, 'client closed'));
    this.finish(null);
  }

  /**
   * Received messages as an async iterator with back-pressure. Messages are buffered (up to
   * `queueSize` messages and `queueBytes` bytes) while an iterator is open or while no
   * `message` listener is attached, so nothing is lost between subscribe() and the start of
   * iteration. The iterator ends after bye()/close() and throws the error that ended the client.
   */
  messages(): AsyncIterableIterator<Message, undefined, undefined> {
    return this.delivery.iterator();
  }

  private makeRequest(
    op: number,
    subject: Request['subject'],
    wire: Wire,
    opts: RequestOptions | undefined,
    resolve: () => void,
    reject: (e: Error) => void,
  ): Request {
    return newRequest(op, subject, wire, opts, this.opts.timeoutMs, this.whyUnsent, resolve, reject);
  }

  private call(
    op: number,
    subject: Request['subject'],
    wire: Wire,
    opts: RequestOptions | undefined,
  ): Promise<void> {
    const bad = timeoutOptionError(opts?.timeout);
    if (bad !== null) return Promise.reject(bad);
    return new Promise<void>((resolve, reject) => {
      const req = this.makeRequest(op, subject, wire, opts, resolve, reject);
      if (req.settled) return; // signal already aborted
      if (this.state === 'connected' && this.control !== null) this.control.submit(req);
      else if (this.state === 'reconnecting') this.park(req);
      else settleError(req, new PsrtError(ErrorCode.NotConnected, `${describeRequest(req)}: not connected`));
    });
  }

  /** Why a request still waiting to be written was not: the connection is being re-opened. */
  private readonly whyUnsent = (): string | undefined =>
    this.state === 'reconnecting' ? `the connection to ${this.opts.address.display} was lost; reconnecting` : undefined;

  private park(req: Request): void {
    // Requests that timed out (or were aborted) meanwhile go, or a long outage kept them all.
    while (this.parked.peek()?.settled === true) this.parked.shift();
    if (req.deadline !== Number.POSITIVE_INFINITY) {
      const left = Math.max(0, req.deadline - performance.now());
      req.timer = setTimeout(() => {
        settleError(req, timeoutError(req, this.opts.timeoutMs, this.whyUnsent()));
      }, left);
    }
    this.parked.push(req);
  }

  private attach(c: OpenedConnection): void {
    const control = new ControlChannel(
      c.control.socket,
      c.control.surplus,
      {
        timeoutMs: this.opts.timeoutMs,
        maxInFlight: this.opts.queueSize,
        keepAliveMs: this.opts.keepAliveMs,
      },
      (err, unsent) => {
        this.controlEnded(control, err, unsent);
      },
    );
    this.control = control;
    if (c.data === null) return;
    const { dataIdleMs, maxMessageSize } = this.opts;
    this.data = new DataChannel(c.data.socket, c.data.surplus, dataIdleMs, maxMessageSize, this.delivery.deliver, (err) => {
      // A broken data stream ends the whole connection, as in the reference. While closing,
      // the server may close the data socket before our BYE reply is read: not an error.
      if (this.state === 'closing' || this.state === 'closed') return;
      if (this.control === control) control.sendByeAndClose(err);
    });
  }

  private controlEnded(control: ControlChannel, err: PsrtError | null, unsent: Request[]): void {
    const lost = err ?? new PsrtError(ErrorCode.NotConnected, 'client closed');
    if (this.control !== control) {
      for (const req of unsent) settleError(req, lost); // an older connection
      return;
    }
    this.control = null;
    this.data?.close();
    this.data = null;
    if (err !== null && this.state === 'connected' && this.reconnector !== null) {
      this.state = 'reconnecting';
      // Never written, so the server never saw them: they wait for the new connection.
      for (const req of unsent) this.park(req);
      // Started before the event, so that a listener's close() stops it.
      this.reconnector.start();
      notify(() => this.emit('disconnect', err));
      return;
    }
    // While re-subscribing these are re-subscriptions: the reconnector sees them fail and retries.
    for (const req of unsent) settleError(req, lost);
    if (err === null || this.state === 'closing' || this.state === 'closed') this.finish(null);
    else if (this.state !== 'reconnecting') this.finish(err);
  }

  /** Re-subscribes everything (see resubscribeAll). */
  private async resubscribe(): Promise<void> {
    const control = this.control;
    if (control === null || this.subscriptions === null) return;
    const refused = await resubscribeAll(
      [...this.subscriptions],
      this.largestSubscribe,
      (part) =>
        new Promise<void>((resolve, reject) => {
          control.submit(this.makeRequest(OP_SUBSCRIBE, part, { frame: encodeSubscribe(part) }, undefined, resolve, reject));
        }),
    ).then(() => null, (err: unknown) => err as Error);
    // A refusal does not end the attempt, but a connection lost meanwhile (in the same read as
    // the refusal) must: 'connected' without a connection would never reconnect again.
    if (this.control !== control) throw new PsrtError(ErrorCode.Eof, 'connection lost while re-subscribing');
    if (refused !== null) throw refused;
  }

  private reconnected(refused: PsrtError | null): void {
    this.state = 'connected';
    const control = this.control;
    // Their park timers keep running: their deadlines are older than those of the
    // re-subscription sent ahead of them, which the channel's deadline timer follows.
    for (const req of this.parked.drain()) if (!req.settled && control !== null) control.submit(req);
    this.emit('reconnect', refused);
  }

  private finish(err: PsrtError | null): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.data?.close();
    this.data = null;
    const pending = err ?? new PsrtError(ErrorCode.NotConnected, 'client closed');
    for (const req of this.parked.drain()) settleError(req, pending);
    this.delivery.end(err);
    this.emit('close', err);
    if (err !== null && this.listenerCount('error') > 0) this.emit('error', err);
  }
}
