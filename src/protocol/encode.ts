/**
 * Frame encoders for both directions. Server side: delivered message frames. Client side:
 * greetings, login, requests and the data handshake. Encoders allocate exactly one buffer.
 */
import {
  CONTROL_HEADER_BYTE_1,
  DATA_FRAME_HEADER_LENGTH,
  DATA_HEADER_BYTE_1,
  HEADER_BYTE_0,
  OP_BYE,
  OP_NOP,
  OP_PUBLISH,
  OP_PUBLISH_REPL,
  OP_SUBSCRIBE,
  OP_UNSUBSCRIBE,
  OP_X_REPL_PUBLISH,
  OP_X_REPL_QUERY,
  RESPONSE_OK,
  TOKEN_LENGTH,
} from './constants.js';
import type { SocketKind } from './handshake.js';

/** `01 prio LEN topic 00 payload` — the delivered message frame (PROTOCOL.md §6.2). */
export function encodeDataFrame(priority: number, topic: string, payload: Uint8Array): Buffer {
  const topicLength = Buffer.byteLength(topic);
  const len = topicLength + 1 + payload.length;
  const frame = Buffer.allocUnsafe(DATA_FRAME_HEADER_LENGTH + len);
  frame[0] = RESPONSE_OK;
  frame[1] = priority;
  frame.writeUInt32LE(len, 2);
  frame.write(topic, DATA_FRAME_HEADER_LENGTH, topicLength, 'utf8');
  frame[DATA_FRAME_HEADER_LENGTH + topicLength] = 0;
  frame.set(payload, DATA_FRAME_HEADER_LENGTH + topicLength + 1);
  return frame;
}

/**
 * `01 prio LEN topic 00`: the head of a data frame whose payload (`payloadLength` bytes)
 * follows in separate buffers (large messages are delivered as a list of pieces).
 */
export function encodeDataFrameHead(priority: number, topic: string, payloadLength: number): Buffer {
  const topicLength = Buffer.byteLength(topic);
  const head = Buffer.allocUnsafe(DATA_FRAME_HEADER_LENGTH + topicLength + 1);
  head[0] = RESPONSE_OK;
  head[1] = priority;
  head.writeUInt32LE(topicLength + 1 + payloadLength, 2);
  head.write(topic, DATA_FRAME_HEADER_LENGTH, topicLength, 'utf8');
  head[DATA_FRAME_HEADER_LENGTH + topicLength] = 0;
  return head;
}

/**
 * Same frame from a PUBLISH body (body[start, end)) whose topic needed no normalisation: one
 * copy of the body behind the 6-byte header.
 */
export function encodeDataFrameFromBody(priority: number, body: Uint8Array, start = 0, end = body.length): Buffer {
  const frame = Buffer.allocUnsafe(DATA_FRAME_HEADER_LENGTH + end - start);
  writeDataFrameFromRange(frame, 0, priority, body, start, end);
  return frame;
}

/** Bodies up to this length are copied byte by byte: a native copy would need a view object. */
const INLINE_COPY = 256;

/**
 * The same frame from the body bytes[start, end), written into `target` at `offset`. Small
 * bodies are copied without allocating anything (the per-message path of small publishes).
 */
export function writeDataFrameFromRange(
  target: Buffer,
  offset: number,
  priority: number,
  bytes: Uint8Array,
  start: number,
  end: number,
): void {
  target[offset] = RESPONSE_OK;
  target[offset + 1] = priority;
  target.writeUInt32LE(end - start, offset + 2);
  if (end - start > INLINE_COPY) {
    target.set(bytes.subarray(start, end), offset + DATA_FRAME_HEADER_LENGTH);
    return;
  }
  const shift = offset + DATA_FRAME_HEADER_LENGTH - start; // target index = source index + shift
  for (let i = start; i < end; i++) target[shift + i] = bytes[i] ?? 0;
}

