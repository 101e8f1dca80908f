/**
 * One idle session of the load client: a PSRT control + data socket pair, or one MQTT
 * connection. Plain `node:net` sockets and a small state machine per socket, so the client's
 * own memory and CPU per session stay small next to the server's.
 */
import { connect, type Socket } from 'node:net';
import {
  LATENCY_MARK,
  MQTT_PINGREQ,
  PSRT_CTRL_GREETING,
  PSRT_DATA_GREETING,
  PSRT_LOGIN_ANON,
  PSRT_NOP,
  VERIFY_MARK,
  monoMs,
  mqttConnect,
  mqttFrame,
  mqttSubscribe,
  psrtDataAuth,
  psrtSubscribe,
  sessionTopic,
  type Proto,
} from './wire.js';

/** What a session reports to the pool that owns it. */
export interface Pool {
  readonly port: number;
  readonly keepaliveS: number;
  up(s: Session): void;
  /** Connecting failed (`wasUp` false) or an established session dropped. */
  down(s: Session, wasUp: boolean, why: string): void;
  message(s: Session, payload: Buffer): void;
}

const HANDSHAKE_MS = 30_000;

/** Accumulates bytes until a step can consume them; `step` returns bytes used (0 = need more). */
function reader(sock: Socket, step: (b: Buffer) => number): void {
  let rest: Buffer | null = null;
  sock.on('data', (chunk: Buffer) => {
    let b = rest === null ? chunk : Buffer.concat([rest, chunk]);
    rest = null;
    while (b.length > 0) {
      const used = step(b);
      if (used === 0) {
        rest = b;
        return;
      }
      b = b.subarray(used);
    }
  });
}

export abstract class Session {
  isUp = false;
  verifyCount = 0;
  protected sockets: Socket[] = [];
  private timer: NodeJS.Timeout | null = null;
  private ended = false;
  /** Attempt number: events of an earlier attempt's (destroyed) sockets are ignored. */
  private attempt = 0;

  constructor(
    readonly index: number,
    readonly localAddress: string,
    protected readonly pool: Pool,
  ) {}

  /** Opens the session; the pool hears `up` or `down` exactly once per attempt. */
  start(): void {
    this.ended = false;
    this.attempt++;
    this.timer = setTimeout(() => { this.fail('handshake timeout'); }, HANDSHAKE_MS);
    this.open();
  }

  abstract keepalive(): void;
  protected abstract open(): void;

  protected socket(onConnect: (s: Socket) => void, step: (b: Buffer) => number): Socket {
    const s = connect({ port: this.pool.port, host: '127.0.0.1', localAddress: this.localAddress, noDelay: true });
    const attempt = this.attempt;
    const mine = (): boolean => attempt === this.attempt && !this.ended;
    this.sockets.push(s);
    s.once('connect', () => { if (mine()) onConnect(s); });
    s.on('error', (e: NodeJS.ErrnoException) => { if (mine()) this.fail(e.code ?? e.message); });
    s.on('close', () => { if (mine()) this.fail('closed by server'); });
    reader(s, (b) => {
      if (!mine()) return b.length;
      try {
        return step(b);
      } catch (e) {
        this.fail(e instanceof Error ? e.message : String(e));
        return b.length;
      }
    });
    return s;
  }

  protected established(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.isUp = true;
    this.pool.up(this);
  }

  /** Closes every socket of the session and tells the pool once. */
  fail(why: string): void {
    if (this.ended) return;
    this.ended = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    for (const s of this.sockets) s.destroy();
    this.sockets = [];
    const wasUp = this.isUp;
    this.isUp = false;
    this.pool.down(this, wasUp, why);
  }

  protected delivered(payload: Buffer): void {
    if (payload[0] === VERIFY_MARK) this.verifyCount++;
    else this.pool.message(this, payload);
  }
}

export class PsrtSession extends Session {
  private ctrl: Socket | null = null;

  keepalive(): void {
    this.ctrl?.write(PSRT_NOP);
  }

