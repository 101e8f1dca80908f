/**
 * Encoding targets. Each packet layout is written once against `Sink`; running it first over a
 * `SizeSink` gives the exact size, so the `BufferSink` pass fills a single allocation.
 */
import type { MqttProperties } from './packets.js';
import { PROPERTY_DEFS, type PropDef } from './properties.js';

export interface Sink {
  u8(v: number): void;
  u16(v: number): void;
  u32(v: number): void;
  varint(v: number): void;
  /** Two-byte length + UTF-8 bytes. */
  str(s: string): void;
  /** Two-byte length + bytes. */
  bin(b: Buffer): void;
  /** Bytes with no length prefix (a PUBLISH payload, SUBACK codes). */
  raw(b: Buffer): void;
  /** Property block: length + properties (only called for v5); `listSize` when already known. */
  props(p: MqttProperties | undefined, listSize?: number): void;
}

export function varintSize(v: number): number {
  return v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : 4;
}

const DEF_BY_KEY = new Map<string, PropDef>(PROPERTY_DEFS.map((d) => [d.key, d]));

/**
 * Size of the property list without its length prefix. Computed directly (no sink) since the
 * broker sizes every outgoing v5 PUBLISH; only the keys present are visited.
 */
export function propertyListSize(p: MqttProperties | undefined): number {
  if (p === undefined) return 0;
  let size = 0;
  for (const key in p) {
    const value: unknown = p[key as keyof MqttProperties];
    const def = DEF_BY_KEY.get(key);
    if (value === undefined || def === undefined) continue;
    if (def.kind === 'pair') {
      for (const [k, v] of value as [string, string][]) size += 5 + Buffer.byteLength(k) + Buffer.byteLength(v);
    } else if (def.kind === 'varint') {
      for (const n of value as number[]) size += 1 + varintSize(n);
    } else {
      size += 1 + valueSize(def, value);
    }
  }
  return size;
}

function valueSize(def: PropDef, value: unknown): number {
  switch (def.kind) {
    case 'u16':
      return 2;
    case 'u32':
      return 4;
    case 'string':
      return 2 + Buffer.byteLength(value as string);
    case 'binary':
      return 2 + (value as Buffer).length;
    default:
      return 1;
  }
}

export class SizeSink implements Sink {
  size = 0;
  u8(): void {
    this.size += 1;
  }
  u16(): void {
    this.size += 2;
  }
  u32(): void {
    this.size += 4;
  }
  varint(v: number): void {
    this.size += varintSize(v);
  }
  str(s: string): void {
    this.size += 2 + Buffer.byteLength(s);
  }
  bin(b: Buffer): void {
    this.size += 2 + b.length;
  }
  raw(b: Buffer): void {
    this.size += b.length;
  }
  props(p: MqttProperties | undefined, listSize = propertyListSize(p)): void {
    const n = listSize;
    this.size += varintSize(n) + n;
  }
}

export class BufferSink implements Sink {
  pos = 0;
  constructor(readonly buf: Buffer) {}
  u8(v: number): void {
    this.buf[this.pos++] = v;
  }
  u16(v: number): void {
    this.pos = this.buf.writeUInt16BE(v, this.pos);
  }
  u32(v: number): void {
    this.pos = this.buf.writeUInt32BE(v, this.pos);
  }
  varint(v: number): void {
    this.pos = writeVarint(this.buf, this.pos, v);
  }
  str(s: string): void {
    const n = this.buf.write(s, this.pos + 2, 'utf8');
    this.buf.writeUInt16BE(n, this.pos);
    this.pos += 2 + n;
  }
  bin(b: Buffer): void {
    this.buf.writeUInt16BE(b.length, this.pos);
    b.copy(this.buf, this.pos + 2);
    this.pos += 2 + b.length;
  }
  raw(b: Buffer): void {
    b.copy(this.buf, this.pos);
    this.pos += b.length;
  }
  props(p: MqttProperties | undefined, listSize = propertyListSize(p)): void {
    this.varint(listSize);
    if (p !== undefined && listSize > 0) writePropertyList(this, p);
  }
}

export function writeVarint(buf: Buffer, pos: number, v: number): number {
  let at = pos;
  let left = v;
  do {
    let b = left % 128;
    left = Math.floor(left / 128);
    if (left > 0) b |= 0x80;
    buf[at++] = b;
  } while (left > 0);
  return at;
}

function writeValue(sink: Sink, def: PropDef, value: unknown): void {
  sink.u8(def.id);
  switch (def.kind) {
    case 'flag':
    case 'byte':
      sink.u8(value as number);
      return;
    case 'u16':
      sink.u16(value as number);
      return;
    case 'u32':
      sink.u32(value as number);
      return;
    case 'varint':
      sink.varint(value as number);
      return;
    case 'string':
      sink.str(value as string);
      return;
    case 'binary':
      sink.bin(value as Buffer);
      return;
    case 'pair': {
      const [k, v] = value as [string, string];
      sink.str(k);
      sink.str(v);
    }
  }
}

/**
 * Writes the properties themselves, without the length prefix, in the object's key order (the
 * spec allows any order; decoded packets keep wire order, so a forwarded packet is unchanged).
 * Visiting only the keys present keeps this cheap on the per-message path.
 */
export function writePropertyList(sink: Sink, props: MqttProperties): void {
  for (const key in props) {
    const value: unknown = props[key as keyof MqttProperties];
    const def = DEF_BY_KEY.get(key);
    if (value === undefined || def === undefined) continue;
    if (def.kind === 'pair' || def.kind === 'varint') {
      for (const item of value as unknown[]) writeValue(sink, def, item);
    } else {
      writeValue(sink, def, value);
    }
  }
}
