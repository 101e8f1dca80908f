/**
 * The PSRT side of the load generator, on raw sockets and the project's own codec
 * (src/protocol encoders, DataDecoder over ByteQueue): anonymous login, data socket,
 * subscriptions, pipelined publishers (windowed by outstanding `01` replies) and subscribers.
 */
import type { Socket } from 'node:net';
import {
  ByteQueue,
  DataDecoder,
  DEFAULT_PRIORITY,
  RESPONSE_OK,
  encodeDataHandshake,
  encodeGreeting,
  encodeLogin,
  encodePublish,
  encodeSubscribe,
} from '../../src/protocol/index.js';
import type { PubSpec } from './job.js';
import { dial, readExact } from './net.js';
import { HEADER_BYTES, payloadTemplate } from './payload.js';
import { Publisher } from './publisher.js';
import type { Receiver } from './receiver.js';

const CONTROL_REPLY = Buffer.from([0xee, 0xaa, 0x01, 0x00]);
const DATA_REPLY = Buffer.from([0xee, 0xab, 0x01, 0x00, RESPONSE_OK]);
/** Client timeout byte on the data socket: the server pings only after 5 idle seconds. */
const DATA_TIMEOUT_S = 10;

export interface ControlSession {
  readonly socket: Socket;
  readonly token: Buffer;
}

/** Greeting + anonymous login in one write; resolves with the 32-byte token. */
export async function openControl(port: number): Promise<ControlSession> {
  const socket = await dial(port);
  socket.write(Buffer.concat([encodeGreeting('control', false), encodeLogin('', '')]));
  const { bytes } = await readExact(socket, 4 + 32);
  if (!bytes.subarray(0, 4).equals(CONTROL_REPLY)) throw new Error('bad control greeting reply');
  return { socket, token: Buffer.from(bytes.subarray(4)) };
}

/** Attaches a data socket to the session; resolves with it and any bytes after the `01`. */
export async function openData(port: number, token: Buffer): Promise<{ socket: Socket; rest: Buffer }> {
  const socket = await dial(port);
  socket.write(Buffer.concat([encodeGreeting('data', false), encodeDataHandshake(token, DATA_TIMEOUT_S)]));
  const { bytes, rest } = await readExact(socket, 5);
  if (!bytes.equals(DATA_REPLY)) throw new Error(`data handshake refused: ${bytes.toString('hex')}`);
  return { socket, rest };
}

/** One (bulk) SUBSCRIBE request; throws unless the reply is `01`. */
export async function subscribe(ctl: Socket, topics: readonly string[]): Promise<void> {
  ctl.write(encodeSubscribe(topics));
  const { bytes } = await readExact(ctl, 1);
  if (bytes[0] !== RESPONSE_OK) throw new Error(`subscribe refused: ${bytes[0]}`);
}

/** A publisher whose window is the number of PUBLISH requests still awaiting their reply. */
export class PsrtPublisher {
  acked = 0;
  notOk = 0;
  readonly pub: Publisher;

  private constructor(
    spec: PubSpec,
    readonly session: ControlSession,
  ) {
    const template = encodePublish(DEFAULT_PRIORITY, spec.topic, payloadTemplate(spec.payload));
    const payloadAt = template.length - Math.max(spec.payload, 16);
    this.pub = new Publisher(spec, session.socket, template, payloadAt, () => this.pub.sent - this.acked);
    session.socket.on('data', (replies: Buffer) => {
      this.onReplies(replies);
    });
  }

  static async open(port: number, spec: PubSpec): Promise<PsrtPublisher> {
    return new PsrtPublisher(spec, await openControl(port));
  }

  private onReplies(replies: Buffer): void {
    for (const b of replies) if (b !== RESPONSE_OK) this.notOk++;
    this.acked += replies.length;
    this.pub.fill();
  }
}

/** Message frames at least this long are checked as they stream past instead of being joined. */
const SKIM_MIN = 64 * 1024;

/**
 * A subscriber: one control session with its subscriptions, and a data socket decoded in place.
 * A large message is not joined: its topic and payload header are read, the rest is skipped
 * chunk by chunk keeping only its length and last byte (what the integrity check looks at), so
 * the generator's cost per 1 MB message is the socket reads alone.
 */
export class PsrtSubscriber {
  decodeErrors = 0;
  private readonly queue = new ByteQueue();
  private readonly decoder = new DataDecoder(this.queue);
  /** Payload bytes of the large message being skimmed that are still to come. */
  private skimLeft = 0;
  private skimStart = Buffer.alloc(0);
  private skimSize = 0;

  private constructor(
    readonly control: ControlSession,
    readonly data: Socket,
    private readonly receiver: Receiver,
  ) {}

  static async open(port: number, receiver: Receiver): Promise<PsrtSubscriber> {
    const control = await openControl(port);
    const { socket, rest } = await openData(port, control.token);
    await subscribe(control.socket, receiver.spec.topics);
    const sub = new PsrtSubscriber(control, socket, receiver);
    socket.on('data', (chunk: Buffer) => {
      sub.onChunk(chunk);
    });
    if (rest.length > 0) sub.onChunk(rest);
    return sub;
  }

  private onChunk(chunk: Buffer): void {
    this.queue.push(chunk);
    const r = this.receiver;
    try {
      for (;;) {
        if (this.skimLeft > 0) {
          if (!this.skimRest()) break;
          continue;
        }
        if (this.startSkim()) continue;
        const ev = this.decoder.next();
        if (ev === null) break;
        if (ev.kind === 'message') r.onPayload(ev.payload);
      }
    } catch {
      this.decodeErrors++;
      this.data.destroy();
    }
    r.onProgress?.();
  }

  /** At a large message frame whose topic and payload header are buffered: starts skimming. */
  private startSkim(): boolean {
    const q = this.queue;
    if (q.length < 6 || q.byteAt(0) !== RESPONSE_OK) return false;
    const len = q.u32At(2);
    if (len < SKIM_MIN) return false;
    const sep = q.indexOf(0, 6, Math.min(q.length, 6 + len));
    if (sep < 0 || q.length < sep + 1 + HEADER_BYTES) return false; // not yet (or DataDecoder's error)
    q.skip(sep + 1);
    this.skimSize = 6 + len - (sep + 1);
    this.skimStart = Buffer.from(q.take(HEADER_BYTES));
    this.skimLeft = this.skimSize - HEADER_BYTES;
    return true;
  }

  /** Skips what is buffered of the skimmed payload; true when the message is complete. */
  private skimRest(): boolean {
    const q = this.queue;
    if (q.length < this.skimLeft) {
      this.skimLeft -= q.length;
      q.skip(q.length);
      return false;
    }
    const last = q.byteAt(this.skimLeft - 1);
    q.skip(this.skimLeft);
    this.skimLeft = 0;
    this.receiver.onMessage(this.skimStart, this.skimSize, last);
    return true;
  }
}
