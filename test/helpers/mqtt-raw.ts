/**
 * A byte-level MQTT peer for end-to-end tests: packets are written by hand here (not with the
 * server's codec), and answers are cut by their fixed header and checked byte by byte, so the
 * tests check the wire rather than our own encoder. Also an MQTT.js bystander that must keep
 * working while raw clients misbehave.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { RawConn } from './raw.js';

export function varint(n: number): Buffer {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return Buffer.from(out);
}

export function str(s: string | Buffer): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
  const len = Buffer.alloc(2);
  len.writeUInt16BE(b.length);
  return Buffer.concat([len, b]);
}

export function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

/** A property block: varint length + the given identifier/value bytes. */
export function props(...entries: Buffer[]): Buffer {
  const body = Buffer.concat(entries);
  return Buffer.concat([varint(body.length), body]);
}

export function packet(first: number, ...body: Buffer[]): Buffer {
  const b = Buffer.concat(body);
  return Buffer.concat([Buffer.from([first]), varint(b.length), b]);
}

export interface RawConnectOptions {
  clientId?: string;
  version?: 4 | 5;
  clean?: boolean;
  keepAlive?: number;
  /** v5 CONNECT properties (already a property block); default empty. */
  props?: Buffer;
  will?: { topic: string; payload: string; qos?: number; retain?: boolean; props?: Buffer };
  username?: string;
  /** Binary data: a Buffer is sent as it is. */
  password?: string | Buffer;
  protocolName?: string;
  level?: number;
}

export function connectPacket(o: RawConnectOptions = {}): Buffer {
  const version = o.version ?? 4;
  let flags = o.clean === false ? 0 : 0x02;
  if (o.will !== undefined) flags |= 0x04 | ((o.will.qos ?? 0) << 3) | (o.will.retain === true ? 0x20 : 0);
  if (o.username !== undefined) flags |= 0x80;
  if (o.password !== undefined) flags |= 0x40;
  const parts = [str(o.protocolName ?? 'MQTT'), Buffer.from([o.level ?? version, flags]), u16(o.keepAlive ?? 0)];
  if (version === 5) parts.push(o.props ?? props());
  parts.push(str(o.clientId ?? ''));
  if (o.will !== undefined) {
    if (version === 5) parts.push(o.will.props ?? props());
    parts.push(str(o.will.topic), str(o.will.payload));
  }
  if (o.username !== undefined) parts.push(str(o.username));
  if (o.password !== undefined) parts.push(str(o.password));
  return packet(0x10, ...parts);
}

export interface PublishOptions {
  qos?: 0 | 1 | 2;
  id?: number;
  dup?: boolean;
  retain?: boolean;
  /** v5 only: a property block (an empty one is added for v5 when not given). */
  props?: Buffer;
  version?: 4 | 5;
}

export function publishPacket(topic: string | Buffer, payload: string | Buffer, o: PublishOptions = {}): Buffer {
  const qos = o.qos ?? 0;
  const first = 0x30 | (o.dup === true ? 0x08 : 0) | (qos << 1) | (o.retain === true ? 1 : 0);
  const parts = [str(topic)];
  if (qos > 0) parts.push(u16(o.id ?? 1));
  if (o.version === 5) parts.push(o.props ?? props());
  parts.push(typeof payload === 'string' ? Buffer.from(payload) : payload);
  return packet(first, ...parts);
}

export function subscribePacket(id: number, filter: string, options: number, version: 4 | 5 = 4, subProps?: Buffer): Buffer {
  const parts = [u16(id)];
  if (version === 5) parts.push(subProps ?? props());
  parts.push(str(filter), Buffer.from([options]));
  return packet(0x82, ...parts);
}

/** PUBACK/PUBREC/PUBREL/PUBCOMP with only a packet id (valid in both versions). */
export function ackPacket(type: 4 | 5 | 6 | 7, id: number): Buffer {
  return packet((type << 4) | (type === 6 ? 2 : 0), u16(id));
}

export interface RawPacket {
  readonly type: number;
  readonly flags: number;
  readonly body: Buffer;
}

