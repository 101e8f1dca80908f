/**
 * Server-side decoding of control-socket requests (PROTOCOL.md §5). Many requests are cut from
 * one read; every LEN is checked against its limit as soon as the 4 length bytes are visible,
 * before any body is buffered.
 */
import { isUtf8 } from 'node:buffer';
import type { ByteQueue } from './byte-queue.js';
import {
  OP_BYE,
  OP_NOP,
  OP_PUBLISH,
  OP_PUBLISH_REPL,
  OP_SUBSCRIBE,
  OP_UNSUBSCRIBE,
  OP_X_REPL_PUBLISH,
  OP_X_REPL_QUERY,
} from './constants.js';
import { ErrorCode, PsrtError } from './errors.js';
import { decodeUtf8 } from './handshake.js';

export interface ControlLimits {
  /** server.max_pub_size: limit of a PUBLISH LEN and of a PUBLISH_REPL body LEN. */
  readonly maxPubSize: number;
  /** server.max_topic_length: limit of a (UN)SUBSCRIBE LEN and of a PUBLISH_REPL topic LEN. */
  readonly maxTopicLength: number;
  /**
   * psrt-node extension (server.max_topics_per_subscribe): more topics in one (UN)SUBSCRIBE are
   * not decoded; the request comes out with `tooMany` set. Default: no limit.
   */
  readonly maxTopicsPerRequest?: number;
}

export type ControlRequest =
  | { readonly kind: 'nop' }
  | { readonly kind: 'bye' }
  | PublishRequest
  | { readonly kind: 'subscribe' | 'unsubscribe'; readonly topics: readonly string[]; readonly tooMany?: boolean }
  | { readonly kind: 'repl-topic'; readonly topic: string }
  /** Cluster extension: interest query (no stage 2). */
  | { readonly kind: 'x-repl-query'; readonly topic: string }
  /** Cluster extension: one-step replicated publish; body = topic 00 payload. */
  | {
      readonly kind: 'x-repl-publish';
      readonly priority: number;
      readonly timestampNs: bigint;
      readonly body: Buffer;
    }
  | {
      readonly kind: 'repl-body';
      readonly priority: number;
      readonly timestampNs: bigint;
      readonly payload: Buffer;
    };

/**
 * A PUBLISH. Its body `topic 00 payload` (exactly LEN bytes, validated later, after counting)
 * is bytes[start, end): usually the socket read it arrived in, so decoding a small publish
 * allocates nothing. Large publishes come `chunked`: the body is then only `topic 00` and the
 * payload stays in the received chunks (see ChunkedPublish).
 *
 * The decoder returns the same object for every PUBLISH: it is valid until the next call of
 * ControlDecoder.next().
 */
export interface PublishRequest {
  readonly kind: 'publish';
  readonly priority: number;
  readonly bytes: Buffer;
  readonly start: number;
  readonly end: number;
  readonly chunked: ChunkedPublish | null;
}

type Writable<T> = { -readonly [K in keyof T]: T[K] };

/**
 * A large PUBLISH as views of the socket reads it arrived in, never joined: `head` is
 * `01 prio LEN topic 00` (contiguous), `payload` the rest in order. Together they are exactly
 * the data frame that delivers the message (PROTOCOL.md §6.2: marker 01 = op 01), so a 1 MB
 * message reaches its subscribers without a user-space copy or a 1 MB allocation (each of
 * which costs a page fault per 4 KB on a fresh buffer).
 */
export interface ChunkedPublish {
  readonly head: Buffer;
  readonly payload: readonly Buffer[];
  readonly payloadLength: number;
}

/**
 * Publishes at least this long are delivered chunked. Smaller ones are copied into a frame
 * instead: a view would pin the whole socket read (up to 64 KB) for as long as the message
 * waits in a subscriber queue, which costs more memory than the copy costs time.
 */
const CHUNKED_MIN = 16 * 1024;

const EMPTY = Buffer.alloc(0);
const NOP: ControlRequest = { kind: 'nop' };
const BYE: ControlRequest = { kind: 'bye' };

export class ControlDecoder {
  private expectingReplBody = false;
  /** Set for replicator sessions only; otherwise ops 12/13 are unknown ops, as everywhere. */
  allowClusterExtensions = false;
  /** Reused for every PUBLISH (see PublishRequest); made at the first (most clients only subscribe). */
  private publish: Writable<PublishRequest> | null = null;

  constructor(
    private readonly queue: ByteQueue,
    private readonly limits: ControlLimits,
  ) {}

  /** After answering `02` to a PUBLISH_REPL topic, the next bytes are its stage-2 body. */
  expectReplBody(): void {
    this.expectingReplBody = true;
  }

