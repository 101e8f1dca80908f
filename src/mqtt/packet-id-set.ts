/**
 * A set of MQTT packet identifiers (1 … 65535) whose memory is bounded by the identifier space:
 * a Set while small (the usual case: a few QoS 2 publishes between PUBREC and PUBREL), a
 * 65,536-bit bitmap (8 KB) once it grows. A Set of all 65,535 ids would take about 1.5 MB, so a
 * client bursting QoS 2 publishes without a limit (MQTT 3.1.1 has no Receive Maximum) could make
 * each session cost that much; the bitmap caps it at 8 KB.
 */

/** Entries kept in a Set before switching to the bitmap. */
const SET_LIMIT = 128;
const BITMAP_BYTES = 65_536 / 8;

export class PacketIdSet {
  private small: Set<number> | null = null;
  private bits: Uint8Array | null = null;
  private count = 0;

  get size(): number {
    return this.count;
  }

  has(id: number): boolean {
    if (this.bits !== null) return ((this.bits[id >>> 3] ?? 0) & (1 << (id & 7))) !== 0;
    return this.small?.has(id) ?? false;
  }

  add(id: number): void {
    if (this.has(id)) return;
    this.count++;
    if (this.bits !== null) {
      setBit(this.bits, id);
      return;
    }
    const small = (this.small ??= new Set());
    small.add(id);
    if (small.size <= SET_LIMIT) return;
    const bits = new Uint8Array(BITMAP_BYTES);
    for (const one of small) setBit(bits, one);
    this.bits = bits;
    this.small = null;
  }

  /** The ids, ascending (a save of the session). */
  ids(): number[] {
    const bits = this.bits;
    if (bits === null) return [...(this.small ?? [])].sort((a, b) => a - b);
    const out: number[] = [];
    for (let id = 1; id <= 65_535; id++) if (((bits[id >>> 3] ?? 0) & (1 << (id & 7))) !== 0) out.push(id);
    return out;
  }

  /** False when `id` was not in the set. */
  delete(id: number): boolean {
    if (!this.has(id)) return false;
    this.count--;
    if (this.bits !== null) {
      const i = id >>> 3;
      this.bits[i] = (this.bits[i] ?? 0) & ~(1 << (id & 7));
      if (this.count === 0) this.bits = null; // the burst is over: give the 8 KB back
    } else {
      this.small?.delete(id);
    }
    return true;
  }
}

function setBit(bits: Uint8Array, id: number): void {
  const i = id >>> 3;
  bits[i] = (bits[i] ?? 0) | (1 << (id & 7));
}
