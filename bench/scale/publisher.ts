/**
 * The extra publisher connection of the scale benchmark (in the orchestrator, on the load
 * core): paced latency probes to one session's topic, and the delivery check (one message to
 * every session's topic). Raw bytes like the load client.
 */
import { connect } from 'node:net';
import {
  LATENCY_MARK,
  MQTT_PINGREQ,
  PSRT_CTRL_GREETING,
  PSRT_LOGIN_ANON,
  VERIFY_MARK,
  mqttConnect,
  mqttFrame,
  mqttPublish,
  psrtPublish,
  sessionTopic,
  type Proto,
} from './wire.js';

const OPEN_MS = 10_000;
const FLUSH_MS = 60_000;
const WINDOW = 1000;

export interface Publisher {
  publish(topic: string, payload: Buffer): void;
  /** Resolves once the server has handled every publish so far (PSRT acks, MQTT PINGRESP). */
  flush(): Promise<void>;
  /** Publishes in flight (PSRT: sent, not yet acknowledged). */
  readonly inFlight: number;
  close(): void;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, rej) => { t = setTimeout(() => { rej(new Error(`${what}: no answer in ${ms} ms`)); }, ms); });
  return Promise.race([p, timeout]).finally(() => { clearTimeout(t); });
}

/** Opens a publisher session: resolves once it may publish. */
export function openPublisher(proto: Proto, port: number): Promise<Publisher> {
  const sock = connect({ port, host: '127.0.0.1', noDelay: true });
  let pending = Buffer.alloc(0);
  let ready: (() => void) | null = null;
  let acked = 0;
  let sent = 0;
  const waiters: { upTo: number; done: () => void }[] = [];
  const settle = (): void => {
    for (let i = waiters.length - 1; i >= 0; i--) {
      const w = waiters[i];
      if (w !== undefined && acked >= w.upTo) {
        waiters.splice(i, 1);
        w.done();
      }
    }
  };
  sock.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    if (ready !== null) {
      const need = proto === 'psrt' ? 36 : 4; // greeting reply + token, or CONNACK
      if (pending.length < need) return;
      pending = pending.subarray(need);
      const r = ready;
      ready = null;
      r();
    }
    if (proto === 'psrt') {
      acked += pending.length; // every reply is one status byte
      pending = Buffer.alloc(0);
    } else {
      for (let f = mqttFrame(pending); f !== null; f = mqttFrame(pending)) {
        if (f.type >> 4 === 13) acked = sent; // PINGRESP: everything before it was handled
        pending = pending.subarray(f.end);
      }
    }
    settle();
  });
  const opened = new Promise<void>((res, rej) => {
    ready = res;
    sock.once('error', rej);
    sock.once('connect', () => {
      sock.write(proto === 'psrt' ? Buffer.concat([PSRT_CTRL_GREETING, PSRT_LOGIN_ANON]) : mqttConnect(`scale-pub-${process.pid}`, 60));
    });
  });
  const pub: Publisher = {
    publish: (topic, payload) => {
      sent++;
      sock.write(proto === 'psrt' ? psrtPublish(topic, payload) : mqttPublish(topic, payload));
    },
    flush: () => {
      if (proto === 'mqtt') sock.write(MQTT_PINGREQ);
      const upTo = sent;
      return withTimeout(new Promise<void>((done) => { waiters.push({ upTo, done }); settle(); }), FLUSH_MS, 'publisher flush');
    },
    get inFlight() { return proto === 'psrt' ? sent - acked : 0; },
    close: () => { sock.destroy(); },
  };
  // Later errors surface as flush timeouts; the first one fails the open.
  sock.on('error', () => undefined);
  return withTimeout(opened, OPEN_MS, 'publisher open').then(() => pub);
}

/** A 64-byte probe: mark, send time (ns, CLOCK_MONOTONIC), padding. */
function probe(): Buffer {
  const b = Buffer.alloc(64, 0x2e);
  b[0] = LATENCY_MARK;
  b.writeBigUInt64LE(process.hrtime.bigint(), 1);
  return b;
}

/** `count` probes at `rate` msg/s to `topic`, paced from the start time (no drift). */
export async function sendProbes(pub: Publisher, topic: string, count: number, rate: number): Promise<void> {
  const started = performance.now();
  let sent = 0;
  await new Promise<void>((done) => {
    const timer = setInterval(() => {
      const due = Math.min(count, Math.floor(((performance.now() - started) / 1000) * rate) + 1);
      for (; sent < due; sent++) pub.publish(topic, probe());
      if (sent >= count) {
        clearInterval(timer);
        done();
      }
    }, 2);
  });
  await pub.flush();
}

/** One delivery-check message to each of sessions 0..n-1, at most WINDOW unacknowledged. */
export async function sendChecks(pub: Publisher, n: number): Promise<void> {
  const payload = Buffer.from([VERIFY_MARK, 0x21]);
  for (let i = 0; i < n; i++) {
    pub.publish(sessionTopic(i), payload);
    if (pub.inFlight >= WINDOW) await new Promise((r) => setTimeout(r, 1));
    if (i % WINDOW === WINDOW - 1) await pub.flush();
  }
  await pub.flush();
}
