/**
 * The server's per-connection decode path without sockets: greeting → login → pipelined
 * requests handled by a real Broker, exactly as transport/greeting.ts and
 * transport/control-connection.ts drive them. A watcher session subscribed to `#` with a fake
 * data socket records what the broker delivers, which gives the fuzzers a delivery oracle:
 * every publish answered `01` is delivered once, in order, with its normalised topic.
 */
import type { AclEntry } from '../../../src/auth/acl.js';
import { Broker } from '../../../src/broker/broker.js';
import { stampNow } from '../../../src/broker/delivery.js';
import type { DataPort, PublisherPort } from '../../../src/broker/ports.js';
import type { Session } from '../../../src/broker/session.js';
import { nullLogger } from '../../../src/log/logger.js';
import { ByteQueue } from '../../../src/protocol/byte-queue.js';
import { MODE_TLS, RESPONSE_OK, RESPONSE_OK_WAITING } from '../../../src/protocol/constants.js';
import {
  ControlDecoder,
  detachRequest,
  parsePublishBody,
  publishBody,
  type ControlLimits,
  type ControlRequest,
  type DetachedRequest,
  type PublishRequest,
} from '../../../src/protocol/control.js';
import { DataDecoder } from '../../../src/protocol/data-decoder.js';
import { isValidTcpMode, readDataHandshake, readGreeting, readLoginFrame } from '../../../src/protocol/handshake.js';
import { FULL_ACCESS } from '../../../src/auth/acl.js';
import { normalizeTopic } from '../../../src/topics/index.js';
import type { ErrorKey } from '../../../test/fixtures/vectors/types.js';
import { errorKey } from '../../../test/protocol/helpers.js';

export interface SessionOptions {
  readonly unix: boolean;
  readonly acl: AclEntry;
  readonly limits: ControlLimits;
  readonly maxTopicDepth: number;
}

export interface Delivered {
  readonly priority: number;
  readonly topic: string;
  readonly payload: Buffer;
}

export interface SessionRun {
  /** Where the connection ended: a close, the TLS hand-off, BYE, or still open (end of input). */
  readonly end: 'error' | 'bad-mode' | 'tls' | 'bye' | 'open';
  readonly error: ErrorKey | null;
  readonly requests: DetachedRequest[];
  readonly replies: number[];
  readonly expected: Delivered[];
  readonly delivered: Delivered[];
}

/** Collects what the broker writes to the watcher's data socket. */
class CapturePort implements DataPort {
  readonly chunks: Buffer[] = [];
  write(frames: readonly Buffer[]): boolean {
    for (const f of frames) this.chunks.push(Buffer.from(f));
    return true;
  }
  destroy(): void {
    /* nothing to close */
  }
  end(): void {
    /* nothing to close */
  }
}

const NO_CONTROL = {
  close: () => {
    /* the harness ends sessions itself */
  },
};
const PUBLISHER: PublisherPort = {
  blockedOn: 0,
  resume: () => {
    /* queues are far larger than any fuzz input: never congested */
  },
};

function makeBroker(maxTopicDepth: number): Broker {
  return new Broker(
    {
      maxTopicDepth,
      dataQueue: 1 << 20,
      dataQueueBytes: 1 << 30,
      drainTimeoutMs: 1000,
      latencyWarnUs: Number.MAX_SAFE_INTEGER,
      pingFloorMs: 100,
    },
    nullLogger,
  );
}

/** Mirrors ControlConnection.handle(); handle() returns false once the session is over (BYE). */
class Handler {
  readonly replies: number[] = [];
  readonly requests: DetachedRequest[] = [];
  readonly expected: Delivered[] = [];
  private replTargets: Session[] = [];
  private replTopic = '';

  constructor(
    private readonly broker: Broker,
    private readonly session: Session,
    private readonly watcher: Session,
    private readonly decoder: ControlDecoder,
  ) {}

  handle(r: ControlRequest): boolean {
    this.requests.push(detachRequest(r));
    switch (r.kind) {
      case 'nop':
      case 'bye':
        this.replies.push(RESPONSE_OK);
        break;
      case 'publish':
        this.publish(r);
        break;
      case 'subscribe':
      case 'unsubscribe':
        this.replies.push(
          r.kind === 'subscribe' ? this.broker.subscribe(this.session, r.topics) : this.broker.unsubscribe(this.session, r.topics),
        );
        break;
      case 'repl-topic':
        this.replTopicStage(r.topic);
        break;
      case 'repl-body':
        this.replBodyStage(r.priority, r.timestampNs, r.payload);
        break;
    }
    return r.kind !== 'bye';
  }

  private replTopicStage(topic: string): void {
    const { status, targets } = this.broker.replication.topic(this.session, topic);
    this.replies.push(status);
    if (status === RESPONSE_OK_WAITING) {
      this.replTargets = targets;
      this.replTopic = topic;
      this.decoder.expectReplBody();
    }
  }

  private replBodyStage(priority: number, timestampNs: bigint, payload: Buffer): void {
    this.replies.push(this.broker.replication.body(this.replTargets, this.replTopic, priority, timestampNs, payload, PUBLISHER));
    if (this.replTargets.includes(this.watcher)) this.expected.push(asClientSees(priority, this.replTopic, payload));
    this.replTargets = [];
  }

