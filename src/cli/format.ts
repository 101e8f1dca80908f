/**
 * Text formatting shared by the CLI modes: numbers as the reference prints them, message
 * output formats, and the space-separated tables of top and benchmark modes (CLI.md §6–7).
 */
import { isUtf8 } from 'node:buffer';

export const ESC = '\x1b[';
export const COLORS = {
  blue: `${ESC}34m`,
  magenta: `${ESC}35m`,
  cyan: `${ESC}36m`,
  yellow: `${ESC}33m`,
  dim: `${ESC}2m`,
  reset: `${ESC}0m`,
} as const;
export type Color = Exclude<keyof typeof COLORS, 'reset'>;

/** Colours only on a terminal, never with NO_COLOR; FORCE_COLOR forces them. */
export function useColor(stream: { isTTY?: boolean }): boolean {
  if (process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== '') return false;
  if (process.env.FORCE_COLOR !== undefined && process.env.FORCE_COLOR !== '0') return true;
  return stream.isTTY === true;
}

export function paint(text: string, color: Color | undefined, enabled: boolean): string {
  return enabled && color !== undefined ? `${COLORS[color]}${text}${COLORS.reset}` : text;
}

/** `12345` → `12_345` (the reference's thousands separator). */
export function groupDigits(n: number): string {
  const s = String(Math.trunc(Math.abs(n)));
  const grouped = s.replace(/\B(?=(\d{3})+(?!\d))/g, '_');
  return n < 0 ? `-${grouped}` : grouped;
}

const UNITS = ['KB', 'MB', 'GB', 'TB', 'PB'] as const;

/** Decimal units: `762 B`, `1000 B`, `50.85 KB`, `1.10 MB` (CLI.md §6 item 5). */
export function humanBytes(n: number): string {
  if (n <= 1000) return `${n} B`;
  let value = n;
  let unit = 0;
  while (unit < UNITS.length - 1 && value / 1000 > 1000) {
    value /= 1000;
    unit++;
  }
  return `${(value / 1000).toFixed(2)} ${UNITS[unit] ?? 'PB'}`;
}

/** The reference's payload rendering: text if UTF-8, else `[1, ff, 0]` (hex, no prefix). */
export function payloadText(payload: Buffer): string {
  if (isUtf8(payload)) return payload.toString('utf8');
  return `[${Array.from(payload, (b) => b.toString(16)).join(', ')}]`;
}

/**
 * `text`: the reference's three lines; `raw`: payload + newline; `json`: one object a line;
 * `line`: `topic payload` + newline (mosquitto_sub -v); `*-no-eol`: the same without the
 * newline (mosquitto_sub -N).
 */
export type OutputFormat = 'text' | 'raw' | 'json' | 'line' | 'raw-no-eol' | 'line-no-eol';

/** One received message in the chosen format, ready to write. */
export function formatMessage(format: OutputFormat, topic: string, payload: Buffer, priority: number): string | Buffer {
  switch (format) {
    case 'text':
      return `${topic}\n---\n"${payloadText(payload)}"\n`;
    case 'raw':
      return Buffer.concat([payload, NEWLINE]);
    case 'raw-no-eol':
      return Buffer.from(payload); // a copy: written later, and the view is into the read buffer
    case 'line':
      return Buffer.concat([Buffer.from(`${topic} `), payload, NEWLINE]);
    case 'line-no-eol':
      return Buffer.concat([Buffer.from(`${topic} `), payload]);
    case 'json': {
      const utf8 = isUtf8(payload);
      return `${JSON.stringify({
        topic,
        encoding: utf8 ? 'utf8' : 'base64',
        payload: payload.toString(utf8 ? 'utf8' : 'base64'),
        priority,
      })}\n`;
    }
  }
}
const NEWLINE = Buffer.from('\n');

export interface Column {
  readonly header: string;
  readonly color?: Color;
}

/**
 * Header (blue), a line of `-` under it, rows; columns left-aligned to their widest cell and
 * separated by one space, no border (the reference's table style).
 */
export function renderTable(columns: readonly Column[], rows: readonly (readonly string[])[], color: boolean): string {
  const widths = columns.map((c, i) => Math.max(c.header.length, ...rows.map((r) => (r[i] ?? '').length)));
  const total = widths.reduce((a, w) => a + w, 0) + Math.max(0, widths.length - 1);
  const line = (cells: readonly string[], colorOf: (i: number) => Color | undefined): string =>
    cells
      .map((cell, i) => {
        const padded = i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0);
        return paint(padded, colorOf(i), color);
      })
      .join(' ')
      .trimEnd();
  const out = [line(columns.map((c) => c.header), () => 'blue'), '-'.repeat(total)];
  for (const r of rows) out.push(line(r, (i) => columns[i]?.color));
  return `${out.join('\n')}\n`;
}

/**
 * Parses the `==SIZE` syntax (CLI.md §5): decimal units (`k`/`kb` = 1000), binary with `ib`
 * (`kib` = 1024), up to `p`; case-insensitive, optional space, decimals allowed.
 */
export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*([kmgtp]?)(i?)(b?)\s*$/i.exec(text);
  if (m === null) throw new RangeError(`invalid size "${text}"`);
  const [, num = '0', prefix = '', binary = '', b = ''] = m;
  if (binary !== '' && (prefix === '' || b === '')) throw new RangeError(`invalid size "${text}"`);
  const power = ' kmgtp'.indexOf(prefix.toLowerCase() || ' ');
  const base = binary !== '' ? 1024 : 1000;
  // The small epsilon keeps e.g. 1.1 × 1000 from landing on 1099.999….
  return Math.floor(Number(num) * base ** power + 1e-6);
}

/** Payload of `n` bytes where byte i = i mod 256 (reference generator). */
export function generatedPayload(n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = i & 0xff;
  return b;
}