  protected open(): void {
    let phase: 'greet' | 'token' | 'sub' | 'nop' = 'greet';
    this.ctrl = this.socket((s) => { s.write(PSRT_CTRL_GREETING); }, (b) => {
      if (phase === 'nop') return b.length; // NOP replies
      if (phase === 'greet') {
        if (b.length < 4) return 0;
        if (b[0] !== 0xee || b[1] !== 0xaa) throw new Error('bad control greeting reply');
        this.ctrl?.write(PSRT_LOGIN_ANON);
        phase = 'token';
        return 4;
      }
      if (phase === 'token') {
        if (b.length < 32) return 0;
        this.openData(Buffer.from(b.subarray(0, 32)), () => {
          phase = 'sub';
          this.ctrl?.write(psrtSubscribe(sessionTopic(this.index)));
        });
        return 32;
      }
      if (b[0] !== 0x01) throw new Error(`subscribe refused: ${b[0]}`);
      phase = 'nop';
      this.established();
      return 1;
    });
  }

  /** The data socket; the server pings it every timeout/2, so the byte is 2 × keepalive. */
  private openData(token: Buffer, attached: () => void): void {
    let phase: 'greet' | 'accept' | 'frames' = 'greet';
    const data = this.socket((s) => { s.write(PSRT_DATA_GREETING); }, (b) => {
      if (phase === 'greet') {
        if (b.length < 4) return 0;
        if (b[0] !== 0xee || b[1] !== 0xab) throw new Error('bad data greeting reply');
        data.write(psrtDataAuth(token, 2 * this.pool.keepaliveS));
        phase = 'accept';
        return 4;
      }
      if (phase === 'accept') {
        if (b[0] !== 0x01) throw new Error(`data socket refused: ${b[0]}`);
        phase = 'frames';
        attached();
        return 1;
      }
      if (b[0] === 0x00) return 1; // server ping
      if (b.length < 6) return 0;
      const len = b.readUInt32LE(2);
      if (b.length < 6 + len) return 0;
      const body = b.subarray(6, 6 + len);
      this.delivered(body.subarray(body.indexOf(0) + 1));
      return 6 + len;
    });
  }
}

export class MqttSession extends Session {
  private sock: Socket | null = null;

  constructor(index: number, localAddress: string, pool: Pool, private readonly clientId: string) {
    super(index, localAddress, pool);
  }

  keepalive(): void {
    this.sock?.write(MQTT_PINGREQ);
  }

  protected open(): void {
    let phase: 'connack' | 'suback' | 'packets' = 'connack';
    this.sock = this.socket((s) => { s.write(mqttConnect(this.clientId, this.pool.keepaliveS)); }, (b) => {
      const f = mqttFrame(b);
      if (f === null) return 0;
      const kind = f.type >> 4;
      if (phase === 'connack') {
        if (kind !== 2 || b[f.bodyAt + 1] !== 0) throw new Error(`CONNACK refused: ${b[f.bodyAt + 1]}`);
        this.sock?.write(mqttSubscribe(sessionTopic(this.index)));
        phase = 'suback';
      } else if (phase === 'suback') {
        if (kind !== 9 || b[f.bodyAt + 2] !== 0) throw new Error(`SUBACK refused: ${b[f.bodyAt + 2]}`);
        phase = 'packets';
        this.established();
      } else if (kind === 3) {
        const topicLen = b.readUInt16BE(f.bodyAt);
        const qos = (f.type >> 1) & 3;
        this.delivered(b.subarray(f.bodyAt + 2 + topicLen + (qos > 0 ? 2 : 0), f.end));
      }
      return f.end;
    });
  }
}

/** Latency of one probe in µs, from the send stamp in its payload to now. */
export function probeLatencyUs(payload: Buffer): number | null {
  if (payload[0] !== LATENCY_MARK || payload.length < 9) return null;
  const sentNs = payload.readBigUInt64LE(1);
  return (monoMs() - Number(sentNs) / 1e6) * 1000;
}

export function newSession(proto: Proto, index: number, localAddress: string, pool: Pool, prefix: string): Session {
  return proto === 'psrt'
    ? new PsrtSession(index, localAddress, pool)
    : new MqttSession(index, localAddress, pool, `${prefix}-${index}`);
}
