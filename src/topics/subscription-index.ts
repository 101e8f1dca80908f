/**
 * The delivery matcher (SERVER.md §9.2): a tree keyed by topic levels.
 *
 * Publish cost depends only on the nodes consistent with the published topic (one exact child
 * and one `+` child per level), never on how many unrelated subscriptions exist. Matching walks
 * level by level (breadth first): every node in the frontier sits at the same topic level, so
 * each level is sliced once and looked up in every frontier node's map with the same string
 * (whose hash V8 then caches). No recursion, so a very deep subscription cannot overflow the
 * JS call stack when `max_topic_depth` is configured high.
 */

/** Anything that can subscribe. `matchStamp` is scratch space owned by the index (dedupe). */
export interface Subscriber {
  matchStamp: number;
}

const SLASH = '/';
const DOLLAR = 0x24; // '$'

/**
 * `'psrt'` (default): SERVER.md §9.2, `a/#` does not match `a`, `$` is an ordinary character.
 * `'mqtt'` (MQTT §4.7): `a/#` also matches `a` (the parent rule), and root-level `+` / `#` do
 * not match topics whose first level starts with '$'. Masks are taken as given in both modes.
 */
export type MatchSemantics = 'psrt' | 'mqtt';

export interface SubscriptionIndexOptions {
  semantics?: MatchSemantics;
}

/**
 * Shared by every index so that a subscriber registered in two indexes is still deduplicated
 * correctly: a stamp value is never reused. 2^53 calls is out of reach in practice.
 */
let stampCounter = 0;

class TreeNode<S extends Subscriber> {
  /** Literal children by level name; created on first use, dropped when empty. */
  children: Map<string, TreeNode<S>> | undefined = undefined;
  /** The single `+` child. */
  any: TreeNode<S> | undefined = undefined;
  /** Subscribers whose mask ends at this node. */
  exact: Members<S> = undefined;
  /** Subscribers whose mask has `#` right after this node. */
  wild: Members<S> = undefined;

  constructor(
    readonly parent: TreeNode<S> | undefined,
    /** Level name under the parent; `undefined` for the parent's `+` child. */
    readonly key: string | undefined,
  ) {}

  isEmpty(): boolean {
    return (
      this.children === undefined &&
      this.any === undefined &&
      this.exact === undefined &&
      this.wild === undefined
    );
  }
}

/** Where a mask lands: the node and which of its two subscriber sets. */
interface Slot<S extends Subscriber> {
  node: TreeNode<S>;
  wildcard: boolean;
}

/**
 * The subscribers of one slot. Most slots hold a single subscriber, and a one-element Set costs
 * ~200 bytes and a slow allocation, so a lone subscriber is stored inline and only promoted to a
 * Set when a second one arrives. `undefined` means empty, so "defined" means "has someone".
 * (`instanceof Set` tells the two forms apart; a subscriber is never itself a Set.)
 */
type Members<S extends Subscriber> = S | Set<S> | undefined;

function addMember<S extends Subscriber>(members: Members<S>, s: S): Members<S> {
  if (members === undefined || members === s) return s;
  if (members instanceof Set) return members.add(s);
  return new Set([members, s]);
}

function removeMember<S extends Subscriber>(members: Members<S>, s: S): Members<S> {
  if (!(members instanceof Set)) return members === s ? undefined : members;
  members.delete(s);
  if (members.size > 1) return members;
  // Demote back to the inline form (or empty) so memory returns to baseline.
  for (const last of members) return last;
  return undefined;
}

function collect<S extends Subscriber>(members: S | Set<S>, out: S[], stamp: number): void {
  if (members instanceof Set) {
    for (const s of members) {
      if (s.matchStamp !== stamp) {
        s.matchStamp = stamp;
        out.push(s);
      }
    }
  } else if (members.matchStamp !== stamp) {
    members.matchStamp = stamp;
    out.push(members);
  }
}

export class SubscriptionIndex<S extends Subscriber> {
  private readonly root = new TreeNode<S>(undefined, undefined);
  /** MQTT mode; match/hasMatch branch on it once per call, never inside the walk. */
  private readonly mqtt: boolean;
  private nodes = 0;
  /**
   * Two frontier buffers for the level-by-level walk, reused so matching does not allocate.
   * Slots past the live size are stale; they can pin at most one frontier's width of pruned
   * (already empty) nodes, which is not worth a clearing pass on every publish.
   */
  private frontier: TreeNode<S>[] = [];
  private nextFrontier: TreeNode<S>[] = [];

