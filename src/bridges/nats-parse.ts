/**
 * The import hot path's reading of the bytes a NATS server sends. The client's parser walks
 * every byte through a state machine, cuts each `HMSG` line into views and makes a message
 * object per message: about a third of an importing node's time at 300,000 msgs/s. Here a
 * wrapper around the client's parser finds the complete `MSG`/`HMSG` operations of the
 * subscriptions registered with it in each read and hands them, as offsets into the read, to
 * their sinks; everything else is fed to the client's parser.
 *
 * Why it stays correct: the client's parser is given exactly the bytes of the stream minus the
 * operations taken here, and those are only ever taken at an operation boundary, where the
 * client's parser is between operations. Any operation not taken here (other subscriptions, a
 * reply subject, PING, INFO, -ERR, an operation cut by the end of a read, a sink that declines
 * a message, input it would reject) reaches the client's parser whole and in order, and it
 * does what it always does, errors included. What is taken is counted as the client counts it.
 *
 * The hook: the connection's protocol handler (`nc.protocol`, not part of the typed API) reads
 * `this.parser` for every read and makes a new parser on each (re)connection; its `parser`
 * property is turned into an accessor that wraps each new one. Its shape is checked; when
 * anything is missing nothing is hooked and every message takes the client's path.
 */
import type { NatsConnection, Subscription } from '@nats-io/transport-node';

/** One message taken here: offsets into `buf`, valid only during the sink's call. */
export interface MsgFrame {
  buf: Buffer;
  subjectStart: number;
  subjectEnd: number;
  /** Header bytes at the start of the data (0: none, as `MSG`). */
  hdr: number;
  dataStart: number;
  dataEnd: number;
}

/** False leaves the message to the client's parser (and the subscription's callback). */
export type FrameSink = (f: MsgFrame) => boolean;

interface ClientParser {
  parse(buf: Uint8Array): void;
  readonly state: number;
}

interface Counted {
  received: number;
  readonly max?: number;
}

interface Handler {
  parser: ClientParser;
  inMsgs: number;
  inBytes: number;
  readonly subscriptions: { get(sid: number): unknown };
}

interface Route {
  readonly sub: Counted;
  readonly sink: FrameSink;
}

/** The client parser's state between operations. */
const OP_START = 0;
/** A cut line longer than this is left to the client's parser (it has no limit either). */
const MAX_CARRY = 64 * 1024;
/** The client's limit on sizes in a message line. */
const MAX_SIZE = 64 * 1024 * 1024;
const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const TAB = 0x09;

function isParser(p: unknown): p is ClientParser {
  const c = p as Partial<ClientParser> | null;
  return typeof c === 'object' && c !== null && typeof c.parse === 'function' && c.state === OP_START;
}

function handlerOf(nc: NatsConnection): Handler | null {
  const h = (nc as { protocol?: Partial<Handler> }).protocol;
  if (h === undefined || typeof h.inMsgs !== 'number' || typeof h.inBytes !== 'number') return null;
  if (typeof h.subscriptions?.get !== 'function' || !isParser(h.parser)) return null;
  const own = Object.getOwnPropertyDescriptor(h, 'parser');
  return own?.writable === true && own.configurable === true ? (h as Handler) : null;
}

