/**
 * PsrtUdpClient: connection-less publisher (PROTOCOL.md §8, CLIENT-API.md §5).
 *
 * ```ts
 * const udp = await PsrtUdpClient.create({ path: 'localhost:2873', user: 'u', password: 'p' });
 * await udp.publish('sensors/t1', '21.5');                    // fire and forget (op 21)
 * await udp.publishConfirmed('sensors/t1', '21.5', { timeout: 1 }); // waits for the ack
 * udp.close();
 * ```
 *
 * With `key` (32 bytes, or 64 hex digits as in the server's keys file) datagrams are AES-GCM
 * encrypted: `cipher` 'aes-256-gcm' (type 03, default) or 'aes-128-gcm' (type 02, first 16 key
 * bytes). A fresh random 12-byte nonce is used per datagram.
 *
 * Acks carry no request id, so confirmed publishes are sent one at a time (like the reference);
 * unlike the reference each has a timeout (default 5 s). A late ack of a timed-out publish could
 * be taken for the next one's: after a timeout, prefer a new client for strict accounting.
 */
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { inspect, type InspectOptions } from 'node:util';
import type { LookupAddress } from 'node:dns';
import { lookup } from 'node:dns/promises';
import {
  CONTROL_HEADER_BYTE_1,
  DEFAULT_PRIORITY,
  HEADER_BYTE_0,
  OP_PUBLISH,
  OP_PUBLISH_NO_ACK,
  RESPONSE_ERR_ACCESS,
  RESPONSE_OK,
  UDP_AUTH_AES_128_GCM,
  UDP_AUTH_AES_256_GCM,
  UDP_NONCE_LENGTH,
} from '../protocol/constants.js';
import { ErrorCode, PsrtError } from '../protocol/errors.js';
import { encodeUdpEncrypted, encodeUdpPlain, UDP_KEY_LENGTH } from '../protocol/udp.js';
import { Fifo } from './fifo.js';
import { parseAddress } from './options.js';
import { timeoutOptionError } from './request.js';
import type { Payload } from './client.js';
import { inspectSummary } from './redact.js';
import { publishTopicError } from './request.js';

export type UdpCipher = 'aes-256-gcm' | 'aes-128-gcm';

export interface UdpClientOptions {
  /** `host:port` of the server's UDP listener. */
  readonly path?: string;
  readonly host?: string;
  readonly port?: number;
  /** Plain datagrams: login/password (both empty = anonymous). Encrypted: login selects the key. */
  readonly user?: string;
  readonly password?: string;
  /** The user's 32-byte key (Buffer, or 64 hex digits): enables encryption. */
  readonly key?: Buffer | string;
  readonly cipher?: UdpCipher;
  /** Ack timeout for publishConfirmed, seconds (default 5). */
  readonly timeout?: number;
}

export interface UdpPublishOptions {
  /** 1–255, default 0x7f (the server drops datagrams with priority 0). */
  readonly priority?: number;
  /** publishConfirmed only: seconds to wait for the ack. */
  readonly timeout?: number;
}

interface PendingAck {
  readonly datagram: Buffer;
  readonly timeoutMs: number;
  readonly resolve: () => void;
  readonly reject: (e: Error) => void;
  timer?: NodeJS.Timeout;
}

export class PsrtUdpClient {
  private readonly queue = new Fifo<PendingAck>();
  private current: PendingAck | null = null;
  private closed = false;

