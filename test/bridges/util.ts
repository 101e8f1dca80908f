/** Shared pieces of the bridge end-to-end tests: a raw PSRT subscriber, publishing, /status. */
import assert from 'node:assert/strict';
import { ByteQueue, DataDecoder } from '../../src/protocol/index.js';
import { startPsrtd, type Psrtd } from '../helpers/psrtd.js';
import { attachData, login, publishFrame, topicsFrame, type RawConn } from '../helpers/raw.js';

export interface Received {
  readonly topic: string;
  readonly payload: Buffer;
  readonly priority: number;
}

/** A PSRT subscriber keeping every delivered message (payload copied, byte-exact). */
export class Collector {
  readonly messages: Received[] = [];
  private readonly q = new ByteQueue();
  private readonly dec = new DataDecoder(this.q);

  private constructor(readonly ctl: RawConn, readonly data: RawConn) {
    data.socket.removeAllListeners('data');
    data.socket.on('data', (chunk: Buffer) => {
      this.q.push(chunk);
      for (let ev = this.dec.next(); ev !== null; ev = this.dec.next()) {
        if (ev.kind === 'message') this.messages.push({ topic: ev.topic, payload: Buffer.from(ev.payload), priority: ev.priority });
      }
    });
  }

  static async open(port: number, masks: string[]): Promise<Collector> {
    const { ctl, token } = await login(port);
    const data = await attachData(port, token, 255);
    ctl.send(topicsFrame(2, masks));
    assert.equal((await ctl.read(1))[0], 1);
    return new Collector(ctl, data);
  }

  async waitFor(n: number, timeoutMs = 15_000): Promise<void> {
    const t0 = performance.now();
    while (this.messages.length < n) {
      if (performance.now() - t0 > timeoutMs) throw new Error(`got ${this.messages.length} of ${n} messages`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  on(topic: string): Received[] {
    return this.messages.filter((m) => m.topic === topic);
  }

  close(): void {
    this.ctl.destroy();
    this.data.destroy();
  }
}

/** Publishes over one control connection (pipelined) and checks every reply is `01`. */
export async function publishAll(port: number, topic: string, payloads: readonly (Buffer | string)[], priority = 0x7f): Promise<void> {
  const ctl = (await login(port)).ctl;
  ctl.send(Buffer.concat(payloads.map((p) => publishFrame(topic, p, priority))));
  const replies = await ctl.read(payloads.length, 15_000);
  assert.ok(replies.every((b) => b === 1));
  ctl.destroy();
}

export interface BridgeStatusJson {
  type: string;
  state: string;
  server: string;
  buffered: number;
  buffered_bytes: number;
  exported: number;
  imported: number;
  dropped: number;
  unmappable: number;
  echoes: number;
  connects: number;
}

export async function bridgeStatus(node: Psrtd, name: string): Promise<BridgeStatusJson> {
  const r = await fetch(`http://127.0.0.1:${String(node.statsPort)}/status`);
  const body = (await r.json()) as { bridges?: Record<string, BridgeStatusJson> };
  const b = body.bridges?.[name];
  assert.ok(b !== undefined, `bridge ${name} in /status`);
  return b;
}

export async function metricsText(node: Psrtd): Promise<string> {
  return (await fetch(`http://127.0.0.1:${String(node.statsPort)}/metrics`)).text();
}

export interface BridgeSpec {
  name: string;
  type: 'nats' | 'mqtt';
  servers: string[];
  out?: string[];
  in?: string[];
  extra?: Record<string, string | number | boolean>;
}

export function bridgesYaml(nodeId: string, specs: readonly BridgeSpec[]): string {
  const lines = ['bridges:', `  node_id: ${nodeId}`, '  list:'];
  for (const s of specs) {
    lines.push(`    - name: ${s.name}`, `      type: ${s.type}`, `      servers: ${JSON.stringify(s.servers)}`);
    if (s.out !== undefined) lines.push(`      out: ${JSON.stringify(s.out)}`);
    if (s.in !== undefined) lines.push(`      in: ${JSON.stringify(s.in)}`);
    for (const [k, v] of Object.entries(s.extra ?? {})) lines.push(`      ${k}: ${JSON.stringify(v)}`);
  }
  return `${lines.join('\n')}\n`;
}

/** A psrtd with a stats port and the given bridges. */
export function startBridged(nodeId: string, specs: readonly BridgeSpec[], server: Record<string, string | number> = {}): Promise<Psrtd> {
  return startPsrtd({ server: { bind_stats: '127.0.0.1:0', ...server }, extra: bridgesYaml(nodeId, specs) });
}
