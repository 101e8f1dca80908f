/**
 * Mask sets of a bridge. `in` masks become subscriptions on the upstream; a mask covered by
 * another (`a/b` under `a/#`) would make the upstream deliver the message twice, so only the
 * independent ones are subscribed. `out` masks are matched with the delivery matcher, so a
 * publish costs one walk of a small index (and only for topics not seen before: see routes.ts).
 */
import { AclMask, SubscriptionIndex, type Subscriber } from '../topics/index.js';

/** Masks none of the others covers (the first of two equal ones is kept). */
export function independentMasks(masks: readonly string[]): string[] {
  const unique = [...new Set(masks)];
  return unique.filter((m, i) =>
    !unique.some((other, j) => j !== i && AclMask.parse(other).coversSubscription(m) && !(AclMask.parse(m).coversSubscription(other) && j > i)),
  );
}

const MARK: Subscriber = { matchStamp: 0 };

/** A set of PSRT masks with a cheap "does any match this topic" test. */
export class MaskSet {
  private readonly index = new SubscriptionIndex<Subscriber>();
  readonly empty: boolean;

  constructor(masks: readonly string[], prefix = '') {
    for (const m of masks) this.index.subscribe(prefix + m, MARK);
    this.empty = masks.length === 0;
  }

  matches(topic: string): boolean {
    return !this.empty && this.index.hasMatch(topic);
  }
}