  constructor(options: SubscriptionIndexOptions = {}) {
    this.mqtt = options.semantics === 'mqtt';
  }

  /** Nodes besides the root; 0 for an empty index (tests use it to check pruning). */
  get nodeCount(): number {
    return this.nodes;
  }

  /**
   * Registers `s` under an already normalised mask (PSRT) or a validated filter (MQTT).
   * Idempotent. One object may sit under several masks; `match` still reports it once.
   */
  subscribe(mask: string, s: S): void {
    const slot = this.findSlot(mask, true);
    if (slot === undefined) return; // unreachable: create=true always yields a slot
    const { node } = slot;
    if (slot.wildcard) node.wild = addMember(node.wild, s);
    else node.exact = addMember(node.exact, s);
  }

  /**
   * Removes `s` from the slot `mask` maps to. `a/#` and `a/#/b` share a slot (reference quirk):
   * unsubscribing either removes both. Nodes left empty are pruned up to the root.
   */
  unsubscribe(mask: string, s: S): void {
    const slot = this.findSlot(mask, false);
    if (slot === undefined) return;
    const { node } = slot;
    if (slot.wildcard) node.wild = removeMember(node.wild, s);
    else node.exact = removeMember(node.exact, s);
    this.prune(node);
  }

  /**
   * Appends every subscriber matching the normalised `topic` to `out`, each at most once, and
   * returns how many were added. The caller clears `out` beforehand.
   */
  match(topic: string, out: S[]): number {
    if (this.mqtt) return this.matchMqtt(topic, out);
    const stamp = ++stampCounter;
    const before = out.length;
    let count = this.start();
    let pos = 0; // char offset of the current level; -1 once past the last level
    while (count > 0 && pos >= 0) {
      for (let k = 0; k < count; k++) {
        const wild = this.frontier[k]?.wild;
        if (wild !== undefined) collect(wild, out, stamp);
      }
      const slash = topic.indexOf(SLASH, pos);
      count = this.advance(count, topic, pos, slash);
      pos = slash === -1 ? -1 : slash + 1;
    }
    // Past the last level: the surviving nodes are where exact masks of this length end.
    for (let k = 0; k < count; k++) {
      const exact = this.frontier[k]?.exact;
      if (exact !== undefined) collect(exact, out, stamp);
    }
    return out.length - before;
  }

  /**
   * True if any subscriber matches `topic`. PUBLISH_REPL stage 1 passes the topic as received
   * (not normalised); the same level walk applies to it as is.
   */
  hasMatch(topic: string): boolean {
    if (this.mqtt) return this.hasMatchMqtt(topic);
    let count = this.start();
    let pos = 0;
    while (count > 0 && pos >= 0) {
      for (let k = 0; k < count; k++) {
        if (this.frontier[k]?.wild !== undefined) return true;
      }
      const slash = topic.indexOf(SLASH, pos);
      count = this.advance(count, topic, pos, slash);
      pos = slash === -1 ? -1 : slash + 1;
    }
    for (let k = 0; k < count; k++) {
      if (this.frontier[k]?.exact !== undefined) return true;
    }
    return false;
  }

  /**
   * `match` for MQTT mode: the same walk, but it may start below the root (`$` topics), and past
   * the last level the surviving nodes' `#` slots match too (`sport/#` matches `sport`).
   */
  private matchMqtt(topic: string, out: S[]): number {
    const stamp = ++stampCounter;
    const before = out.length;
    let pos = 0;
    let count = this.startMqtt(topic);
    if (count > 0 && topic.charCodeAt(0) === DOLLAR) pos = this.afterFirstLevel(topic);
    while (count > 0 && pos >= 0) {
      for (let k = 0; k < count; k++) {
        const wild = this.frontier[k]?.wild;
        if (wild !== undefined) collect(wild, out, stamp);
      }
      const slash = topic.indexOf(SLASH, pos);
      count = this.advance(count, topic, pos, slash);
      pos = slash === -1 ? -1 : slash + 1;
    }
    for (let k = 0; k < count; k++) {
      const node = this.frontier[k];
      if (node?.exact !== undefined) collect(node.exact, out, stamp);
      if (node?.wild !== undefined) collect(node.wild, out, stamp);
    }
    return out.length - before;
  }