export function encodeGreeting(kind: SocketKind, tls: boolean): Buffer {
  const b1 = kind === 'control' ? CONTROL_HEADER_BYTE_1 : DATA_HEADER_BYTE_1;
  return Buffer.from([HEADER_BYTE_0, b1, tls ? 1 : 0]);
}

export function encodeLogin(login: string, password: string): Buffer {
  const body = Buffer.concat([Buffer.from(login), Buffer.from([0]), Buffer.from(password)]);
  return withLength(null, body);
}

export function encodeNop(): Buffer {
  return Buffer.from([OP_NOP]);
}

export function encodeBye(): Buffer {
  return Buffer.from([OP_BYE]);
}

/** `01 prio LEN topic 00 payload`. */
export function encodePublish(priority: number, topic: string, payload: Uint8Array): Buffer {
  const frame = encodeDataFrame(priority, topic, payload);
  frame[0] = OP_PUBLISH;
  return frame;
}

/** A single topic is sent without terminator, several as `t1 00 t2 00 … tn 00` (Rust client). */
export function encodeSubscribe(topics: readonly string[]): Buffer {
  return withLength(OP_SUBSCRIBE, topicListBody(topics));
}

export function encodeUnsubscribe(topics: readonly string[]): Buffer {
  return withLength(OP_UNSUBSCRIBE, topicListBody(topics));
}

export function encodeReplTopic(topic: string): Buffer {
  return withLength(OP_PUBLISH_REPL, Buffer.from(topic));
}

/** Stage 2 of PUBLISH_REPL: `prio timestamp(u64 LE ns) LEN payload`. */
export function encodeReplBody(priority: number, timestampNs: bigint, payload: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(13 + payload.length);
  frame[0] = priority;
  frame.writeBigUInt64LE(timestampNs, 1);
  frame.writeUInt32LE(payload.length, 9);
  frame.set(payload, 13);
  return frame;
}

/** Cluster extension: pipelinable interest query `12 LEN topic`. */
export function encodeXReplQuery(topic: string): Buffer {
  return withLength(OP_X_REPL_QUERY, Buffer.from(topic));
}

/** Cluster extension: one-step replicated publish `13 prio ts(u64 LE ns) LEN topic 00 payload`. */
export function encodeXReplPublish(
  priority: number,
  timestampNs: bigint,
  topic: string,
  payload: Uint8Array,
): Buffer {
  const topicLength = Buffer.byteLength(topic);
  const len = topicLength + 1 + payload.length;
  const frame = Buffer.allocUnsafe(14 + len);
  frame[0] = OP_X_REPL_PUBLISH;
  frame[1] = priority;
  frame.writeBigUInt64LE(timestampNs, 2);
  frame.writeUInt32LE(len, 10);
  frame.write(topic, 14, topicLength, 'utf8');
  frame[14 + topicLength] = 0;
  frame.set(payload, 15 + topicLength);
  return frame;
}

export function encodeDataHandshake(token: Uint8Array, timeoutSeconds: number): Buffer {
  if (token.length !== TOKEN_LENGTH) throw new RangeError('token must be 32 bytes');
  const out = Buffer.allocUnsafe(TOKEN_LENGTH + 1);
  out.set(token, 0);
  out[TOKEN_LENGTH] = Math.max(0, Math.min(255, Math.trunc(timeoutSeconds)));
  return out;
}

function topicListBody(topics: readonly string[]): Buffer {
  if (topics.length === 1) return Buffer.from(topics[0] ?? '');
  return Buffer.from(topics.map((t) => `${t}\0`).join(''));
}

function withLength(op: number | null, body: Buffer): Buffer {
  const head = op === null ? 0 : 1;
  const out = Buffer.allocUnsafe(head + 4 + body.length);
  if (op !== null) out[0] = op;
  out.writeUInt32LE(body.length, head);
  body.copy(out, head + 4);
  return out;
}