/** Reads one packet by its fixed header. */
export async function readPacket(conn: RawConn, timeoutMs = 3000): Promise<RawPacket> {
  const first = (await conn.read(1, timeoutMs))[0] ?? 0;
  let len = 0;
  let mult = 1;
  for (let i = 0; i < 4; i++) {
    const b = (await conn.read(1, timeoutMs))[0] ?? 0;
    len += (b & 0x7f) * mult;
    mult *= 128;
    if ((b & 0x80) === 0) break;
  }
  const body = len === 0 ? Buffer.alloc(0) : await conn.read(len, timeoutMs);
  return { type: first >> 4, flags: first & 0x0f, body };
}

export interface ParsedPublish {
  readonly topic: string;
  readonly qos: number;
  readonly dup: boolean;
  readonly retain: boolean;
  readonly id: number;
  /** v5: the raw property block contents (without its length). */
  readonly props: Buffer;
  readonly payload: Buffer;
}

function readVarint(b: Buffer, at: number): [number, number] {
  let v = 0;
  let mult = 1;
  let i = at;
  for (;;) {
    const x = b[i++] ?? 0;
    v += (x & 0x7f) * mult;
    mult *= 128;
    if ((x & 0x80) === 0) return [v, i];
  }
}

export function parsePublish(p: RawPacket, version: 4 | 5): ParsedPublish {
  if (p.type !== 3) throw new Error(`expected PUBLISH, got type ${p.type} ${p.body.toString('hex')}`);
  const tlen = p.body.readUInt16BE(0);
  const topic = p.body.subarray(2, 2 + tlen).toString('utf8');
  let at = 2 + tlen;
  const qos = (p.flags >> 1) & 3;
  let id = 0;
  if (qos > 0) {
    id = p.body.readUInt16BE(at);
    at += 2;
  }
  let propBytes: Buffer = Buffer.alloc(0);
  if (version === 5) {
    const [plen, next] = readVarint(p.body, at);
    propBytes = p.body.subarray(next, next + plen);
    at = next + plen;
  }
  return { topic, qos, dup: (p.flags & 8) !== 0, retain: (p.flags & 1) !== 0, id, props: propBytes, payload: p.body.subarray(at) };
}

/** Opens a raw MQTT connection and sends CONNECT; resolves with the socket and the CONNACK. */
export async function rawConnect(port: number, o: RawConnectOptions = {}): Promise<{ conn: RawConn; connack: RawPacket }> {
  const conn = await RawConn.open(port);
  conn.send(connectPacket(o));
  const connack = await readPacket(conn);
  if (connack.type !== 2) throw new Error(`expected CONNACK, got type ${connack.type}`);
  return { conn, connack };
}

/** Like rawConnect but requires success (CONNACK code 0). */
export async function rawSession(port: number, o: RawConnectOptions = {}): Promise<RawConn> {
  const { conn, connack } = await rawConnect(port, o);
  if (connack.body[1] !== 0) {
    conn.destroy();
    throw new Error(`CONNACK refused: ${connack.body.toString('hex')}`);
  }
  return conn;
}

/** Subscribes over a raw connection and checks the SUBACK grants `options & 3`. */
export async function rawSubscribe(conn: RawConn, filter: string, options: number, version: 4 | 5 = 4): Promise<void> {
  conn.send(subscribePacket(1, filter, options, version));
  const ack = await readPacket(conn);
  const code = ack.body[ack.body.length - 1];
  if (ack.type !== 9 || code !== (options & 3)) throw new Error(`SUBACK ${ack.type} ${ack.body.toString('hex')}`);
}

export function url(port: number): string {
  return `mqtt://127.0.0.1:${port}`;
}

/** Collects messages of an MQTT.js client: waits for the next n (with a timeout). */
export class Inbox {
  readonly messages: { topic: string; payload: string; packet: mqtt.IPublishPacket }[] = [];
  private wake: (() => void) | null = null;

  constructor(client: MqttClient) {
    client.on('message', (topic, payload, packet) => {
      this.messages.push({ topic, payload: payload.toString(), packet });
      this.wake?.();
    });
  }

