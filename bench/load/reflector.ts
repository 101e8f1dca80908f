/**
 * The "trivial sink": a stand-in broker that does as little as possible, used to measure the
 * load generator's own ceiling. It speaks just enough PSRT and MQTT for the generator: every
 * request is answered `01` (one write per read) and every publish is forwarded byte for byte
 * to every data socket / subscriber, with no topic matching, no re-encoding and no queue.
 * (A PSRT PUBLISH `01 prio LEN topic 00 payload` is bit-identical to the delivered data frame,
 * and an MQTT QoS 0 PUBLISH is the same in both directions.) Contiguous publishes of one read
 * are forwarded as a single view of the received chunk.
 *
 *   node dist/bench/load/reflector.js   → prints `reflector psrt=<port> mqtt=<port>`
 *
 * With `--data-pings` it also does the one idle-time duty PSRT gives a server: a ping byte on
 * every data socket that was not written to for half its client's timeout (as psrtd does), so
 * the scale benchmark can use it as the floor of a Node.js server (bench/scale/servers.ts).
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';

type SizeOf = (buf: Buffer, pos: number) => number;
type OnFrame = (buf: Buffer, start: number, size: number) => void;
/** A frame that arrived in several reads, as views of them (never joined for forwarding). */
type OnParts = (parts: Buffer[]) => void;

/** Cuts frames from a stream without copying them. */
class Framer {
  private parts: Buffer[] = [];
  private have = 0;
  /** Size of the frame being assembled from parts; -1 while its header is incomplete. */
  private size = -1;

  constructor(
    /** Whole frame size at `pos`, or -1 when its header is not complete yet. */
    private readonly sizeOf: SizeOf,
    private readonly onFrame: OnFrame,
    private readonly onParts: OnParts,
  ) {}

  push(chunk: Buffer): void {
    let buf = chunk;
    let pos = 0;
    if (this.parts.length > 0) {
      if (this.size < 0) {
        // Only a few header bytes are pending: join them with this read and start over.
        buf = Buffer.concat([...this.parts, chunk]);
        this.parts = [];
      } else {
        const missing = this.size - this.have;
        if (chunk.length < missing) {
          this.parts.push(chunk);
          this.have += chunk.length;
          return;
        }
        const parts = [...this.parts, chunk.subarray(0, missing)];
        this.parts = [];
        this.onParts(parts);
        pos = missing;
      }
    }
    while (pos < buf.length) {
      const size = this.sizeOf(buf, pos);
      if (size < 0 || pos + size > buf.length) {
        this.parts = [buf.subarray(pos)];
        this.have = buf.length - pos;
        this.size = size;
        return;
      }
      this.onFrame(buf, pos, size);
      pos += size;
    }
  }
}

const PAUSE_BYTES = 8 << 20;
const subscribers = new Set<Socket>();
const sources = new Set<Socket>();

function pauseSourcesIfFull(): void {
  for (const s of subscribers) {
    if (s.writableLength > PAUSE_BYTES) {
      for (const src of sources) src.pause();
      return;
    }
  }
}

/** Forwards a run of publish frames to every subscriber; pauses all sources while one is full. */
function forward(view: Buffer): void {
  for (const s of subscribers) s.write(view);
  pauseSourcesIfFull();
}

/** Forwards one frame given as parts, written back to back so no other frame can interleave. */
function forwardParts(parts: readonly Buffer[]): void {
  for (const s of subscribers) {
    s.cork();
    for (const p of parts) s.write(p);
    s.uncork();
  }
  pauseSourcesIfFull();
}

function onSubscriberDrain(): void {
  for (const s of subscribers) if (s.writableLength > PAUSE_BYTES) return;
  for (const src of sources) src.resume();
}

/** Data sockets and when each is due for a ping (only with --data-pings). */
const pingDue = new Map<Socket, { intervalMs: number; dueMs: number }>();
const PING = Buffer.from([0x00]);
const dataPings = process.argv.includes('--data-pings');

/** Pings the data sockets that are due; one sweep a second, like a coarse timer wheel. */
function pingDueSockets(): void {
  const now = performance.now();
  for (const [s, p] of pingDue) {
    if (p.dueMs > now) continue;
    s.write(PING);
    p.dueMs = now + p.intervalMs;
  }
}
if (dataPings) setInterval(pingDueSockets, 1000);

/** Registers a data socket for pings every half of `timeoutS` (the client's data timeout). */
function pingLater(s: Socket, timeoutS: number): void {
  if (!dataPings) return;
  const intervalMs = Math.max(1000, timeoutS * 500);
  pingDue.set(s, { intervalMs, dueMs: performance.now() + intervalMs });
  s.once('close', () => pingDue.delete(s));
}

function addSubscriber(s: Socket): void {
  subscribers.add(s);
  s.on('drain', onSubscriberDrain);
  s.once('close', () => subscribers.delete(s));
}

/** Collects contiguous publish frames of one read and the replies owed for it. */
class Batch {
  private start = -1;
  private end = -1;
  private buf: Buffer | null = null;
  replies = 0;

  add(buf: Buffer, start: number, size: number): void {
    if (this.buf === buf && this.end === start) {
      this.end += size;
      return;
    }
    this.flushForward();
    this.buf = buf;
    this.start = start;
    this.end = start + size;
  }

  flushForward(): void {
    if (this.buf !== null) forward(this.buf.subarray(this.start, this.end));
    this.buf = null;
  }
}

