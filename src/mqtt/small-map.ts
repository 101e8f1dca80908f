/**
 * Entries by their own key, the first held in one field and a Map made from the second one on.
 * Most MQTT sensors subscribe to one filter: a Map and its hash table cost ~250 bytes per
 * connection, and even a small wrapper object ~60. So this is a base class: an MQTT session
 * extends it and holds its subscriptions in one field of its own.
 */
export class SmallMap<V extends { readonly key: string }> {
  private small: V | Map<string, V> | null = null;

  get size(): number {
    const s = this.small;
    return s === null ? 0 : s instanceof Map ? s.size : 1;
  }

  get(key: string): V | undefined {
    const s = this.small;
    if (s === null) return undefined;
    if (s instanceof Map) return s.get(key);
    return s.key === key ? s : undefined;
  }

  /** Adds `entry`, or replaces the one with its key. */
  set(entry: V): void {
    const s = this.small;
    if (s === null || (!(s instanceof Map) && s.key === entry.key)) this.small = entry;
    else if (s instanceof Map) s.set(entry.key, entry);
    else this.small = new Map<string, V>([[s.key, s], [entry.key, entry]]);
  }

  delete(key: string): boolean {
    const s = this.small;
    if (s === null) return false;
    if (!(s instanceof Map)) {
      if (s.key !== key) return false;
      this.small = null;
      return true;
    }
    const deleted = s.delete(key);
    if (s.size === 0) this.small = null;
    return deleted;
  }

  /** A snapshot of the keys (callers may delete while iterating it). */
  keys(): string[] {
    const s = this.small;
    if (s === null) return [];
    return s instanceof Map ? [...s.keys()] : [s.key];
  }

  clear(): void {
    this.small = null;
  }
}
