/**
 * A bounds-checked cursor over one packet's body. Every read past the end of the packet is a
 * Malformed Packet (0x81), so the packet decoders never index outside their packet.
 */
import { isUtf8 } from 'node:buffer';
import { malformed } from './errors.js';

export class Reader {
  pos: number;
  constructor(
    readonly buf: Buffer,
    start: number,
    /** One past the packet's last byte. */
    public end: number,
  ) {
    this.pos = start;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  private need(n: number, what: string): void {
    if (this.pos + n > this.end) throw malformed(`${what} runs past the end of the packet`);
  }

  u8(what = 'byte'): number {
    this.need(1, what);
    return this.buf[this.pos++] ?? 0;
  }

  u16(what = 'two-byte integer'): number {
    this.need(2, what);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  u32(what = 'four-byte integer'): number {
    this.need(4, what);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  /** Variable Byte Integer (spec §1.5.5): at most 4 bytes, minimally encoded. */
  varint(what = 'variable byte integer'): number {
    let value = 0;
    let mult = 1;
    for (let i = 0; i < 4; i++) {
      const b = this.u8(what);
      value += (b & 0x7f) * mult;
      if ((b & 0x80) === 0) {
        if (b === 0 && i > 0) throw malformed(`${what} is not minimally encoded`);
        return value;
      }
      mult *= 128;
    }
    throw malformed(`${what} longer than 4 bytes`);
  }

  /** Two-byte-length-prefixed binary data, as a view into the packet. */
  bin(what = 'binary data'): Buffer {
    const len = this.u16(what);
    this.need(len, what);
    const view = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return view;
  }

  /** UTF-8 Encoded String (spec §1.5.4): valid UTF-8 and no U+0000. */
  str(what = 'string'): string {
    const len = this.u16(what);
    this.need(len, what);
    const start = this.pos;
    const end = start + len;
    this.pos = end;
    return decodeUtf8(this.buf, start, end, what);
  }
}

/**
 * Topics are almost always ASCII: a byte loop decides that without allocating a view, and only
 * strings with high bytes pay for the full native UTF-8 validation.
 */
export function decodeUtf8(buf: Buffer, start: number, end: number, what: string): string {
  let ascii = true;
  for (let i = start; i < end; i++) {
    const b = buf[i] ?? 0;
    if (b === 0) throw malformed(`${what} contains U+0000`);
    if (b >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) return buf.toString('latin1', start, end);
  const view = buf.subarray(start, end);
  if (!isUtf8(view)) throw malformed(`${what} is not valid UTF-8`);
  if (view.includes(0)) throw malformed(`${what} contains U+0000`);
  return buf.toString('utf8', start, end);
}
