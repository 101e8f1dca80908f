/** PSRT subscriber (decoded deliveries with exact payload bytes) and publisher for cross-protocol tests. */
import assert from 'node:assert/strict';
import { ByteQueue, DataDecoder } from '../../src/protocol/index.js';
import { attachData, login, publishFrame, topicsFrame, type RawConn } from './raw.js';

export interface PsrtMessage {
  readonly topic: string;
  readonly priority: number;
  readonly payload: Buffer;
}

export class PsrtSubscriber {
  readonly messages: PsrtMessage[] = [];
  private readonly q = new ByteQueue();
  private readonly dec = new DataDecoder(this.q);

  private constructor(readonly ctl: RawConn, readonly data: RawConn) {
    data.socket.removeAllListeners('data');
    data.socket.on('data', (chunk: Buffer) => {
      this.q.push(chunk);
      for (let ev = this.dec.next(); ev !== null; ev = this.dec.next()) {
        if (ev.kind === 'message') this.messages.push({ topic: ev.topic, priority: ev.priority, payload: Buffer.from(ev.payload) });
      }
    });
  }

  /** Logs in (anonymous unless user given), attaches a data socket and subscribes the masks. */
  static async open(port: number, masks: string[], user = '', password = ''): Promise<PsrtSubscriber> {
    const { ctl, token } = await login(port, user, password);
    const data = await attachData(port, token, 255); // pings every 127 s only
    ctl.send(topicsFrame(2, masks));
    assert.equal((await ctl.read(1))[0], 1, 'PSRT subscribe accepted');
    return new PsrtSubscriber(ctl, data);
  }

  async waitFor(n: number, timeoutMs = 10_000): Promise<void> {
    const t0 = performance.now();
    while (this.messages.length < n) {
      if (performance.now() - t0 > timeoutMs) throw new Error(`PSRT subscriber got ${this.messages.length} of ${n} messages: ${this.messages.map((m) => m.topic).join(', ')}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  close(): void {
    this.ctl.destroy();
    this.data.destroy();
  }
}

export class PsrtPublisher {
  private constructor(readonly ctl: RawConn) {}

  static async open(port: number, user = '', password = ''): Promise<PsrtPublisher> {
    return new PsrtPublisher((await login(port, user, password)).ctl);
  }

  /** Publishes and returns the server's one-byte reply (1 = accepted). */
  async publish(topic: string, payload: Buffer | string, priority = 0x7f): Promise<number> {
    this.ctl.send(publishFrame(topic, payload, priority));
    return (await this.ctl.read(1, 10_000))[0] ?? -1;
  }

  close(): void {
    this.ctl.destroy();
  }
}
