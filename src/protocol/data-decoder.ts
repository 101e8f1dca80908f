/**
 * Client-side decoding of the data socket stream (PROTOCOL.md §6.2–6.3): `00` pings and
 * `01 prio LEN topic 00 payload` message frames.
 */
import type { ByteQueue } from './byte-queue.js';
import { RESPONSE_NOP, RESPONSE_OK } from './constants.js';
import { ErrorCode, PsrtError } from './errors.js';
import { decodeUtf8 } from './handshake.js';

export interface DataMessage {
  readonly kind: 'message';
  readonly priority: number;
  readonly topic: string;
  /** A view into the received bytes; copy it to keep it beyond the callback if needed. */
  readonly payload: Buffer;
}

export type DataEvent = { readonly kind: 'ping' } | DataMessage;

const PING: DataEvent = { kind: 'ping' };

export class DataDecoder {
  constructor(
    private readonly queue: ByteQueue,
    /** Frames longer than this are a protocol violation (protects the client's memory). */
    private readonly maxFrame = 0xffffffff,
  ) {}

  next(): DataEvent | null {
    const q = this.queue;
    if (q.length === 0) return null;
    const marker = q.byteAt(0);
    if (marker === RESPONSE_NOP) {
      q.skip(1);
      return PING;
    }
    if (marker !== RESPONSE_OK) {
      throw new PsrtError(ErrorCode.ProtocolViolation, `Invalid data frame marker: ${marker}`);
    }
    if (q.length < 6) return null;
    const len = q.u32At(2);
    if (len > this.maxFrame) throw new PsrtError(ErrorCode.FrameTooLong, `Frame too long (${len})`);
    if (q.length < 6 + len) return null;
    const priority = q.byteAt(1);
    q.skip(6);
    const body = q.take(len);
    const sep = body.indexOf(0);
    if (sep < 0) throw new PsrtError(ErrorCode.InvalidDataBlock, 'Invalid data block');
    return {
      kind: 'message',
      priority,
      topic: decodeUtf8(body.subarray(0, sep)),
      payload: body.subarray(sep + 1),
    };
  }
}
