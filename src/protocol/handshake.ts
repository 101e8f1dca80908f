/**
 * Connection set-up frames (PROTOCOL.md §4, §5.1, §6.1): the 3-byte greeting, the login frame
 * and the data-socket token handshake. Pure functions over a ByteQueue: each returns `null`
 * while more bytes are needed and throws a coded PsrtError on a violation.
 */
import { isUtf8 } from 'node:buffer';
import type { ByteQueue } from './byte-queue.js';
import {
  CONTROL_HEADER_BYTE_1,
  DATA_HEADER_BYTE_1,
  GREETING_LENGTH,
  HEADER_BYTE_0,
  MAX_LOGIN_FRAME,
  MODE_PLAIN,
  MODE_TLS,
  TOKEN_LENGTH,
} from './constants.js';
import { ErrorCode, PsrtError } from './errors.js';

export type SocketKind = 'control' | 'data';

export interface Greeting {
  readonly kind: SocketKind;
  /** Raw mode byte: 0 plain, 1 TLS, anything else invalid on TCP (ignored on unix sockets). */
  readonly mode: number;
}

/** Reads the 3 greeting bytes; validates only the header (mode policy belongs to the transport). */
export function readGreeting(queue: ByteQueue): Greeting | null {
  if (queue.length < GREETING_LENGTH) return null;
  const b0 = queue.byteAt(0);
  const b1 = queue.byteAt(1);
  const mode = queue.byteAt(2);
  queue.skip(GREETING_LENGTH);
  if (b0 !== HEADER_BYTE_0 || (b1 !== CONTROL_HEADER_BYTE_1 && b1 !== DATA_HEADER_BYTE_1)) {
    throw new PsrtError(
      ErrorCode.BadGreetingHeader,
      `Invalid greeting header: ${hex2(b0)}${hex2(b1)}`,
    );
  }
  return { kind: b1 === CONTROL_HEADER_BYTE_1 ? 'control' : 'data', mode };
}

export function isValidTcpMode(mode: number): boolean {
  return mode === MODE_PLAIN || mode === MODE_TLS;
}

export interface LoginFrame {
  readonly login: string;
  readonly password: string;
}

/**
 * Reads `LEN login 00 password`. LEN is checked against 1024 as soon as it is visible.
 * With `nameOnly` (unix sockets) the password is not validated and a body without 00 is the name.
 */
export function readLoginFrame(queue: ByteQueue, nameOnly = false): LoginFrame | null {
  if (queue.length < 4) return null;
  const len = queue.u32At(0);
  if (len > MAX_LOGIN_FRAME) {
    throw new PsrtError(ErrorCode.FrameTooLong, `Frame too long (${len})`);
  }
  if (queue.length < 4 + len) return null;
  queue.skip(4);
  const body = queue.take(len);
  const sep = body.indexOf(0);
  if (nameOnly) {
    const name = sep < 0 ? body : body.subarray(0, sep);
    return { login: decodeUtf8(name), password: '' };
  }
  if (sep < 0) throw new PsrtError(ErrorCode.InvalidDataBlock, 'Invalid data block');
  return {
    login: decodeUtf8(body.subarray(0, sep)),
    password: decodeUtf8(body.subarray(sep + 1)),
  };
}

export interface DataHandshake {
  readonly token: Buffer;
  /** Client timeout in whole seconds (0–255); pings go out every timeout × 500 ms. */
  readonly timeoutSeconds: number;
}

/** Reads `token(32) timeout(u8)`; the token is copied so it outlives the read chunk. */
export function readDataHandshake(queue: ByteQueue): DataHandshake | null {
  if (queue.length < TOKEN_LENGTH + 1) return null;
  const token = Buffer.from(queue.take(TOKEN_LENGTH));
  const timeoutSeconds = queue.byteAt(0);
  queue.skip(1);
  return { token, timeoutSeconds };
}

export function decodeUtf8(bytes: Buffer): string {
  if (!isUtf8(bytes)) throw new PsrtError(ErrorCode.InvalidUtf8, 'Invalid UTF-8 data');
  return bytes.toString('utf8');
}

function hex2(b: number): string {
  return b.toString(16).padStart(2, '0');
}
