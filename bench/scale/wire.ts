/**
 * Hand-written wire bytes of the scale benchmark's load client (PSRT and MQTT 3.1.1), and the
 * messages between the orchestrator and its client processes. Deliberately not the project's
 * client library: the load client must cost little per session, and must not share code (or
 * bugs) with the server it measures.
 */

export type Proto = 'psrt' | 'mqtt';

export const PSRT_CTRL_GREETING = Buffer.from([0xee, 0xaa, 0x00]);
export const PSRT_DATA_GREETING = Buffer.from([0xee, 0xab, 0x00]);
export const PSRT_LOGIN_ANON = Buffer.from([0x01, 0x00, 0x00, 0x00, 0x00]);
export const PSRT_NOP = Buffer.from([0x00]);
export const MQTT_PINGREQ = Buffer.from([0xc0, 0x00]);

/** The topic session number `i` (over all client processes) subscribes to. */
export function sessionTopic(i: number): string {
  return `scale/s/${i}`;
}

/** `02 LEN(u32 LE) topic`: SUBSCRIBE one topic. */
export function psrtSubscribe(topic: string): Buffer {
  const t = Buffer.from(topic);
  const b = Buffer.allocUnsafe(5 + t.length);
  b[0] = 0x02;
  b.writeUInt32LE(t.length, 1);
  t.copy(b, 5);
  return b;
}

/** `01 prio LEN(u32 LE) topic 00 message`: PUBLISH (the same layout as a delivered frame). */
export function psrtPublish(topic: string, message: Buffer): Buffer {
  const t = Buffer.from(topic);
  const b = Buffer.allocUnsafe(7 + t.length + message.length);
  b[0] = 0x01;
  b[1] = 0x7f;
  b.writeUInt32LE(t.length + 1 + message.length, 2);
  t.copy(b, 6);
  b[6 + t.length] = 0;
  message.copy(b, 7 + t.length);
  return b;
}

/** The data-socket handshake after the greeting: token(32) and the client's timeout byte. */
export function psrtDataAuth(token: Buffer, timeoutS: number): Buffer {
  const b = Buffer.allocUnsafe(33);
  token.copy(b, 0, 0, 32);
  b[32] = Math.min(255, Math.max(1, Math.round(timeoutS)));
  return b;
}

function remainingLength(n: number): number[] {
  const out: number[] = [];
  do {
    let d = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) d |= 0x80;
    out.push(d);
  } while (n > 0);
  return out;
}

function packet(first: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([first, ...remainingLength(body.length)]), body]);
}

function str(s: string): Buffer {
  const b = Buffer.from(s);
  const len = Buffer.allocUnsafe(2);
  len.writeUInt16BE(b.length, 0);
  return Buffer.concat([len, b]);
}

/** MQTT 3.1.1 CONNECT, clean session, no will, no credentials. */
export function mqttConnect(clientId: string, keepaliveS: number): Buffer {
  const head = Buffer.from([0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, keepaliveS >> 8, keepaliveS & 0xff]);
  return packet(0x10, Buffer.concat([head, str(clientId)]));
}

/** SUBSCRIBE packet id 1, one topic, QoS 0. */
export function mqttSubscribe(topic: string): Buffer {
  return packet(0x82, Buffer.concat([Buffer.from([0x00, 0x01]), str(topic), Buffer.from([0x00])]));
}

/** PUBLISH QoS 0. */
export function mqttPublish(topic: string, message: Buffer): Buffer {
  return packet(0x30, Buffer.concat([str(topic), message]));
}

/**
 * Splits one MQTT packet off the front of `b`: its first byte, body offset and total length,
 * or null when more bytes are needed.
 */
export function mqttFrame(b: Buffer): { type: number; bodyAt: number; end: number } | null {
  let len = 0;
  let mult = 1;
  for (let i = 1; i < 5; i++) {
    const d = b[i];
    if (d === undefined) return null;
    len += (d & 0x7f) * mult;
    mult *= 128;
    if ((d & 0x80) === 0) {
      const end = i + 1 + len;
      return end <= b.length ? { type: b[0] ?? 0, bodyAt: i + 1, end } : null;
    }
  }
  throw new Error('malformed MQTT remaining length');
}

/** Payload kinds the orchestrator publishes: latency probes and the delivery check. */
export const LATENCY_MARK = 0x4c; // 'L' + u64 LE send time (ns, CLOCK_MONOTONIC) + padding
export const VERIFY_MARK = 0x56; // 'V'

/** CLOCK_MONOTONIC in ms: one clock for every process on the machine (process.hrtime). */
export function monoMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

export interface StartMsg {
  readonly type: 'start';
  readonly proto: Proto;
  readonly port: number;
  /** Global index of this process's first session (topics and client ids are global). */
  readonly first: number;
  readonly count: number;
  readonly window: number;
  readonly keepaliveS: number;
  readonly jitterMs: number;
  readonly addrs: readonly string[];
  readonly prefix: string;
}

export type ToClient =
  | StartMsg
  | { readonly type: 'drop' }
  | { readonly type: 'reset-counts' }
  | { readonly type: 'status' }
  | { readonly type: 'latency' }
  | { readonly type: 'exit' };

export interface ClientStatus {
  readonly up: number;
  readonly drops: number;
  readonly failures: number;
  readonly errors: Readonly<Record<string, number>>;
  /** Sessions by number of delivery-check messages received since the last reset. */
  readonly got0: number;
  readonly got1: number;
  readonly gotMore: number;
  /** Messages the sessions received that were not latency probes or delivery checks. */
  readonly other: number;
}

export type FromClient =
  | { readonly type: 'ready' }
  | { readonly type: 'all-up'; readonly atMs: number }
  | ({ readonly type: 'status' } & ClientStatus)
  | { readonly type: 'latency'; readonly us: readonly number[] };