  async waitFor(count: number, timeoutMs = 3000): Promise<Inbox['messages']> {
    const deadline = Date.now() + timeoutMs;
    while (this.messages.length < count) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`expected ${count} messages, got ${this.messages.length}`);
      await new Promise<void>((res) => {
        const t = setTimeout(res, left);
        this.wake = () => {
          clearTimeout(t);
          res();
        };
      });
      this.wake = null;
    }
    return this.messages;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** An MQTT.js publisher+subscriber pair on one connection that must keep working. */
export class MqttBystander {
  private seq = 0;
  private constructor(
    private readonly client: MqttClient,
    private readonly inbox: Inbox,
  ) {}

  static async create(port: number): Promise<MqttBystander> {
    const client = await mqtt.connectAsync(url(port), { protocolVersion: 5, clientId: `bystander-${String(Math.random()).slice(2, 10)}`, reconnectPeriod: 0 });
    const inbox = new Inbox(client);
    await client.subscribeAsync('bystander/m', { qos: 1 });
    return new MqttBystander(client, inbox);
  }

  async check(): Promise<void> {
    const payload = `m-${++this.seq}`;
    await this.client.publishAsync('bystander/m', payload, { qos: 1 });
    const got = await this.inbox.waitFor(this.seq);
    if (got[this.seq - 1]?.payload !== payload) throw new Error(`MQTT bystander got ${JSON.stringify(got.map((m) => m.payload))}`);
    if (!this.client.connected) throw new Error('MQTT bystander disconnected');
  }

  async close(): Promise<void> {
    await this.client.endAsync();
  }
}

/**
 * An MQTT.js client whose inbox is attached before CONNECT goes out (a resumed session's
 * queued messages may arrive right after CONNACK), with the CONNACK it got.
 */
export async function openClient(port: number, opts: mqtt.IClientOptions): Promise<{ client: MqttClient; inbox: Inbox; connack: mqtt.IConnackPacket }> {
  const client = mqtt.connect(url(port), { reconnectPeriod: 0, connectTimeout: 5000, ...opts });
  const inbox = new Inbox(client);
  try {
    const connack = await new Promise<mqtt.IConnackPacket>((res, rej) => {
      client.once('connect', res);
      client.once('error', rej);
      client.once('close', () => {
        rej(new Error('closed before CONNACK'));
      });
    });
    return { client, inbox, connack };
  } catch (e) {
    client.end(true);
    throw e;
  }
}

/** Reads a v5 PUBLISH property block into id → value (numbers, strings or Buffers; repeats as arrays). */
export function publishProps(b: Buffer): Map<number, unknown> {
  const out = new Map<number, unknown>();
  const add = (id: number, v: unknown): void => {
    const prev = out.get(id);
    out.set(id, prev === undefined ? v : Array.isArray(prev) ? [...(prev as unknown[]), v] : [prev, v]);
  };
  const bin = (at: number): [Buffer, number] => {
    const len = b.readUInt16BE(at);
    return [b.subarray(at + 2, at + 2 + len), at + 2 + len];
  };
  let at = 0;
  while (at < b.length) {
    const id = b[at++] ?? 0;
    if (id === 0x01) add(id, b[at++]);
    else if (id === 0x02) { add(id, b.readUInt32BE(at)); at += 4; }
    else if (id === 0x23) { add(id, b.readUInt16BE(at)); at += 2; }
    else if (id === 0x0b) { const [v, next] = readVarint(b, at); add(id, v); at = next; }
    else if (id === 0x03 || id === 0x08) { const [v, next] = bin(at); add(id, v.toString()); at = next; }
    else if (id === 0x09) { const [v, next] = bin(at); add(id, v); at = next; }
    else if (id === 0x26) { const [k, n1] = bin(at); const [v, n2] = bin(n1); add(id, `${k.toString()}=${v.toString()}`); at = n2; }
    else throw new Error(`unexpected PUBLISH property 0x${id.toString(16)}`);
  }
  return out;
}
