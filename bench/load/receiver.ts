/**
 * The protocol-independent half of a subscriber: checks every received payload (integrity,
 * loss/duplicates/order through the Tracker), counts deliveries inside the measurement window
 * and records one-way latency when asked.
 */
import type { SubSpec } from './job.js';
import { HEADER_BYTES, monoNs, payloadIntact, readPubId, readSentNs, readSeq } from './payload.js';
import { Tracker } from './tracker.js';

/** Shared by all receivers of a worker; toggled by the worker's measurement timers. */
export interface Window {
  open: boolean;
  /** One-way latencies in µs of messages received while the window is open, or null. */
  latencies: number[] | null;
}

export class Receiver {
  readonly tracker = new Tracker();
  inWindow = 0;
  /** Called after each received chunk has been processed (MQTT publishers refill on it). */
  onProgress: (() => void) | null = null;

  constructor(
    readonly spec: SubSpec,
    private readonly window: Window,
  ) {}

  onPayload(payload: Buffer): void {
    this.onMessage(payload, payload.length, payload[payload.length - 1] ?? -1);
  }

  /**
   * One received message, given its first bytes (at least the header), its size and its last
   * byte: large payloads are checked as they stream past, never joined.
   */
  onMessage(start: Buffer, size: number, lastByte: number): void {
    if (size < HEADER_BYTES || start.length < HEADER_BYTES) {
      this.tracker.corrupt++;
      return;
    }
    if (!payloadIntact(size, lastByte, this.spec.payload)) this.tracker.corrupt++;
    this.tracker.record(readPubId(start), readSeq(start));
    const w = this.window;
    if (!w.open) return;
    this.inWindow++;
    if (w.latencies !== null) w.latencies.push((monoNs() - readSentNs(start)) / 1000);
  }

  /** Messages still missing from the publishers this subscriber must hear. */
  missing(sentBy: (pubId: number) => number): number {
    let missing = 0;
    for (const id of this.spec.expectFrom) missing += sentBy(id) - this.tracker.uniqueFrom(id);
    return missing;
  }
}