  /** True when some bytes of an unfinished request are buffered. */
  get hasPartial(): boolean {
    return this.queue.length > 0;
  }

  /** The next complete request, or null when more bytes are needed. Throws on violations. */
  next(): ControlRequest | null {
    const q = this.queue;
    if (q.length === 0) return null;
    if (this.expectingReplBody) return this.nextReplBody();
    const op = q.byteAt(0);
    switch (op) {
      case OP_NOP:
        q.skip(1);
        return NOP;
      case OP_BYE:
        q.skip(1);
        return BYE;
      case OP_PUBLISH:
        return this.nextPublish();
      case OP_SUBSCRIBE:
      case OP_UNSUBSCRIBE:
        return this.nextTopicList(op === OP_SUBSCRIBE ? 'subscribe' : 'unsubscribe');
      case OP_PUBLISH_REPL:
        return this.nextReplTopic();
      case OP_X_REPL_QUERY:
        if (this.allowClusterExtensions) return this.nextQuery();
        break;
      case OP_X_REPL_PUBLISH:
        if (this.allowClusterExtensions) return this.nextReplPublish();
        break;
      default:
        break;
    }
    throw new PsrtError(ErrorCode.InvalidOperation, `Invalid operation: ${op}`);
  }

  private nextQuery(): ControlRequest | null {
    const q = this.queue;
    if (q.length < 5) return null;
    const len = checkedLength(q.u32At(1), this.limits.maxTopicLength);
    if (q.length < 5 + len) return null;
    q.skip(5);
    return { kind: 'x-repl-query', topic: decodeUtf8(q.take(len)) };
  }

  private nextReplPublish(): ControlRequest | null {
    const q = this.queue;
    if (q.length < 14) return null;
    const len = checkedLength(q.u32At(10), this.limits.maxPubSize + this.limits.maxTopicLength);
    if (q.length < 14 + len) return null;
    const head = q.take(14);
    return {
      kind: 'x-repl-publish',
      priority: head[1] ?? 0,
      timestampNs: head.readBigUInt64LE(2),
      body: q.take(len),
    };
  }

  private nextPublish(): ControlRequest | null {
    const q = this.queue;
    if (q.length < 6) return null;
    const len = checkedLength(q.u32At(2), this.limits.maxPubSize);
    if (q.length < 6 + len) return null;
    const request = (this.publish ??= { kind: 'publish', priority: 0, bytes: EMPTY, start: 0, end: 0, chunked: null });
    request.priority = q.byteAt(1);
    if (len >= CHUNKED_MIN) {
      const sep = q.indexOf(0, 6, 6 + len);
      // Without a topic and its 00 the body is joined and rejected by the broker as usual.
      if (sep > 6) {
        const head = q.take(sep + 1);
        const payloadLength = 6 + len - head.length;
        request.chunked = { head, payload: piecesOf(q, payloadLength), payloadLength };
        request.bytes = head;
        request.start = 6;
        request.end = head.length;
        return request;
      }
    }
    q.skip(6);
    request.chunked = null;
    request.bytes = q.takeRange(len);
    request.start = q.takenStart;
    request.end = request.start + len;
    return request;
  }

  private nextTopicList(kind: 'subscribe' | 'unsubscribe'): ControlRequest | null {
    const q = this.queue;
    if (q.length < 5) return null;
    const len = checkedLength(q.u32At(1), this.limits.maxTopicLength);
    if (q.length < 5 + len) return null;
    q.skip(5);
    const topics = splitTopicList(q.take(len), this.limits.maxTopicsPerRequest);
    return topics === null ? { kind, topics: [], tooMany: true } : { kind, topics };
  }

  private nextReplTopic(): ControlRequest | null {
    const q = this.queue;
    if (q.length < 5) return null;
    const len = checkedLength(q.u32At(1), this.limits.maxTopicLength);
    if (q.length < 5 + len) return null;
    q.skip(5);
    return { kind: 'repl-topic', topic: decodeUtf8(q.take(len)) };
  }

  private nextReplBody(): ControlRequest | null {
    const q = this.queue;
    if (q.length < 13) return null;
    const len = checkedLength(q.u32At(9), this.limits.maxPubSize);
    if (q.length < 13 + len) return null;
    const head = q.take(13);
    this.expectingReplBody = false;
    return {
      kind: 'repl-body',
      priority: head[0] ?? 0,
      timestampNs: head.readBigUInt64LE(1),
      payload: q.take(len),
    };
  }
}

/** A PUBLISH request for a whole body `topic 00 payload` (tools, tests, cold paths). */
export function publishRequest(priority: number, body: Buffer): PublishRequest {
  return { kind: 'publish', priority, bytes: body, start: 0, end: body.length, chunked: null };
}

