/**
 * One client process of the TLS handshake benchmark (bench/tls-handshakes.ts), started with a
 * JSON job as its only argument and an IPC channel. It keeps `concurrency` connections in flight,
 * each: TCP connect, (PSRT) the STARTTLS greeting, the TLS handshake, the first reply inside TLS
 * (PSRT `EE AA 01 00`, MQTT CONNACK after a CONNECT), close. In `resumed` mode every connection
 * presents the session ticket the first one received. On `{ mark: true }` it replies with its
 * counters so far (the parent reads the server's CPU time at the same moments); on `{ stop: true }`
 * or when bounds are hit, it reports and exits.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';

export interface TlsClientJob {
  readonly port: number;
  readonly proto: 'psrt' | 'mqtt';
  readonly mode: 'full' | 'resumed';
  readonly concurrency: number;
  /** Upper bounds: handshakes in total and wall time. */
  readonly maxHandshakes: number;
  readonly maxMs: number;
  /** `TLSv1.2` to measure TLS 1.2 clients; default TLS 1.3. */
  readonly maxVersion: 'TLSv1.2' | 'TLSv1.3';
}

export interface TlsClientCounts {
  readonly done: number;
  readonly reused: number;
  readonly errors: number;
  readonly firstError: string | null;
}

const PSRT_GREETING = Buffer.from([0xee, 0xaa, 0x01]);
const PSRT_REPLY = Buffer.from([0xee, 0xaa, 0x01, 0x00]);
/** MQTT 3.1.1 CONNECT: clean session, keep-alive 60 s, empty client id (the broker assigns one). */
const MQTT_CONNECT = Buffer.from([0x10, 12, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0x02, 0, 60, 0, 0]);
const MQTT_CONNACK = Buffer.from([0x20, 2, 0, 0]);

const job = JSON.parse(process.argv[2] ?? '{}') as TlsClientJob;
const counts = { done: 0, reused: 0, errors: 0, firstError: null as string | null };
let session: Buffer | undefined;
let running = true;
const started = performance.now();

function tcp(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = netConnect(job.port, '127.0.0.1');
    s.setNoDelay(true);
    s.once('connect', () => { s.off('error', reject); resolve(s); });
    s.once('error', reject);
  });
}

/** One connection: resolves when the first reply arrived (and, if `wantSession`, a ticket). */
async function once(wantSession: boolean): Promise<void> {
  const raw = await tcp();
  if (job.proto === 'psrt') raw.write(PSRT_GREETING);
  const opts: ConnectionOptions = { socket: raw, rejectUnauthorized: false, maxVersion: job.maxVersion, session };
  const secure: TLSSocket = tlsConnect(opts);
  const expected = job.proto === 'psrt' ? PSRT_REPLY : MQTT_CONNACK;
  try {
    await new Promise<void>((resolve, reject) => {
      let got = Buffer.alloc(0);
      let replied = false;
      let ticket = !wantSession;
      const check = (): void => { if (replied && ticket) resolve(); };
      const timer = setTimeout(() => { reject(new Error('no reply in 10 s')); }, 10_000);
      if (wantSession) secure.once('session', (s: Buffer) => { session = s; ticket = true; check(); });
      secure.once('secureConnect', () => { if (job.proto === 'mqtt') secure.write(MQTT_CONNECT); });
      secure.on('data', (b: Buffer) => {
        got = Buffer.concat([got, b]);
        if (got.length < expected.length) return;
        clearTimeout(timer);
        if (!got.subarray(0, expected.length).equals(expected)) { reject(new Error(`bad reply ${got.toString('hex')}`)); return; }
        replied = true;
        check();
      });
      secure.once('error', (e: Error) => { clearTimeout(timer); reject(e); });
      secure.once('close', () => { clearTimeout(timer); reject(new Error('closed before the reply')); });
    });
    counts.done++;
    if (secure.isSessionReused()) counts.reused++;
  } finally {
    secure.destroy();
    raw.destroy();
  }
}

async function loop(): Promise<void> {
  while (running && counts.done + counts.errors < job.maxHandshakes && performance.now() - started < job.maxMs) {
    try {
      await once(false);
    } catch (e) {
      counts.errors++;
      counts.firstError ??= e instanceof Error ? e.message : String(e);
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

function report(): void {
  process.send?.({ ...counts } satisfies TlsClientCounts);
}

process.on('message', (m: { mark?: boolean; stop?: boolean }) => {
  if (m.stop === true) running = false;
  report();
});
process.on('disconnect', () => { running = false; });

// The ticket for resumed mode: one connection that waits for it (TLS 1.3 sends it after the handshake).
if (job.mode === 'resumed') await once(true);
process.send?.({ ready: true });
await Promise.all(Array.from({ length: job.concurrency }, () => loop()));
report();
process.disconnect();