  static async create(options: UdpClientOptions): Promise<PsrtUdpClient> {
    const addr = parseAddress(options.path ?? `${options.host ?? 'localhost'}:${options.port ?? 2873}`);
    if (addr.kind !== 'tcp') throw new TypeError('UDP needs host:port, not a Unix socket path');
    const key = options.key === undefined ? null : parseKey(options.key);
    const { address, family } = await resolveHost(addr.host);
    const socket = createSocket(family === 6 ? 'udp6' : 'udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      // A connected UDP socket only receives datagrams from the server address (§9 item 7).
      socket.connect(addr.port, address, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    return new PsrtUdpClient(socket, options, key);
  }

  private constructor(
    private readonly socket: Socket,
    private readonly options: UdpClientOptions,
    private readonly key: Buffer | null,
  ) {
    socket.on('message', this.onMessage);
    socket.on('error', this.onError);
  }

  /** What logs may show: no password, no key. */
  toJSON(): Record<string, unknown> {
    const o = this.options;
    const cipher = this.key === null ? 'none' : (o.cipher ?? 'aes-256-gcm');
    return { address: o.path ?? `${o.host ?? 'localhost'}:${o.port ?? 2873}`, user: o.user ?? '', cipher, closed: this.closed };
  }

  [inspect.custom](_depth: number, options: InspectOptions, nested: typeof inspect): string {
    return inspectSummary('PsrtUdpClient', this.toJSON(), options, nested);
  }

  /** Op 21: no ack; resolves once the datagram is handed to the kernel. */
  async publish(topic: string, payload: Payload, opts?: UdpPublishOptions): Promise<void> {
    const datagram = this.encode(OP_PUBLISH_NO_ACK, topic, payload, opts);
    await new Promise<void>((resolve, reject) => {
      this.socket.send(datagram, (err) => {
        if (err) reject(sendError(err, datagram.length));
        else resolve();
      });
    });
  }

  /** Op 01: resolves on ack `01`; AccessDenied on `FE`, ServerError on `FF`, Timeout. */
  async publishConfirmed(topic: string, payload: Payload, opts?: UdpPublishOptions): Promise<void> {
    const datagram = this.encode(OP_PUBLISH, topic, payload, opts);
    const timeout = opts?.timeout ?? this.options.timeout ?? 5;
    const bad = timeoutOptionError(timeout);
    if (bad !== null) throw bad;
    const timeoutMs = timeout * 1000;
    await new Promise<void>((resolve, reject) => {
      this.queue.push({ datagram, timeoutMs, resolve, reject });
      this.next();
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    const err = new PsrtError(ErrorCode.NotConnected, 'UDP client closed');
    this.settle(err);
    for (const p of this.queue.drain()) p.reject(err);
    this.socket.close();
  }

  private encode(op: number, topic: string, payload: Payload, opts?: UdpPublishOptions): Buffer {
    if (this.closed) throw new PsrtError(ErrorCode.NotConnected, 'UDP client closed');
    const priority = opts?.priority ?? DEFAULT_PRIORITY;
    if (!Number.isInteger(priority) || priority < 1 || priority > 255) {
      throw new RangeError('UDP priority must be 1..255');
    }
    if (topic === '') throw new PsrtError(ErrorCode.EmptyTopic, 'empty topic');
    // psrtd refuses these (FF) or, without an ack, drops them unseen; say so as the TCP client does.
    const bad = publishTopicError(topic);
    if (bad !== null) throw bad;
    const bytes = typeof payload === 'string' ? Buffer.from(payload) : payload;
    const user = this.options.user ?? '';
    if (this.key === null) {
      return encodeUdpPlain(op, priority, user, this.options.password ?? '', topic, bytes);
    }
    const type = this.options.cipher === 'aes-128-gcm' ? UDP_AUTH_AES_128_GCM : UDP_AUTH_AES_256_GCM;
    const nonce = randomBytes(UDP_NONCE_LENGTH);
    return encodeUdpEncrypted(type, this.key, nonce, op, priority, user, topic, bytes);
  }

  private next(): void {
    if (this.current !== null || this.closed) return;
    const p = this.queue.shift();
    if (p === undefined) return;
    this.current = p;
    p.timer = setTimeout(() => {
      this.settle(new PsrtError(ErrorCode.Timeout, `no UDP ack within ${p.timeoutMs / 1000}s`));
    }, p.timeoutMs);
    this.socket.send(p.datagram, (err) => {
      if (err && this.current === p) {
        this.settle(sendError(err, p.datagram.length));
      }
    });
  }

  private settle(err: Error | null): void {
    const p = this.current;
    if (p === null) return;
    this.current = null;
    clearTimeout(p.timer);
    if (err === null) p.resolve();
    else p.reject(err);
    this.next();
  }

  private readonly onMessage = (msg: Buffer): void => {
    if (this.current === null) return; // a late ack after a timeout
    this.settle(ackError(msg));
  };

  /** E.g. ECONNREFUSED from an ICMP port-unreachable: nothing listens there. */
  private readonly onError = (err: NodeJS.ErrnoException): void => {
    const text =
      err.code === 'ECONNREFUSED' ? 'UDP port unreachable (no UDP listener?)' : `UDP socket error: ${err.message}`;
    this.settle(new PsrtError(ErrorCode.Io, text, { cause: err }));
  };
}

/**
 * IPv4 first, as the reference (which sends from 0.0.0.0:0): a name with both kinds of address
 * often lists IPv6 first, while servers commonly listen for UDP on 0.0.0.0 only, where
 * datagrams sent over IPv6 are lost without a word. An IPv6-only name still works.
 */
async function resolveHost(host: string): Promise<LookupAddress> {
  const all = await lookup(host, { all: true });
  const first = all.find((a) => a.family === 4) ?? all[0];
  if (first === undefined) throw new PsrtError(ErrorCode.Io, `no address for ${host}`);
  return first;
}

/** A send failure; a datagram over the UDP size limit (EMSGSIZE) says so in plain words. */
function sendError(err: NodeJS.ErrnoException, bytes: number): PsrtError {
  const text =
    err.code === 'EMSGSIZE'
      ? `the datagram is ${bytes.toLocaleString('en-US')} bytes, more than one UDP datagram can carry (at most 65,507 bytes over IPv4)`
      : err.message;
  return new PsrtError(ErrorCode.Io, `UDP send failed: ${text}`, { cause: err });
}

/** `EE AA 01 00 code` exactly; null on `01`. */
function ackError(msg: Buffer): PsrtError | null {
  if (
    msg.length !== 5 ||
    msg[0] !== HEADER_BYTE_0 ||
    msg[1] !== CONTROL_HEADER_BYTE_1 ||
    msg[2] !== 1 ||
    msg[3] !== 0
  ) {
    return new PsrtError(ErrorCode.ProtocolViolation, 'invalid UDP ack');
  }
  const code = msg[4] ?? 0;
  if (code === RESPONSE_OK) return null;
  if (code === RESPONSE_ERR_ACCESS) return new PsrtError(ErrorCode.AccessDenied, 'access denied (UDP)');
  return new PsrtError(ErrorCode.ServerError, `server error ${code.toString(16)} (UDP)`);
}

/** Accepts the raw 32 bytes or the keys-file hex form. */
export function parseKey(key: Buffer | string): Buffer {
  const bytes = typeof key === 'string' ? Buffer.from(key.trim(), 'hex') : key;
  const hexOk = typeof key !== 'string' || /^[0-9a-fA-F]{64}$/.test(key.trim());
  if (!hexOk || bytes.length !== UDP_KEY_LENGTH) {
    throw new TypeError('UDP key must be 32 bytes (64 hex digits)');
  }
  return bytes;
}
