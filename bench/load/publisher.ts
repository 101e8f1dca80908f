/**
 * One publishing connection, independent of the protocol: every frame is a copy of one encoded
 * template with the payload header patched in, so producing a message costs a memcpy and three
 * integer writes. Flat-out mode keeps up to `window` messages in flight and refills the free
 * part of the window in one socket write; paced mode sends single frames when told to.
 */
import type { Socket } from 'node:net';
import type { PubSpec } from './job.js';
import { monoNs, stampHeader } from './payload.js';

/** Frames at least this big are sent from a ring of pre-built copies instead of a batch copy. */
const RING_THRESHOLD = 64 * 1024;

export class Publisher {
  sent = 0;
  stopped = false;
  private readonly ring: Buffer[] | null;
  /** Refill only when this much of the window is free: fewer, larger writes. */
  private readonly minRefill: number;

  constructor(
    readonly spec: PubSpec,
    readonly socket: Socket,
    private readonly template: Buffer,
    /** Offset of the payload inside the template frame. */
    private readonly payloadAt: number,
    /** Messages sent but not yet acknowledged (PSRT) or not yet seen by every subscriber (MQTT). */
    readonly inflight: () => number,
    /** MQTT QoS 1: where the packet id sits in the frame (patched per message); -1 for none. */
    private readonly packetIdAt = -1,
  ) {
    this.minRefill = Math.max(1, Math.floor(spec.window / 16));
    // A ring slot is reused only after its message left the window, i.e. the broker has read
    // it completely, so patching it can never race a pending socket write.
    this.ring =
      template.length >= RING_THRESHOLD
        ? Array.from({ length: spec.window }, () => Buffer.from(template))
        : null;
  }

  /** Flat-out mode: tops the window up (called on every ack or delivery progress). */
  fill(): void {
    if (this.stopped || this.spec.rate > 0) return;
    const inflight = this.inflight();
    const free = this.spec.window - inflight;
    if (free <= 0 || (free < this.minRefill && inflight > 0)) return;
    this.send(free);
  }

  /** Writes `n` frames now (one write unless large frames come from the ring). */
  send(n: number): void {
    const now = monoNs();
    const id = this.spec.id;
    const ring = this.ring;
    if (ring !== null) {
      for (let i = 0; i < n; i++) {
        const frame = ring[this.sent % ring.length] as Buffer;
        this.patchPacketId(frame, 0);
        stampHeader(frame, this.payloadAt, id, this.sent++, now);
        this.socket.write(frame);
      }
      return;
    }
    const size = this.template.length;
    const batch = Buffer.allocUnsafe(n * size);
    for (let i = 0, off = 0; i < n; i++, off += size) {
      this.template.copy(batch, off);
      this.patchPacketId(batch, off);
      stampHeader(batch, off + this.payloadAt, id, this.sent++, now);
    }
    this.socket.write(batch);
  }

  /** Packet ids cycle 1…65535; the window is far smaller, so no id is reused while in flight. */
  private patchPacketId(frame: Buffer, off: number): void {
    if (this.packetIdAt >= 0) frame.writeUInt16BE((this.sent % 65535) + 1, off + this.packetIdAt);
  }
}