function psrtSizeOf(state: () => string): SizeOf {
  return (buf, pos) => {
    const left = buf.length - pos;
    switch (state()) {
      case 'greeting':
        return 3;
      case 'login':
        return left < 4 ? -1 : 4 + buf.readUInt32LE(pos);
      case 'handshake':
        return 33;
      case 'data':
        return left;
      default: {
        const op = buf[pos];
        if (op === 0x01) return left < 6 ? -1 : 6 + buf.readUInt32LE(pos + 2);
        if (op === 0x02 || op === 0x03) return left < 5 ? -1 : 5 + buf.readUInt32LE(pos + 1);
        return 1;
      }
    }
  };
}

function psrtConnection(socket: Socket): void {
  socket.setNoDelay(true);
  let state = 'greeting';
  const batch = new Batch();
  const onFrame = (buf: Buffer, start: number, size: number): void => {
    if (state === 'greeting') {
      const data = buf[start + 1] === 0xab;
      socket.write(Buffer.from([0xee, data ? 0xab : 0xaa, 0x01, 0x00]));
      state = data ? 'handshake' : 'login';
    } else if (state === 'login') {
      socket.write(randomBytes(32));
      state = 'requests';
      sources.add(socket);
    } else if (state === 'handshake') {
      socket.write(Buffer.from([0x01]));
      state = 'data';
      addSubscriber(socket);
      pingLater(socket, buf[start + 32] ?? 0);
    } else if (state === 'requests') {
      if (buf[start] === 0x01) batch.add(buf, start, size);
      batch.replies++;
    }
  };
  const onParts = (parts: Buffer[]): void => {
    if (state !== 'requests' || parts[0]?.[0] !== 0x01) {
      const whole = Buffer.concat(parts);
      onFrame(whole, 0, whole.length);
      return;
    }
    batch.flushForward();
    forwardParts(parts);
    batch.replies++;
  };
  const framer = new Framer(psrtSizeOf(() => state), onFrame, onParts);
  socket.on('data', (chunk: Buffer) => {
    framer.push(chunk);
    batch.flushForward();
    if (batch.replies > 0) socket.write(Buffer.alloc(batch.replies, 0x01));
    batch.replies = 0;
  });
  socket.on('error', () => socket.destroy());
  socket.once('close', () => sources.delete(socket));
}

/** Fixed-header length (1 + varint bytes) of the MQTT packet at `pos`, or -1 if incomplete. */
function mqttHeaderLength(buf: Buffer, pos: number): number {
  for (let i = pos + 1; i < buf.length && i < pos + 5; i++) {
    if (((buf[i] ?? 0) & 0x80) === 0) return i + 1 - pos;
  }
  return -1;
}

function mqttSizeOf(buf: Buffer, pos: number): number {
  const header = mqttHeaderLength(buf, pos);
  if (header < 0) return -1;
  let remaining = 0;
  for (let i = header - 1; i >= 1; i--) remaining = remaining * 128 + ((buf[pos + i] ?? 0) & 0x7f);
  return header + remaining;
}

/** SUBACK granting QoS 0 to every filter of the SUBSCRIBE packet at `start`. */
function suback(buf: Buffer, start: number, size: number): Buffer {
  const body = start + mqttHeaderLength(buf, start);
  const pid = buf.readUInt16BE(body);
  let n = 0;
  for (let p = body + 2; p + 2 <= start + size; p += 2 + buf.readUInt16BE(p) + 1) n++;
  return Buffer.from([0x90, 2 + n, pid >> 8, pid & 0xff, ...new Array<number>(n).fill(0)]);
}

function mqttConnection(socket: Socket): void {
  socket.setNoDelay(true);
  sources.add(socket);
  const batch = new Batch();
  const out: Buffer[] = [];
  const onFrame = (buf: Buffer, start: number, size: number): void => {
    const type = (buf[start] ?? 0) >> 4;
    if (type === 3) {
      batch.add(buf, start, size); // PUBLISH
    } else if (type === 1) {
      out.push(Buffer.from([0x20, 0x02, 0x00, 0x00])); // CONNECT → CONNACK
    } else if (type === 8) {
      out.push(suback(buf, start, size));
      addSubscriber(socket);
    } else if (type === 12) {
      out.push(Buffer.from([0xd0, 0x00])); // PINGREQ → PINGRESP
    } else if (type === 14) {
      socket.end(); // DISCONNECT
    }
  };
  const onParts = (parts: Buffer[]): void => {
    if ((parts[0]?.[0] ?? 0) >> 4 !== 3) {
      const whole = Buffer.concat(parts);
      onFrame(whole, 0, whole.length);
      return;
    }
    batch.flushForward();
    forwardParts(parts);
  };
  const framer = new Framer(mqttSizeOf, onFrame, onParts);
  socket.on('data', (chunk: Buffer) => {
    framer.push(chunk);
    batch.flushForward();
    for (const b of out) socket.write(b);
    out.length = 0;
  });
  socket.on('error', () => socket.destroy());
  socket.once('close', () => sources.delete(socket));
}

function listen(handler: (s: Socket) => void): Promise<Server> {
  const server = createServer(handler);
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => { resolve(server); }));
}

const psrt = await listen(psrtConnection);
const mqtt = await listen(mqttConnection);
const port = (s: Server): number => {
  const a = s.address();
  return typeof a === 'object' && a !== null ? a.port : 0;
};
process.stdout.write(`reflector psrt=${port(psrt)} mqtt=${port(mqtt)}\n`);
process.on('SIGTERM', () => process.exit(0));
