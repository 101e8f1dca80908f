/**
 * A set of strings that holds its first member in a field and makes a Set from the second one
 * on. Nearly every PSRT session (a sensor) subscribes to one mask or none: a Set and its hash
 * table cost ~200 bytes per session, this object ~32.
 */
export class SmallSet implements Iterable<string> {
  private small: string | Set<string> | null = null;

  get size(): number {
    const s = this.small;
    return s === null ? 0 : typeof s === 'string' ? 1 : s.size;
  }

  has(value: string): boolean {
    const s = this.small;
    if (s === null) return false;
    return typeof s === 'string' ? s === value : s.has(value);
  }

  add(value: string): void {
    const s = this.small;
    if (s === null) this.small = value;
    else if (typeof s !== 'string') s.add(value);
    else if (s !== value) this.small = new Set([s, value]);
  }

  delete(value: string): boolean {
    const s = this.small;
    if (s === null) return false;
    if (typeof s === 'string') {
      if (s !== value) return false;
      this.small = null;
      return true;
    }
    const deleted = s.delete(value);
    if (s.size === 0) this.small = null;
    return deleted;
  }

  clear(): void {
    this.small = null;
  }

  /** The members; a Set's are iterated live (as Set.keys() is). */
  keys(): Iterable<string> {
    const s = this.small;
    if (s === null) return [];
    return typeof s === 'string' ? [s] : s.keys();
  }

  [Symbol.iterator](): Iterator<string> {
    return this.keys()[Symbol.iterator]();
  }
}
