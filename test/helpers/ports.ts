/**
 * A currently free TCP port on 127.0.0.1 (for configs that must name each other's ports).
 *
 * The port is taken from below the kernel's ephemeral range: tests often name a port before
 * its server starts, or restart a server on the same port while clients keep reconnecting to
 * it. A port from the ephemeral range can meanwhile become the source port of one of those
 * connects (or even connect to itself by TCP simultaneous open), and the server then fails to
 * bind it: a flaky test. Below the range the kernel hands out nothing by itself.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

const LOWEST = 10_000;
/** Ports handed out by this process: two calls in a row must not return the same one. */
const given = new Set<number>();

/** The first port of net.ipv4.ip_local_port_range (32768 when it cannot be read). */
function ephemeralLow(): number {
  try {
    const first = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(first) && first > 0 ? first : 32_768;
  } catch {
    return 32_768;
  }
}

/** Listens on `port` (0: any) and closes again; the port bound, or null when it was taken. */
function bindAndRelease(port: number): Promise<number | null> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => {
      resolve(null);
    });
    srv.listen(port, '127.0.0.1', () => {
      const addr = srv.address();
      const bound = typeof addr === 'object' && addr !== null ? addr.port : null;
      srv.close(() => {
        resolve(bound);
      });
    });
  });
}

export async function freePort(): Promise<number> {
  const high = ephemeralLow();
  for (let attempt = 0; high - LOWEST > 1000 && attempt < 100; attempt++) {
    const port = LOWEST + Math.floor(Math.random() * (high - LOWEST));
    if (given.has(port)) continue;
    if ((await bindAndRelease(port)) === port) {
      given.add(port);
      return port;
    }
  }
  // A kernel whose ephemeral range starts low (or a crowded one): any free port.
  const any = await bindAndRelease(0);
  if (any === null) throw new Error('no free TCP port on 127.0.0.1');
  given.add(any);
  return any;
}
