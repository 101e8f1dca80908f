/**
 * The export hot path: what `NatsConnection.publish` does for a message with headers, without
 * its per-message string work. The client builds the protocol line `HPUB <subject> <hlen>
 * <total>\r\n` as a template string and UTF-8 encodes it for every message (a fifth of the
 * exporting node's time with 64-byte messages), and checks the subject with a regular
 * expression. Here the line is written into a shared slab from cached bytes of `HPUB <subject> `
 * (our subjects are valid by construction, see subject-mapping.ts), and handed with the header
 * bytes, payload and CRLF to the client's protocol handler, which queues and flushes them
 * exactly as it does its own.
 *
 * The handler (`nc.protocol`) is not part of the client's typed API: its shape is checked, and
 * when anything is missing or the connection is closing `publish` returns false and the caller
 * uses the public API. The client's socket (socketOf) is reached the same way, for the
 * congestion check of the export path and to end a stale connection.
 */
import type { NatsConnection } from '@nats-io/transport-node';

interface ProtocolHandler {
  sendCommand(cmd: Uint8Array, ...payloads: Uint8Array[]): void;
  readonly noMorePublishing: boolean;
  readonly info?: { readonly max_payload: number; readonly headers?: boolean };
  outBytes: number;
  outMsgs: number;
}

function handlerOf(nc: NatsConnection): ProtocolHandler | null {
  const p = (nc as { protocol?: Partial<ProtocolHandler> }).protocol;
  return p !== undefined && typeof p.sendCommand === 'function' && typeof p.outMsgs === 'number' && typeof p.outBytes === 'number'
    ? (p as ProtocolHandler)
    : null;
}

/** The part of the client's socket the export path (and a stale connection's end) looks at. */
export interface ClientSocket {
  readonly writableNeedDrain: boolean;
  readonly writableLength: number;
  once(event: 'drain', listener: () => void): unknown;
  destroy(): void;
}

/**
 * The client's socket (`nc.protocol.transport.socket`, not in its typed API; a new one after
 * each reconnect), or null when it cannot be found.
 */
export function socketOf(nc: NatsConnection): ClientSocket | null {
  const s = (nc as { protocol?: { transport?: { socket?: Partial<ClientSocket> } } }).protocol?.transport?.socket;
  return s !== undefined && typeof s.writableNeedDrain === 'boolean' && typeof s.once === 'function' && typeof s.destroy === 'function' ? (s as ClientSocket) : null;
}

const enc = new TextEncoder();
const CRLF = enc.encode('\r\n');
/** Protocol lines are carved from slabs of this size; a full slab is left to the collector. */
const SLAB = 64 * 1024;
/** Room for two decimal numbers, their separator and CRLF. */
const NUMBERS = 32;
/** `HPUB <subject> ` per subject; the map starts over when full. */
const PREFIX_LIMIT = 10_000;

export class FastPublisher {
  private readonly handler: ProtocolHandler | null;
  private slab = new Uint8Array(SLAB);
  private used = 0;
  private readonly prefixes = new Map<string, Uint8Array>();

  constructor(private readonly nc: NatsConnection) {
    this.handler = handlerOf(nc);
  }

  /**
   * Queues one message with headers; false when this path cannot take it (then nothing was
   * queued). Throws, as the client does, when the message exceeds the server's max_payload.
   */
  publish(subject: string, headers: Uint8Array, payload: Uint8Array): boolean {
    const p = this.handler;
    if (p === null || p.noMorePublishing || p.info?.headers !== true || this.nc.isClosed()) return false;
    const total = headers.length + payload.length;
    if (total > p.info.max_payload) throw new Error(`max_payload size exceeded (${String(total)} bytes)`);
    p.outBytes += total;
    p.outMsgs++;
    p.sendCommand(this.line(subject, headers.length, total), headers, payload, CRLF);
    return true;
  }

  private line(subject: string, hlen: number, total: number): Uint8Array {
    let prefix = this.prefixes.get(subject);
    if (prefix === undefined) {
      prefix = enc.encode(`HPUB ${subject} `);
      if (this.prefixes.size >= PREFIX_LIMIT) this.prefixes.clear();
      this.prefixes.set(subject, prefix);
    }
    if (this.used + prefix.length + NUMBERS > this.slab.length) {
      // Lines already handed out stay valid: a slab is never written twice.
      this.slab = new Uint8Array(Math.max(SLAB, prefix.length + NUMBERS));
      this.used = 0;
    }
    const b = this.slab;
    const start = this.used;
    b.set(prefix, start);
    let at = writeDecimal(b, start + prefix.length, hlen);
    b[at++] = 0x20;
    at = writeDecimal(b, at, total);
    b[at++] = 0x0d;
    b[at++] = 0x0a;
    this.used = at;
    return b.subarray(start, at);
  }
}

/** Writes a non-negative integer in ASCII at `at`; returns the index after it. */
function writeDecimal(b: Uint8Array, at: number, n: number): number {
  let digits = 1;
  for (let x = n; x >= 10; x = Math.floor(x / 10)) digits++;
  let x = n;
  for (let i = at + digits - 1; i >= at; i--) {
    b[i] = 0x30 + (x % 10);
    x = Math.floor(x / 10);
  }
  return at + digits;
}