  private publish(r: PublishRequest): void {
    const { priority } = r;
    const body = publishBody(r);
    const status = this.broker.publish(this.session, r, PUBLISHER, stampNow());
    this.replies.push(status);
    if (status === RESPONSE_OK) {
      const { topic, payloadOffset } = parsePublishBody(body);
      // `#` matches every topic, the empty one included (SERVER.md §9.2).
      this.expected.push({ priority, topic: normalizeTopic(topic), payload: Buffer.from(body.subarray(payloadOffset)) });
    }
  }
}

/**
 * A PUBLISH_REPL topic is forwarded as sent (PROTOCOL.md §5.7, as the reference does), so a
 * replicator may send one containing 00; subscribers then split the frame at that 00. Only a
 * `replicator: true` user can do this, and it could publish anything anyway.
 */
function asClientSees(priority: number, topic: string, payload: Buffer): Delivered {
  const nul = topic.indexOf('\0');
  if (nul < 0) return { priority, topic, payload: Buffer.from(payload) };
  const rest = Buffer.from(topic.slice(nul + 1));
  return { priority, topic: topic.slice(0, nul), payload: Buffer.concat([rest, Buffer.from([0]), payload]) };
}

type Stage = 'greeting' | 'login' | 'data' | 'ready';

/** Feeds `chunks` one by one, like successive socket reads, and returns what happened. */
export function runControlSession(chunks: readonly Buffer[], opts: SessionOptions): SessionRun {
  const broker = makeBroker(opts.maxTopicDepth);
  const port = new CapturePort();
  const watcher = broker.createSession('watcher', 'fuzz', FULL_ACCESS, NO_CONTROL);
  broker.attachData(watcher.token, port, 255);
  broker.subscribe(watcher, ['#']);
  const queue = new ByteQueue();
  const decoder = new ControlDecoder(queue, opts.limits);
  let stage: Stage = 'greeting';
  let handler: Handler | null = null;
  let session: Session | null = null;
  const finish = (end: SessionRun['end'], error: ErrorKey | null): SessionRun => {
    if (session !== null) broker.endSession(session);
    broker.scheduler.flushNow();
    checkCleanup(broker, 1);
    broker.endSession(watcher);
    checkCleanup(broker, 0);
    return {
      end,
      error,
      requests: handler?.requests ?? [],
      replies: handler?.replies ?? [],
      expected: handler?.expected ?? [],
      delivered: decodeDelivered(port.chunks),
    };
  };
  try {
    for (const chunk of chunks) {
      queue.push(chunk);
      if (stage === 'greeting') {
        const g = readGreeting(queue);
        if (g === null) continue;
        if (!opts.unix && !isValidTcpMode(g.mode)) return finish('bad-mode', null);
        if (!opts.unix && g.mode === MODE_TLS) return finish('tls', null);
        stage = g.kind === 'control' ? 'login' : 'data';
      }
      if (stage === 'data') {
        const h = readDataHandshake(queue);
        if (h !== null && broker.attachData(h.token, port, h.timeoutSeconds) !== null) {
          throw new Error('a random token attached a data socket');
        }
        queue.drain(); // the server never reads a data socket after its handshake
        continue;
      }
      if (stage === 'login') {
        const frame = readLoginFrame(queue, opts.unix);
        if (frame === null) continue;
        session = broker.createSession(frame.login || 'anonymous', 'fuzz', opts.acl, NO_CONTROL);
        handler = new Handler(broker, session, watcher, decoder);
        stage = 'ready';
      }
      for (let r = decoder.next(); r !== null && handler !== null; r = decoder.next()) {
        if (!handler.handle(r)) return finish('bye', null);
      }
    }
    return finish('open', null);
  } catch (err) {
    // errorKey fails the property unless err is a PsrtError whose code is in the catalogue.
    return finish('error', errorKey(err));
  } finally {
    // Also on a failed assertion: a live channel would keep its ping interval running.
    if (session !== null) broker.endSession(session);
    broker.endSession(watcher);
  }
}

function checkCleanup(broker: Broker, sessions: number): void {
  if (broker.clientCount !== sessions || broker.subscriptionCount !== sessions || broker.dataChannelCount !== sessions) {
    throw new Error(
      `session state leaked: clients ${broker.clientCount}, subscriptions ${broker.subscriptionCount}, ` +
        `data channels ${broker.dataChannelCount} (expected ${sessions})`,
    );
  }
}

function decodeDelivered(chunks: readonly Buffer[]): Delivered[] {
  const q = new ByteQueue();
  for (const c of chunks) q.push(c);
  const decoder = new DataDecoder(q);
  const out: Delivered[] = [];
  for (let e = decoder.next(); e !== null; e = decoder.next()) {
    if (e.kind === 'message') out.push({ priority: e.priority, topic: e.topic, payload: Buffer.from(e.payload) });
  }
  if (q.length !== 0) throw new Error(`delivered stream ends with ${q.length} stray bytes`);
  return out;
}
