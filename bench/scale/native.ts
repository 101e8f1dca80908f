/**
 * The native load client (bench/scale/loadclient.c, loadproto.c): compiled at bench time into
 * a temporary directory with the system's C compiler, so that the client's own CPU per session
 * is small next to the server's. Without a compiler the Node client (client.ts) is used, and
 * the report says so.
 */
import { compileC, type NativeBinary } from '../lib/native-build.js';
import type { ToClient } from './wire.js';

export type NativeClient = NativeBinary;

/** The native load client, or null (after saying why on `log`) when it cannot be compiled. */
export function buildNativeClient(log: (s: string) => void): NativeClient | null {
  const client = compileC('loadclient', ['bench/scale/loadclient.c', 'bench/scale/loadproto.c'], [], log);
  if (client === null) log('using the Node load client (bench/scale/client.ts), which costs more CPU per session');
  return client;
}

/** A command for the native client: one line on its stdin. */
export function nativeCommand(m: ToClient): string {
  if (m.type !== 'start') return `${m.type}\n`;
  return `start ${m.proto} ${m.port} ${m.first} ${m.count} ${m.window} ${m.keepaliveS} ${m.jitterMs} ${m.prefix} ${m.addrs.join(',')}\n`;
}
