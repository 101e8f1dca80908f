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
  /** Property block: length + properties (only called for v5). */
  props(p: MqttProperties | undefined): void;
}

export function varintSize(v: number): number {
  return v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : 4;
}

/** Size of the property list without its length prefix. */
export function propertyListSize(p: MqttProperties | undefined): number {
  if (p === undefined) return 0;
  const s = new SizeSink();
  writePropertyList(s, p);
  return s.size;
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
  props(p: MqttProperties | undefined): void {
    const n = propertyListSize(p);
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
  props(p: MqttProperties | undefined): void {
    this.varint(propertyListSize(p));
    if (p !== undefined) writePropertyList(this, p);
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

/** Writes the properties themselves, without the length prefix. */
export function writePropertyList(sink: Sink, props: MqttProperties): void {
  for (const def of PROPERTY_DEFS) {
    const value: unknown = props[def.key];
    if (value === undefined) continue;
    if (def.kind === 'pair' || def.id === 0x0b) {
      for (const item of value as unknown[]) writeValue(sink, def, item);
    } else {
      writeValue(sink, def, value);
    }
  }
}
