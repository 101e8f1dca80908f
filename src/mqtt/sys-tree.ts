/**
 * The broker's `$SYS/broker/...` statistics for MQTT clients, under Mosquitto's topic names and
 * in its plain-text formats, so dashboards made for Mosquitto (MQTT Explorer, Node-RED flows,
 * `mosquitto_sub -t '$SYS/#'`) read psrtd too.
 *
 * Every `mqtt.sys_interval` seconds one shared timer reads the figures (a handful of counters,
 * no per-message work anywhere) and publishes, retained at QoS 0, each value that changed since
 * it was last published, as Mosquitto does: an idle broker sends only `uptime` (and the load
 * averages while they decay to 0.00). The messages go through MqttRouter.publishSystem, i.e. to
 * MQTT subscribers and the retained store only.
 */
import { stampNow } from '../broker/index.js';
import { MqttMessage } from './message.js';
import { DEFAULT_PRIORITY, type MqttRouter } from './router.js';
import { LOAD_WINDOWS, LoadAverage } from './sys-load.js';

/** The figures one update publishes; PSRT and MQTT together (one broker). */
export interface SysFigures {
  readonly uptimeSeconds: number;
  /** Logged-in PSRT control sessions plus MQTT connections. */
  readonly connected: number;
  /** MQTT sessions kept without a connection (PSRT sessions end with their connection). */
  readonly disconnected: number;
  readonly subscriptions: number;
  readonly retained: number;
  /** Messages accepted from clients (PSRT TCP, UDP, MQTT). */
  readonly received: number;
  /** Message frames written to PSRT data sockets and MQTT connections (PUBLISH packets). */
  readonly sent: number;
  /** Messages not delivered because a subscriber's queue or packet-size limit refused them. */
  readonly dropped: number;
}

export type SysFiguresProvider = () => SysFigures;

const PREFIX = '$SYS/broker/';
const EMPTY = Buffer.alloc(0);

/** Mosquitto's `load/<name>/<window>` topics this broker can feed, and their counter. */
const LOADS: readonly (readonly [string, (f: SysFigures) => number])[] = [
  ['messages/received', (f) => f.received],
  ['messages/sent', (f) => f.sent],
  ['publish/received', (f) => f.received],
  ['publish/sent', (f) => f.sent],
  ['publish/dropped', (f) => f.dropped],
];

export class SysTree {
  private timer: NodeJS.Timeout | null = null;
  private intervalSeconds = 0;
  /** Topic → the payload last published on it (what "changed" is measured against). */
  private readonly published = new Map<string, string>();
  /** Highest clients/total seen at an update (Mosquitto's clients/maximum). */
  private maximum = 0;
  /** One per LOADS entry, reset whenever the updates start. */
  private loads: LoadAverage[] = [];
  private lastUpdateMs = 0;

  constructor(
    private readonly router: MqttRouter,
    private readonly figures: SysFiguresProvider,
    private readonly version: string,
  ) {}

  get interval(): number {
    return this.intervalSeconds;
  }

  /**
   * Starts (publishing `version` and every figure at once, as Mosquitto does at start),
   * reschedules, or with 0 stops the updates and deletes the retained `$SYS` messages, so no
   * subscriber reads stale figures as current ones.
   */
  setInterval(seconds: number): void {
    if (seconds === this.intervalSeconds) return;
    this.stop();
    const wasOff = this.intervalSeconds === 0;
    this.intervalSeconds = seconds;
    if (seconds === 0) {
      this.forget();
      return;
    }
    if (wasOff) this.begin();
    this.timer = setInterval(() => { this.update(); }, seconds * 1000);
    this.timer.unref();
  }

  /** Shutdown: no more updates (the retained messages go with the process). */
  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** The first update: version, every figure, and the load averages from 0 (as Mosquitto at start). */
  private begin(): void {
    const f = this.figures();
    this.loads = LOADS.map(([, counter]) => new LoadAverage(counter(f)));
    this.lastUpdateMs = performance.now();
    this.put('version', `psrtd version ${this.version}`);
    this.update(f);
  }

  /** Publishes every figure whose value changed; O(number of topics). */
  update(f: SysFigures = this.figures()): void {
    const total = f.connected + f.disconnected;
    this.put('uptime', `${f.uptimeSeconds} seconds`);
    this.put('clients/connected', f.connected);
    this.put('clients/disconnected', f.disconnected);
    this.put('clients/total', total);
    this.maximum = Math.max(this.maximum, total);
    this.put('clients/maximum', this.maximum);
    this.put('subscriptions/count', f.subscriptions);
    this.put('retained messages/count', f.retained);
    this.put('messages/received', f.received);
    this.put('messages/sent', f.sent);
    this.put('publish/messages/received', f.received);
    this.put('publish/messages/sent', f.sent);
    this.put('publish/messages/dropped', f.dropped);
    this.updateLoads(f);
  }

  private updateLoads(f: SysFigures): void {
    const now = performance.now();
    const seconds = (now - this.lastUpdateMs) / 1000;
    this.lastUpdateMs = now;
    for (const [i, [name, counter]] of LOADS.entries()) {
      const load = this.loads[i];
      if (load === undefined) continue;
      load.update(counter(f), seconds);
      for (const [w, [window]] of LOAD_WINDOWS.entries()) this.put(`load/${name}/${window}`, (load.averages[w] ?? 0).toFixed(2));
    }
  }

  private put(name: string, value: number | string): void {
    const topic = PREFIX + name;
    const text = typeof value === 'number' ? String(Math.max(0, Math.floor(value))) : value;
    if (this.published.get(topic) === text) return;
    this.published.set(topic, text);
    this.router.publishSystem(new MqttMessage(topic, Buffer.from(text), 0, true, DEFAULT_PRIORITY, stampNow(), null, null));
  }

  /** Deletes the retained `$SYS` messages (an empty retained message removes its topic's). */
  private forget(): void {
    for (const topic of this.published.keys()) {
      this.router.retained.put(new MqttMessage(topic, EMPTY, 0, true, DEFAULT_PRIORITY, stampNow(), null, null));
    }
    this.published.clear();
    this.maximum = 0;
  }
}
