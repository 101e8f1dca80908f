/**
 * A map that holds its first entry in two fields and only creates a Map from the second one on.
 * Most MQTT sensors subscribe to one filter: a Map and its hash table cost ~250 bytes per
 * connection, these fields 16.
 */
export class SmallMap<K, V> {
  private oneKey: K | undefined = undefined;
  private oneValue: V | undefined = undefined;
  private hasOne = false;
  private many: Map<K, V> | null = null;

  get size(): number {
    return this.many !== null ? this.many.size : this.hasOne ? 1 : 0;
  }

  get(key: K): V | undefined {
    if (this.many !== null) return this.many.get(key);
    return this.hasOne && this.oneKey === key ? this.oneValue : undefined;
  }

  set(key: K, value: V): void {
    if (this.many !== null) {
      this.many.set(key, value);
    } else if (!this.hasOne || this.oneKey === key) {
      this.oneKey = key;
      this.oneValue = value;
      this.hasOne = true;
    } else {
      this.many = new Map<K, V>([[this.oneKey as K, this.oneValue as V], [key, value]]);
      this.clearOne();
    }
  }

  delete(key: K): boolean {
    if (this.many !== null) {
      const deleted = this.many.delete(key);
      if (this.many.size === 0) this.many = null;
      return deleted;
    }
    if (!this.hasOne || this.oneKey !== key) return false;
    this.clearOne();
    return true;
  }

  /** A snapshot of the keys (callers may delete while iterating it). */
  keys(): K[] {
    if (this.many !== null) return [...this.many.keys()];
    return this.hasOne ? [this.oneKey as K] : [];
  }

  clear(): void {
    this.many = null;
    this.clearOne();
  }

  private clearOne(): void {
    this.oneKey = undefined;
    this.oneValue = undefined;
    this.hasOne = false;
  }
}
