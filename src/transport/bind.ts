/** Parsing of `proto.bind` entries: `host:port`, `[v6]:port`, or a unix socket path; listening. */
import type { Server } from 'node:net';

export type BindTarget =
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number; readonly source: string }
  | { readonly kind: 'unix'; readonly path: string; readonly source: string };

export function isUnixPath(entry: string): boolean {
  return entry.endsWith('.sock') || entry.endsWith('.socket');
}

/** Throws RangeError with a readable message for malformed entries. */
export function parseBind(entry: string): BindTarget {
  if (isUnixPath(entry)) return { kind: 'unix', path: entry, source: entry };
  const colon = entry.lastIndexOf(':');
  if (colon <= 0) throw new RangeError(`invalid bind address "${entry}": expected host:port`);
  let host = entry.slice(0, colon);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  const portText = entry.slice(colon + 1);
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535) {
    throw new RangeError(`invalid port in bind address "${entry}"`);
  }
  return { kind: 'tcp', host, port, source: entry };
}

/**
 * The accept queue asked of the kernel, which caps it at net.core.somaxconn: Node's default of
 * 511 would make a larger somaxconn useless in a reconnect storm (SYNs beyond the queue are
 * dropped and retried by the clients a second or more later).
 */
export const LISTEN_BACKLOG = 65_535;

/**
 * Listens on a TCP address or unix path; rejects on the first error (port in use...) with a
 * message that names the configured entry: Node's own (`getaddrinfo ENOTFOUND x`) does not say
 * which listener failed.
 */
export function listenOn(server: Server, target: BindTarget): Promise<void> {
  return new Promise((resolve, reject) => {
    const fail = (e: Error): void => {
      const what = target.kind === 'unix' ? 'UNIX' : 'TCP';
      reject(new Error(`unable to bind ${what} socket to ${target.source}: ${e.message}`, { cause: e }));
    };
    server.once('error', fail);
    const done = (): void => {
      server.off('error', fail);
      resolve();
    };
    if (target.kind === 'unix') server.listen({ path: target.path, backlog: LISTEN_BACKLOG }, done);
    else server.listen({ host: target.host, port: target.port, exclusive: true, backlog: LISTEN_BACKLOG }, done);
  });
}
