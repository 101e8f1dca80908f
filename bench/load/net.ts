/** Loopback dialing and the small request/response reads of connection set-up. */
import { connect, type Socket } from 'node:net';

export const HOST = '127.0.0.1';
const SETUP_TIMEOUT_MS = 10_000;

/** A TCP connection to 127.0.0.1:port with TCP_NODELAY (as both psrtd and its clients use). */
export function dial(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, HOST);
    s.setNoDelay(true);
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`connect to ${HOST}:${port} timed out`));
    }, SETUP_TIMEOUT_MS);
    s.once('connect', () => {
      clearTimeout(timer);
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/**
 * Waits until `n` bytes arrived (set-up replies only: the listener is removed afterwards).
 * Resolves with exactly those bytes and whatever arrived after them.
 */
export function readExact(socket: Socket, n: number): Promise<{ bytes: Buffer; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let have = 0;
    const cleanup = (): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
    };
    const onData = (chunk: Buffer): void => {
      parts.push(chunk);
      have += chunk.length;
      if (have < n) return;
      cleanup();
      const all = Buffer.concat(parts);
      resolve({ bytes: all.subarray(0, n), rest: all.subarray(n) });
    };
    const onClose = (): void => {
      cleanup();
      reject(new Error(`connection closed while reading ${n} bytes (had ${have})`));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out reading ${n} bytes (had ${have})`));
    }, SETUP_TIMEOUT_MS);
    socket.on('data', onData);
    socket.once('close', onClose);
  });
}

/** Runs `fn` over `items` with at most `limit` in flight (bounded connection bursts). */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let nextIndex = 0;
  const lane = async (): Promise<void> => {
    while (nextIndex < items.length) {
      const i = nextIndex++;
      out[i] = await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return out;
}