  private hasMatchMqtt(topic: string): boolean {
    let pos = 0;
    let count = this.startMqtt(topic);
    if (count > 0 && topic.charCodeAt(0) === DOLLAR) pos = this.afterFirstLevel(topic);
    while (count > 0 && pos >= 0) {
      for (let k = 0; k < count; k++) {
        if (this.frontier[k]?.wild !== undefined) return true;
      }
      const slash = topic.indexOf(SLASH, pos);
      count = this.advance(count, topic, pos, slash);
      pos = slash === -1 ? -1 : slash + 1;
    }
    for (let k = 0; k < count; k++) {
      const node = this.frontier[k];
      if (node?.exact !== undefined || node?.wild !== undefined) return true;
    }
    return false;
  }

  /**
   * MQTT frontier start. A topic whose first level starts with '$' must not reach the root's `#`
   * slot or its `+` child (§4.7.2), so its walk starts at the root's literal child for that level
   * (or matches nothing); every other topic starts at the root as in PSRT mode.
   */
  private startMqtt(topic: string): number {
    if (topic.charCodeAt(0) !== DOLLAR) return this.start();
    const slash = topic.indexOf(SLASH);
    const child = this.root.children?.get(slash === -1 ? topic : topic.slice(0, slash));
    if (child === undefined) return 0;
    this.frontier[0] = child;
    return 1;
  }

  /** Char offset of the second level, or -1 if `topic` has a single level. */
  private afterFirstLevel(topic: string): number {
    const slash = topic.indexOf(SLASH);
    return slash === -1 ? -1 : slash + 1;
  }

  private start(): number {
    this.frontier[0] = this.root;
    return 1;
  }

  /**
   * Replaces the frontier by the `+` children and the children named by the level at
   * [pos, slash) of every frontier node; returns the new frontier size.
   */
  private advance(count: number, topic: string, pos: number, slash: number): number {
    const current = this.frontier;
    const next = this.nextFrontier;
    let level: string | undefined; // sliced lazily: the one allocation we cannot avoid
    let n = 0;
    for (let k = 0; k < count; k++) {
      const node = current[k];
      if (node === undefined) break; // unreachable, keeps the types exact
      if (node.any !== undefined) next[n++] = node.any;
      if (node.children !== undefined) {
        level ??= slash === -1 ? topic.slice(pos) : topic.slice(pos, slash);
        const child = node.children.get(level);
        if (child !== undefined) next[n++] = child;
      }
    }
    this.frontier = next;
    this.nextFrontier = current;
    return n;
  }

  /**
   * Walks `mask` level by level. `#` ends the walk (everything after it is ignored). With
   * `create` false, returns undefined as soon as a node on the path is missing.
   */
  private findSlot(mask: string, create: boolean): Slot<S> | undefined {
    let node = this.root;
    let pos = 0;
    for (;;) {
      const slash = mask.indexOf(SLASH, pos);
      const level = slash === -1 ? mask.slice(pos) : mask.slice(pos, slash);
      if (level === '#') return { node, wildcard: true };
      const next = level === '+' ? this.anyChild(node, create) : this.namedChild(node, level, create);
      if (next === undefined) return undefined;
      node = next;
      if (slash === -1) return { node, wildcard: false };
      pos = slash + 1;
    }
  }

  private anyChild(node: TreeNode<S>, create: boolean): TreeNode<S> | undefined {
    if (node.any !== undefined || !create) return node.any;
    this.nodes++;
    return (node.any = new TreeNode(node, undefined));
  }

  private namedChild(node: TreeNode<S>, level: string, create: boolean): TreeNode<S> | undefined {
    const existing = node.children?.get(level);
    if (existing !== undefined || !create) return existing;
    const child = new TreeNode(node, level);
    (node.children ??= new Map()).set(level, child);
    this.nodes++;
    return child;
  }

  /** Detaches empty nodes from `node` upwards so memory returns to baseline. */
  private prune(start: TreeNode<S>): void {
    let node = start;
    while (node.parent !== undefined && node.isEmpty()) {
      const parent = node.parent;
      if (node.key === undefined) {
        parent.any = undefined;
      } else if (parent.children !== undefined) {
        parent.children.delete(node.key);
        if (parent.children.size === 0) parent.children = undefined;
      }
      this.nodes--;
      node = parent;
    }
  }
}
