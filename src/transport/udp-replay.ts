/**
 * Replay protection for AES-GCM UDP datagrams (psrt-node extension, `proto.udp_replay_window`).
 *
 * The reference packet layout (`nonce ciphertext tag`, no AAD) has no counter or timestamp, so
 * a captured datagram would be accepted again. Reference senders draw a fresh random 12-byte
 * nonce per datagram (nonce reuse would break GCM anyway), so a nonce seen twice under the same
 * key is a replay. This keeps the last `window` nonces of each key owner, checked only after the
 * tag verified (a forged datagram cannot evict real nonces), and forgotten again when the
 * datagram is not delivered (refused, malformed, dropped), so that a retransmission of a refused
 * datagram is refused again instead of being acknowledged as a delivered replay. AES-128 and
 * AES-256 datagrams of a user have windows of their own (different keys: the same nonce under
 * both is no replay). A replay older than the owner's last `window` datagrams, or one across a
 * server restart, is not detected: the layout gives nothing to bound it by time.
 *
 * Memory: at most `window` nonces per user with a key (about 70 bytes each), growing with the
 * datagrams actually received, and only users with a key in the keys file can get past decryption.
 */

class NonceWindow {
  /** Nonce → its slot in `order` (a forgotten and re-admitted nonce has a newer slot). */
  private readonly seen = new Map<string, number>();
  /**
   * Arrival order, grown as nonces come: allocating all `capacity` slots up front cost 512 KB
   * per key owner on its first datagram (65,536 pointers), gigabytes for a fleet of sensors with
   * a key each. Once full it is a ring, `next` pointing at the oldest nonce.
   */
  private readonly order: string[] = [];
  private next = 0;

  constructor(private readonly capacity: number) {}

  /** True when `nonce` was not seen in the window (it is then remembered). */
  admit(nonce: string): boolean {
    if (this.seen.has(nonce)) return false;
    let slot = this.order.length;
    if (slot < this.capacity) {
      this.order.push(nonce);
    } else {
      slot = this.next;
      const evicted = this.order[slot];
      // Only if the nonce still lives in this slot: it may have been forgotten and admitted again.
      if (evicted !== undefined && this.seen.get(evicted) === slot) this.seen.delete(evicted);
      this.order[slot] = nonce;
      this.next = (slot + 1) % this.capacity;
    }
    this.seen.set(nonce, slot);
    return true;
  }

  forget(nonce: string): void {
    this.seen.delete(nonce);
  }
}

export class ReplayGuard {
  private readonly windows = new Map<string, NonceWindow>();

  /** `window` nonces remembered per user; 0 turns the protection off. */
  constructor(readonly window: number) {}

  get enabled(): boolean {
    return this.window > 0;
  }

  /** False for a datagram whose nonce `user` already sent with this key type within the window. */
  fresh(user: string, keyType: number, nonce: Buffer): boolean {
    if (this.window === 0) return true;
    const id = `${keyType}:${user}`;
    let w = this.windows.get(id);
    if (w === undefined) {
      w = new NonceWindow(this.window);
      this.windows.set(id, w);
    }
    return w.admit(nonce.toString('latin1'));
  }

  /**
   * Undoes `fresh` for a datagram that was not delivered (refused, malformed or dropped): its
   * retransmission must get the same answer again, not the `01` of a replay.
   */
  forget(user: string, keyType: number, nonce: Buffer): void {
    this.windows.get(`${keyType}:${user}`)?.forget(nonce.toString('latin1'));
  }

}
