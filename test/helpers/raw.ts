/**
 * A raw byte-level PSRT peer for end-to-end tests: sends exact bytes and reads exact answers,
 * so tests check the wire, not our own client library.
 */
import { connect, type Socket } from 'node:net';

export function hex(s: string): Buffer {
  return Buffer.from(s.replace(/\s+/g, ''), 'hex');
}

export class RawConn {
  private buf = Buffer.alloc(0);
  private closedFlag = false;
  private notify: (() => void) | null = null;

  private constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.notify?.();
    });
    socket.on('error', () => { /* close follows */ });
    socket.on('close', () => {
      this.closedFlag = true;
      this.notify?.();
    });
  }

  /** Wraps an already connected socket (e.g. a TLSSocket after its handshake). */
  static fromSocket(socket: Socket): RawConn {
    return new RawConn(socket);
  }

  static open(target: number | string): Promise<RawConn> {
    return new Promise((res, rej) => {
      const s = typeof target === 'number' ? connect(target, '127.0.0.1') : connect(target);
      s.setNoDelay(true);
      s.once('connect', () => { res(new RawConn(s)); });
      s.once('error', rej);
    });
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  get buffered(): number {
    return this.buf.length;
  }

  send(bytes: Buffer | string): void {
    this.socket.write(typeof bytes === 'string' ? hex(bytes) : bytes);
  }

  /** Resolves with exactly n bytes; rejects on close or timeout. */
  read(n: number, timeoutMs = 3000): Promise<Buffer> {
    return this.until(() => this.buf.length >= n, timeoutMs, `read ${n} bytes`).then(() => {
      const out = this.buf.subarray(0, n);
      this.buf = this.buf.subarray(n);
      return out;
    });
  }

  /** Resolves when the peer closed; rejects if any byte arrives first (unless allowed). */
  async expectClose(timeoutMs = 3000, allowBytes = 0): Promise<void> {
    await this.until(() => this.closedFlag, timeoutMs, 'close', true);
    if (this.buf.length > allowBytes) {
      throw new Error(`expected close without reply, got ${this.buf.toString('hex')}`);
    }
  }

  /** Waits `ms` and asserts nothing arrived and the socket is still open. */
  async expectSilence(ms: number): Promise<void> {
    await new Promise((r) => setTimeout(r, ms));
    if (this.buf.length > 0) throw new Error(`unexpected bytes ${this.buf.toString('hex')}`);
    if (this.closedFlag) throw new Error('unexpected close');
  }

  destroy(): void {
    this.socket.destroy();
  }

  private until(cond: () => boolean, timeoutMs: number, what: string, closeOk = false): Promise<void> {
    return new Promise((res, rej) => {
      const check = (): void => {
        if (cond()) {
          done();
          res();
        } else if (this.closedFlag && !closeOk) {
          done();
          rej(new Error(`connection closed while waiting to ${what} (have ${this.buf.toString('hex')})`));
        }
      };
      const timer = setTimeout(() => {
        done();
        rej(new Error(`timeout waiting to ${what} (have ${this.buf.length} bytes)`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.notify = null;
      };
      this.notify = check;
      check();
    });
  }
}

export const ANON_LOGIN = '01000000 00';

export function loginFrame(login: string, password: string): Buffer {
  const body = Buffer.concat([Buffer.from(login), Buffer.from([0]), Buffer.from(password)]);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(body.length);
  return Buffer.concat([len, body]);
}

/** Opens a control socket, logs in and returns it with its token. */
export async function login(target: number | string, user = '', password = ''): Promise<{ ctl: RawConn; token: Buffer }> {
  const ctl = await RawConn.open(target);
  ctl.send(Buffer.concat([hex('EE AA 00'), loginFrame(user, password)]));
  const greeting = await ctl.read(4);
  if (!greeting.equals(hex('EE AA 01 00'))) throw new Error(`bad greeting reply ${greeting.toString('hex')}`);
  const token = await ctl.read(32);
  return { ctl, token };
}

/** Opens a data socket for the token; resolves after the server's `01`. */
export async function attachData(target: number | string, token: Buffer, timeoutByte = 10): Promise<RawConn> {
  const data = await RawConn.open(target);
  data.send(Buffer.concat([hex('EE AB 00'), token, Buffer.from([timeoutByte])]));
  const reply = await data.read(5);
  if (!reply.equals(hex('EE AB 01 00 01'))) throw new Error(`data handshake refused: ${reply.toString('hex')}`);
  return data;
}

export function publishFrame(topic: string, payload: Buffer | string, priority = 0x7f): Buffer {
  const body = Buffer.concat([Buffer.from(topic), Buffer.from([0]), Buffer.from(payload)]);
  const head = Buffer.alloc(6);
  head[0] = 0x01;
  head[1] = priority;
  head.writeUInt32LE(body.length, 2);
  return Buffer.concat([head, body]);
}

export function topicsFrame(op: 2 | 3, topics: string[]): Buffer {
  const body = Buffer.from(topics.length === 1 ? (topics[0] ?? '') : topics.map((t) => `${t}\0`).join(''));
  const head = Buffer.alloc(5);
  head[0] = op;
  head.writeUInt32LE(body.length, 1);
  return Buffer.concat([head, body]);
}

/** The delivered frame a subscriber should see. */
export function deliveredFrame(topic: string, payload: Buffer | string, priority = 0x7f): Buffer {
  const f = publishFrame(topic, payload, priority);
  f[0] = 0x01;
  return f;
}

/** A subscriber + publisher pair that must keep working while other clients misbehave. */
export class Bystander {
  private seq = 0;
  private constructor(
    readonly ctl: RawConn,
    readonly data: RawConn,
  ) {}

  static async create(target: number | string, topic = 'bystander/t'): Promise<Bystander> {
    const { ctl, token } = await login(target);
    // Timeout byte 255: pings only every 127 s, so tests read exact frames.
    const data = await attachData(target, token, 255);
    ctl.send(topicsFrame(2, [topic]));
    const r = await ctl.read(1);
    if (r[0] !== 1) throw new Error('bystander subscribe failed');
    return new Bystander(ctl, data);
  }

  /** Publishes a fresh message and checks it is delivered intact. */
  async check(): Promise<void> {
    const payload = `ping-${++this.seq}`;
    this.ctl.send(publishFrame('bystander/t', payload));
    const r = await this.ctl.read(1);
    if (r[0] !== 1) throw new Error(`bystander publish got ${r[0]}`);
    const expected = deliveredFrame('bystander/t', payload);
    const got = await this.data.read(expected.length);
    if (!got.equals(expected)) throw new Error(`bystander got ${got.toString('hex')}`);
  }

  close(): void {
    this.ctl.destroy();
    this.data.destroy();
  }
}

/**
 * The longest bystander round trip allowed while `requests` large requests took `totalMs` to be
 * answered: 100 ms, or 3 × the time one of them took at this moment when the machine is slower
 * than that (a loaded 2-core CI machine). A server that works one whole request in a single
 * turn stalls the bystander for about a request's time per read and for all of them when they
 * arrive together; in slices, for a slice (about 1 ms) plus the machine's noise.
 */
export function stallBound(totalMs: number, requests: number): number {
  return Math.max(100, (3 * totalMs) / requests);
}

/** NOP round trips on `ctl` every 5 ms until stopped; stop() returns the longest, in ms. */
export function pinger(ctl: RawConn): { stop(): Promise<number> } {
  const state = { running: true };
  let max = 0;
  const loop = (async () => {
    while (state.running) {
      const t0 = performance.now();
      ctl.send(Buffer.from([0]));
      await ctl.read(1, 20_000);
      max = Math.max(max, performance.now() - t0);
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  return {
    stop: async () => {
      state.running = false;
      await loop;
      return max;
    },
  };
}