/** Digits in [from, to) as the client reads them (1 to 15 of them), else -1. */
function number(b: Uint8Array, from: number, to: number): number {
  if (to <= from || to - from > 15) return -1;
  let n = 0;
  for (let i = from; i < to; i++) {
    const d = (b[i] ?? 0) - 0x30;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

/** The subscriptions of one connection whose messages are taken here. */
export class FastImport {
  private readonly routes = new Map<number, Route>();

  private constructor(private readonly handler: Handler) {}

  /** Hooks the connection's parser; null when its internals are not as expected. */
  static install(nc: NatsConnection): FastImport | null {
    const h = handlerOf(nc);
    if (h === null) return null;
    const fast = new FastImport(h);
    let current = new ImportParser(h.parser, fast);
    Object.defineProperty(h, 'parser', {
      configurable: true,
      enumerable: true,
      get: () => current,
      set: (p: ClientParser) => { current = new ImportParser(p, fast); },
    });
    return fast;
  }

  /** Messages of `sub` (without a reply subject) go to `sink` first. */
  add(sub: Subscription, sink: FrameSink): void {
    const counted = sub as unknown as Partial<Counted>;
    if (typeof counted.received !== 'number' || counted.max !== undefined) return;
    this.routes.set(sub.getID(), { sub: counted as Counted, sink });
  }

  /** Delivers a message of subscription `sid` to its sink; false when the client should. */
  take(sid: number, f: MsgFrame): boolean {
    const r = this.routes.get(sid);
    if (r === undefined || this.handler.subscriptions.get(sid) !== r.sub) return false;
    if (!r.sink(f)) return false;
    const h = this.handler;
    h.inMsgs++;
    h.inBytes += f.dataEnd - f.dataStart;
    r.sub.received++;
    return true;
  }
}

/** Where the tokens of a message line are: at most 5 after the operation name. */
const starts = new Int32Array(6);
const ends = new Int32Array(6);

/**
 * The wrapper around one client parser. `owed` bytes of a cut message still belong to the
 * client's parser; `lost` means it is inside an operation of unknown length (only after input
 * it rejects or does not end where expected), and it gets everything until a read leaves it
 * between operations.
 */
export class ImportParser {
  private owed = 0;
  private lost = false;
  private carry: Buffer | null = null;
  private readonly frame: MsgFrame = { buf: Buffer.alloc(0), subjectStart: 0, subjectEnd: 0, hdr: 0, dataStart: 0, dataEnd: 0 };

  constructor(
    readonly inner: ClientParser,
    private readonly fast: Pick<FastImport, 'take'>,
  ) {
    this.lost = inner.state !== OP_START;
  }

  get state(): number {
    return this.inner.state;
  }

  parse(chunk: Uint8Array): void {
    if (this.lost) {
      this.giveRest(chunk, 0);
      return;
    }
    let b = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength); // one view per read
    if (this.owed > 0) {
      const n = Math.min(this.owed, b.length);
      this.inner.parse(n === b.length ? b : b.subarray(0, n));
      this.owed -= n;
      if (n === b.length) return;
      b = b.subarray(n);
    }
    if (this.carry !== null) {
      b = Buffer.concat([this.carry, b]);
      this.carry = null;
    }
    for (let i = 0; i >= 0 && i < b.length;) i = this.op(b, i);
  }

  /** Hands b[from, …) to the client's parser; lost unless that leaves it between operations. */
  private giveRest(b: Uint8Array, from: number): number {
    this.inner.parse(from === 0 ? b : b.subarray(from));
    this.lost = this.inner.state !== OP_START;
    return -1;
  }

  /** Handles the operation at `i`; returns where the next starts, or -1 when b is used up. */
  private op(b: Buffer, i: number): number {
    let eol = i;
    while (eol < b.length && b[eol] !== LF) eol++;
    if (eol === b.length) {
      if (b.length - i > MAX_CARRY) return this.giveRest(b, i);
      this.carry = Buffer.from(b.subarray(i)); // a copy: the read's buffer is not kept
      return -1;
    }
    const c = b[i];
    if (c !== 0x4d && c !== 0x48) {
      // PING, PONG, +OK, -ERR, INFO (or anything else): one line, the client's business.
      this.inner.parse(b.subarray(i, eol + 1));
      return this.inner.state === OP_START ? eol + 1 : this.giveRest(b, eol + 1);
    }
    const tokens = c === 0x48 ? this.tokens(b, i, eol, 'HMSG') : this.tokens(b, i, eol, 'MSG');
    const withHeaders = c === 0x48;
    // MSG subject sid [reply] size; HMSG subject sid [reply] hdr size
    const plain = withHeaders ? 4 : 3;
    if (tokens !== plain && tokens !== plain + 1) return this.giveRest(b, i);
    const size = number(b, starts[tokens - 1] ?? 0, ends[tokens - 1] ?? 0);
    const hdr = withHeaders ? number(b, starts[tokens - 2] ?? 0, ends[tokens - 2] ?? 0) : 0;
    const sid = number(b, starts[1] ?? 0, ends[1] ?? 0);
    if (size < 0 || size > MAX_SIZE || hdr < 0 || hdr > size || sid < 0) return this.giveRest(b, i);
    const end = eol + 1 + size + 2;
    if (end > b.length) {
      this.inner.parse(b.subarray(i));
      this.owed = end - b.length;
      return -1;
    }
    if (b[end - 2] !== CR || b[end - 1] !== LF) return this.giveRest(b, i);
    const f = this.frame;
    f.buf = b;
    f.subjectStart = starts[0] ?? 0;
    f.subjectEnd = ends[0] ?? 0;
    f.hdr = hdr;
    f.dataStart = eol + 1;
    f.dataEnd = eol + 1 + size;
    if (tokens !== plain || !this.fast.take(sid, f)) this.inner.parse(b.subarray(i, end));
    return end;
  }

  /**
   * Splits the line b[i, eol] after the operation `name` at blanks, as the client does, into
   * `starts`/`ends`; the number of tokens, or -1 when the line is not `name` followed by a
   * blank and ended by CRLF, or has more than 5 tokens.
   */
  private tokens(b: Buffer, i: number, eol: number, name: 'MSG' | 'HMSG'): number {
    const lineEnd = eol - 1;
    if (b[lineEnd] !== CR) return -1;
    let at = i;
    for (let k = 0; k < name.length; k++, at++) if (b[at] !== name.charCodeAt(k)) return -1;
    if (b[at] !== SP && b[at] !== TAB) return -1;
    let n = 0;
    while (at < lineEnd) {
      while (at < lineEnd && (b[at] === SP || b[at] === TAB)) at++;
      if (at === lineEnd) break;
      if (n === starts.length) return -1;
      starts[n] = at;
      while (at < lineEnd && b[at] !== SP && b[at] !== TAB && b[at] !== CR) at++;
      if (b[at] === CR && at !== lineEnd) return -1;
      ends[n++] = at;
    }
    return n;
  }
}