/** The body `topic 00 payload` of a PUBLISH as one new Buffer (a chunked payload joined). */
export function publishBody(r: PublishRequest): Buffer {
  const body = r.bytes.subarray(r.start, r.end);
  return Buffer.concat(r.chunked === null ? [body] : [body, ...r.chunked.payload]);
}

/** A PUBLISH detached from the decoder and its read buffers (see detachRequest). */
export interface PublishCopy {
  readonly kind: 'publish';
  readonly priority: number;
  readonly body: Buffer;
}

export type DetachedRequest = Exclude<ControlRequest, PublishRequest> | PublishCopy;

/**
 * A request that can be kept: the decoder reuses its PUBLISH object and the body is a view of
 * a socket read. For tools and tests that collect requests (never the server's hot path).
 */
export function detachRequest(r: ControlRequest): DetachedRequest {
  return r.kind === 'publish' ? { kind: 'publish', priority: r.priority, body: publishBody(r) } : r;
}

/** Average piece size below which a chunked payload is joined after all. */
const MIN_AVERAGE_PIECE = 4096;

/**
 * The payload as views of the reads it arrived in — unless it came in many small reads (a slow
 * link's segments, TLS records, a trickling client): then it is joined once, so a queued
 * message never costs more than one piece per 4 KB in objects and in each subscriber's writev.
 */
function piecesOf(q: ByteQueue, payloadLength: number): Buffer[] {
  const views = q.takeViews(payloadLength);
  return views.length > 2 + payloadLength / MIN_AVERAGE_PIECE ? [Buffer.concat(views, payloadLength)] : views;
}

function checkedLength(len: number, limit: number): number {
  if (len > limit) throw new PsrtError(ErrorCode.FrameTooLong, `Frame too long (${len})`);
  return len;
}

/**
 * Splits a (un)subscribe body on every 00, ignoring empty pieces. All pieces are checked before
 * any is returned, so one bad piece rejects the whole request (PROTOCOL.md §5.4). UTF-8 is
 * checked once over the whole body: a 00 never occurs inside a multi-byte sequence, so the body
 * is valid exactly when every piece is, and one native pass is several times cheaper than one
 * per topic (a 10,000-topic request took ~3 ms to decode, now ~1 ms).
 */
export function splitTopicList(body: Buffer): string[];
/** null when there are more than `max` topics (decoding stops there, UTF-8 is not checked). */
export function splitTopicList(body: Buffer, max: number | undefined): string[] | null;
export function splitTopicList(body: Buffer, max = Infinity): string[] | null {
  const topics: string[] = [];
  const length = body.length;
  let start = 0;
  while (start <= length) {
    let end = body.indexOf(0, start);
    if (end < 0) end = length;
    if (end > start) {
      if (topics.length >= max) return null;
      // Its own string per topic (not a slice of one string of the whole body): a kept
      // subscription must not hold the rest of a large request in memory.
      topics.push(body.toString('utf8', start, end));
    }
    start = end + 1;
  }
  if (!isUtf8(body)) throw new PsrtError(ErrorCode.InvalidUtf8, 'Invalid UTF-8 data');
  return topics;
}

export interface PublishBody {
  /** Raw topic as sent (not normalised). */
  readonly topic: string;
  /** Offset of the payload inside the body (just after the 00). */
  readonly payloadOffset: number;
}

/**
 * Validates the topic part of a PUBLISH body in the reference order: no 00 → close; empty
 * topic → close; invalid UTF-8 → close (PROTOCOL.md §5.6 steps 3–6).
 */
export function parsePublishBody(body: Buffer): PublishBody {
  const sep = publishTopicEnd(body, 0, body.length);
  return { topic: decodeUtf8(body.subarray(0, sep)), payloadOffset: sep + 1 };
}

/** Topics are short: scanning their first bytes in JS beats a native call (hot path). */
const INLINE_SCAN = 64;

/**
 * Index in `bytes` of the `00` that ends the topic of the PUBLISH body bytes[start, end), with
 * the same errors, in the same order, as parsePublishBody (no 00 → close; empty topic →
 * close). UTF-8 is not checked.
 */
export function publishTopicEnd(bytes: Buffer, start: number, end: number): number {
  const scanEnd = Math.min(end, start + INLINE_SCAN);
  let sep = -1;
  for (let i = start; i < scanEnd; i++) {
    if (bytes[i] === 0) {
      sep = i;
      break;
    }
  }
  if (sep < 0 && end > scanEnd) {
    sep = bytes.indexOf(0, scanEnd);
    if (sep >= end) sep = -1;
  }
  if (sep < 0) throw new PsrtError(ErrorCode.InvalidDataBlock, 'Invalid data block');
  if (sep === start) throw new PsrtError(ErrorCode.EmptyTopic, 'Empty topic');
  return sep;
}
