/**
 * The UDP keys of a keys file, compact: every key's 32 bytes in a few large buffers (slabs) and
 * one map user → slot number (a small integer, no object of its own). The map's names are the
 * ACL's own strings (buildNamedSteps): a million users cost a map entry and 32 bytes each.
 *
 * All 32 bytes are kept: AES-256-GCM (type 03) uses them all, AES-128-GCM (type 02) the first 16.
 *
 * Immutable once built: the slabs of a UdpKeys are written only by its UdpKeysBuilder, before
 * build() hands them over, and never after, nor reused by another load (a reload builds new
 * slabs). So a key view from get() shows the same bytes for as long as anyone holds it, even
 * across a reload that gives its slot to another user or the user another key. Callers must
 * not write into a view (it would change the key for everyone until the next load).
 */
import { ErrorCode, PsrtError } from '../protocol/errors.js';
import { UDP_KEY_LENGTH } from '../protocol/udp.js';
import type { Steps } from './steps.js';

/** 2^12 keys per slab: 128 KiB, small enough to allocate at once, few enough per million. */
const SLOT_BITS = 12;
const SLAB_KEYS = 1 << SLOT_BITS;
const SLOT_MASK = SLAB_KEYS - 1;
const SLAB_BYTES = SLAB_KEYS * UDP_KEY_LENGTH;
/** Names looked up between yields of buildNamedSteps (a lookup is a fraction of a microsecond). */
const NAMES_PER_STEP = 2000;

/** UdpKeys' constructor for UdpKeysBuilder.build(), the one place that makes a UdpKeys from slabs. */
let seal: (slots: ReadonlyMap<string, number>, slabs: readonly Buffer[]) => UdpKeys;

export class UdpKeys {
  static {
    seal = (slots, slabs) => new UdpKeys(slots, slabs);
  }

  static readonly EMPTY = new UdpKeys(new Map(), []);

  private constructor(
    /** User → slot; slot s is in slabs[s >>> SLOT_BITS] at (s & SLOT_MASK) * 32. */
    private readonly slots: ReadonlyMap<string, number>,
    private readonly slabs: readonly Buffer[],
  ) {}

  /** From ready keys of exactly 32 bytes each (tests, embedders); the bytes are copied. */
  static fromEntries(entries: Iterable<readonly [string, Buffer]>): UdpKeys {
    const builder = new UdpKeysBuilder();
    for (const [user, key] of entries) {
      if (key.length !== UDP_KEY_LENGTH) throw new RangeError(`UDP key of ${user} must be ${UDP_KEY_LENGTH} bytes`);
      if (!builder.addHex(user, key.toString('hex'))) throw new RangeError(`UDP key of ${user} given twice`);
    }
    return builder.build();
  }

  get size(): number {
    return this.slots.size;
  }

  has(user: string): boolean {
    return this.slots.has(user);
  }

  /** The user's 32-byte key: a read-only view into a slab (see the file comment), or undefined. */
  get(user: string): Buffer | undefined {
    const slot = this.slots.get(user);
    if (slot === undefined) return undefined;
    const start = (slot & SLOT_MASK) * UDP_KEY_LENGTH;
    return this.slabs[slot >>> SLOT_BITS]?.subarray(start, start + UDP_KEY_LENGTH);
  }

  /** The users with a key: in the ACL's order (buildNamedSteps), else in the order added. */
  users(): IterableIterator<string> {
    return this.slots.keys();
  }

  /** The keys of the users `keep` accepts; shares the slabs (nothing writes them any more). */
  filter(keep: (user: string) => boolean): UdpKeys {
    let all = true;
    for (const user of this.slots.keys()) if (!keep(user)) all = false;
    if (all) return this;
    const slots = new Map<string, number>();
    for (const [user, slot] of this.slots) if (keep(user)) slots.set(user, slot);
    return new UdpKeys(slots, this.slabs);
  }
}

/** Collects the keys of one load; build() publishes them and ends the builder. */
export class UdpKeysBuilder {
  private slots = new Map<string, number>();
  private slabs: Buffer[] = [];
  private built = false;

  has(user: string): boolean {
    return this.slots.has(user);
  }

  /**
   * Adds the key given as 64 hex digits (the caller checked them); false, and nothing changed,
   * when the user already has one.
   */
  addHex(user: string, hex: string): boolean {
    if (this.built) throw new PsrtError(ErrorCode.Internal, 'UdpKeysBuilder: add after build');
    if (this.slots.has(user)) return false;
    const slot = this.slots.size;
    const index = slot >>> SLOT_BITS;
    // Zero-filled: a slab never shows another allocation's old bytes, whatever goes wrong.
    if (index === this.slabs.length) this.slabs.push(Buffer.alloc(SLAB_BYTES));
    const slab = this.slabs[index];
    if (slab === undefined) throw new PsrtError(ErrorCode.Internal, 'UdpKeysBuilder: slab missing');
    const written = slab.write(hex, (slot & SLOT_MASK) * UDP_KEY_LENGTH, UDP_KEY_LENGTH, 'hex');
    if (written !== UDP_KEY_LENGTH) throw new RangeError(`UDP key of ${user} is not ${UDP_KEY_LENGTH * 2} hex digits`);
    this.slots.set(user, slot);
    return true;
  }

  /** Forgets every key added so far (the file is read again from its start). */
  clear(): void {
    if (this.built) throw new PsrtError(ErrorCode.Internal, 'UdpKeysBuilder: clear after build');
    this.slots = new Map();
    this.slabs = [];
  }

  /**
   * build(), the map keyed by the strings of `names` (the ACL's users, in their order) rather
   * than the keys file's: no second string per user, and no keys file text kept alive (V8 makes
   * a string of 13 characters or more cut from a longer one a slice that holds the whole text,
   * so names read from a file of a million keys would keep its 80 MB). Every user added must
   * be among `names`. Yields every few thousand names (a reload runs it in slices). The price:
   * a second map built, about half a second per million keys, for 32 bytes per user or more.
   */
  *buildNamedSteps(names: Iterable<string>): Steps<UdpKeys> {
    if (this.built) throw new PsrtError(ErrorCode.Internal, 'UdpKeysBuilder: built twice');
    const named = new Map<string, number>();
    let looked = 0;
    for (const name of names) {
      const slot = this.slots.get(name);
      if (slot !== undefined) named.set(name, slot);
      if (++looked % NAMES_PER_STEP === 0) yield;
    }
    if (named.size !== this.slots.size) throw new PsrtError(ErrorCode.Internal, 'UdpKeysBuilder: a user with a key is not among the names');
    this.slots = named;
    return this.build();
  }

  /**
   * The keys, immutable from here on: the builder lets go of its slabs and takes no more keys.
   * The last slab is cut to the keys it holds (a site of a few users keeps a few hundred bytes).
   */
  build(): UdpKeys {
    if (this.built) throw new PsrtError(ErrorCode.Internal, 'UdpKeysBuilder: built twice');
    this.built = true;
    const { slots, slabs } = this;
    this.slots = new Map();
    this.slabs = [];
    const used = (slots.size & SLOT_MASK) * UDP_KEY_LENGTH;
    const last = slabs[slabs.length - 1];
    if (last !== undefined && used !== 0) {
      const cut = Buffer.alloc(used);
      last.copy(cut, 0, 0, used);
      slabs[slabs.length - 1] = cut;
    }
    return seal(slots, slabs);
  }
}
