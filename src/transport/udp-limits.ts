/**
 * Bounded bookkeeping that keeps the UDP listener cheap under abuse (issue 3, point 3):
 *
 * - BcryptBudget: token buckets per (sender, login) and per source IP for *uncached* password
 *   verifications, a global cap on such verifications in flight, and a set of recently
 *   verified credentials that bypass all of it (a verified sender is never throttled).
 * - OrderedLanes: per-sender FIFO so that a datagram waiting for bcrypt is not overtaken by the
 *   sender's later datagrams (the reference processes each socket sequentially).
 * - ThrottledLog: at most one line per second per kind, with the count of suppressed lines.
 *
 * Every map here has a hard size cap; nothing grows with the number of datagrams received.
 */
import { createHmac, randomBytes } from 'node:crypto';

export type Clock = () => number;

export interface BcryptBudgetOptions {
  /** Uncached verifications per second (and burst) for one (sender ip:port, login). */
  readonly perSenderRate: number;
  /** Uncached verifications per second (and burst) for one source IP, all ports and logins. */
  readonly perIpRate: number;
  /** Uncached verifications in flight over all sources (bounds the libuv threadpool queue). */
  readonly maxInFlight: number;
  /** Buckets kept per map; refilled (idle) buckets are swept first, then the least recent. */
  readonly maxSources: number;
  /** Verified credentials remembered as exempt (LRU). */
  readonly maxExempt: number;
  readonly now?: Clock;
}

/** What the budget decided for one plain datagram. */
export type BudgetTicket =
  /** Known-good credentials (key set) or no bcrypt possible (key null): go ahead. */
  | { readonly kind: 'free'; readonly key: string | null }
  /** Tokens were taken; call `settle` exactly once when the verification finished. */
  | { readonly kind: 'charged'; readonly ip: string; readonly sender: string; readonly key: string }
  /** Over budget: drop the datagram silently. */
  | { readonly kind: 'limited' };

const MAX_LOGIN_KEY = 64;
const NO_BCRYPT: BudgetTicket = { kind: 'free', key: null };
const LIMITED: BudgetTicket = { kind: 'limited' };

/**
 * Who pays for bcrypt. Only *uncached* verifications cost tokens, and a success refunds them,
 * so in the long run only failures drain a budget. Two levels: a sender hammering one login
 * (the usual brute-force or misconfigured client) exhausts its own (ip:port, login) bucket long
 * before its IP's, so other senders behind the same address keep being verified; a source
 * spreading over many ports or logins hits the per-IP bucket; a distributed flood hits the
 * global in-flight cap. Verified credentials skip all of it ("cached successes are served").
 */
export class BcryptBudget {
  private readonly senders: TokenBuckets;
  private readonly ips: TokenBuckets;
  /** HMAC(login, password) of credentials that verified; Map order is the LRU order. */
  private readonly exempt = new Map<string, true>();
  /** Keyed by a process-local secret: the set never holds anything brute-forceable. */
  private readonly secret = randomBytes(32);
  private inFlight = 0;

  constructor(private readonly opts: BcryptBudgetOptions) {
    const now = opts.now ?? (() => performance.now());
    this.senders = new TokenBuckets(opts.perSenderRate, opts.maxSources, now);
    this.ips = new TokenBuckets(opts.perIpRate, opts.maxSources, now);
  }

  get pending(): number {
    return this.inFlight;
  }

  get trackedSources(): number {
    return this.senders.size + this.ips.size;
  }

  /**
   * Decides before bcrypt starts. `needsBcrypt` is false when the check cannot run bcrypt at
   * all (anonymous, or no password-file entry for the login): such datagrams are always free.
   */
  admit(ip: string, senderAddress: string, login: string, password: string, needsBcrypt: boolean): BudgetTicket {
    if (!needsBcrypt) return NO_BCRYPT;
    const key = this.keyOf(login, password);
    if (this.exempt.has(key)) return { kind: 'free', key };
    if (this.inFlight >= this.opts.maxInFlight) return LIMITED;
    // Logins can be kilobytes long: cap the key (a shared bucket on collision is harmless).
    const sender = `${senderAddress}\0${login.slice(0, MAX_LOGIN_KEY)}`;
    if (!this.senders.has(sender) || !this.ips.has(ip)) return LIMITED;
    this.senders.take(sender);
    this.ips.take(ip);
    this.inFlight++;
    return { kind: 'charged', ip, sender, key };
  }

  /** Records the outcome of an admitted verification (only charged tickets hold resources). */
  settle(ticket: BudgetTicket, ok: boolean): void {
    if (ticket.kind === 'limited' || ticket.key === null) return;
    if (ticket.kind === 'charged') {
      this.inFlight--;
      if (ok) {
        this.senders.refund(ticket.sender);
        this.ips.refund(ticket.ip);
      }
    }
    if (ok) {
      this.exempt.delete(ticket.key);
      this.exempt.set(ticket.key, true);
      if (this.exempt.size > this.opts.maxExempt) deleteOldest(this.exempt);
    } else {
      this.exempt.delete(ticket.key); // password changed on reload: no more free passes
    }
  }

  private keyOf(login: string, password: string): string {
    return createHmac('sha256', this.secret)
      .update(`${login.length}:${login}`)
      .update(password)
      .digest('base64');
  }
}

interface Bucket {
  tokens: number;
  lastMs: number;
}

/** Token buckets (capacity = rate per second) in a Map capped at `maxEntries`. */
export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly rate: number,
    private readonly maxEntries: number,
    private readonly now: Clock,
  ) {}

  get size(): number {
    return this.buckets.size;
  }

  /** Is at least one token available for `key`? (Refills it; creates a full bucket if new.) */
  has(key: string): boolean {
    return this.bucketOf(key).tokens >= 1;
  }

  take(key: string): void {
    this.bucketOf(key).tokens -= 1;
  }

  refund(key: string): void {
    const bucket = this.buckets.get(key);
    if (bucket !== undefined) bucket.tokens = Math.min(this.rate, bucket.tokens + 1);
  }

  private bucketOf(key: string): Bucket {
    const now = this.now();
    let bucket = this.buckets.get(key);
    if (bucket === undefined) {
      if (this.buckets.size >= this.maxEntries) this.sweep(now);
      bucket = { tokens: this.rate, lastMs: now };
    } else {
      bucket.tokens = Math.min(this.rate, bucket.tokens + ((now - bucket.lastMs) / 1000) * this.rate);
      bucket.lastMs = now;
      this.buckets.delete(key); // re-inserted below: Map order = least recently used first
    }
    this.buckets.set(key, bucket);
    return bucket;
  }

  /** Forgets buckets that have refilled (they equal a fresh one), else the least recent. */
  private sweep(now: number): void {
    for (const [key, b] of this.buckets) {
      if (b.tokens + ((now - b.lastMs) / 1000) * this.rate >= this.rate) this.buckets.delete(key);
    }
    while (this.buckets.size >= this.maxEntries) deleteOldest(this.buckets);
  }
}

function deleteOldest<K, V>(map: Map<K, V>): void {
  const oldest = map.keys().next();
  if (oldest.done !== true) map.delete(oldest.value);
}

export type LaneJob = () => void | Promise<void>;

export interface OrderedLanesOptions {
  /** Jobs waiting behind one sender's unfinished job. */
  readonly maxPerLane: number;
  /** Jobs waiting over all lanes. */
  readonly maxQueued: number;
  /** Called with anything a job throws or rejects with (jobs should not, but never crash). */
  readonly onError: (e: unknown) => void;
}

/**
 * Runs jobs at once while a sender has nothing pending (the common, synchronous path); a job
 * that returns a promise opens a lane, and the sender's later jobs wait in it, in order.
 * A lane exists only while it has unfinished work, so the lane count is bounded by the number
 * of asynchronous jobs in flight.
 */
export class OrderedLanes {
  private readonly lanes = new Map<string, LaneJob[]>();
  private queued = 0;

  constructor(private readonly opts: OrderedLanesOptions) {}

  get waiting(): number {
    return this.queued;
  }

  get laneCount(): number {
    return this.lanes.size;
  }

  /** False when the job was refused because the queues are full (the caller counts a drop). */
  submit(sender: string, job: LaneJob): boolean {
    const lane = this.lanes.get(sender);
    if (lane !== undefined) {
      if (lane.length >= this.opts.maxPerLane || this.queued >= this.opts.maxQueued) return false;
      lane.push(job);
      this.queued++;
      return true;
    }
    this.run(sender, job);
    return true;
  }

  /** Drops every waiting job (shutdown). Jobs already running finish on their own. */
  clear(): void {
    for (const lane of this.lanes.values()) lane.length = 0;
    this.queued = 0;
  }

  private run(sender: string, job: LaneJob): void {
    let result: void | Promise<void>;
    try {
      result = job();
    } catch (e) {
      this.opts.onError(e);
      result = undefined;
    }
    if (result === undefined) {
      this.next(sender);
      return;
    }
    if (!this.lanes.has(sender)) this.lanes.set(sender, []);
    result.then(
      () => {
        this.next(sender);
      },
      (e: unknown) => {
        this.opts.onError(e);
        this.next(sender);
      },
    );
  }

  /** Starts the sender's next waiting job, or closes its lane. */
  private next(sender: string): void {
    const lane = this.lanes.get(sender);
    if (lane === undefined) return;
    const job = lane.shift();
    if (job === undefined) {
      this.lanes.delete(sender);
      return;
    }
    this.queued--;
    this.run(sender, job);
  }
}

/** Logs at most once per second per kind; the next line reports how many were suppressed. */
export class ThrottledLog {
  private readonly kinds = new Map<string, { lastMs: number; suppressed: number }>();
  private readonly now: Clock;

  constructor(
    private readonly write: (line: string) => void,
    now?: Clock,
  ) {
    this.now = now ?? (() => performance.now());
  }

  log(kind: string, line: string): void {
    const now = this.now();
    const state = this.kinds.get(kind);
    if (state !== undefined && now - state.lastMs < 1000) {
      state.suppressed++;
      return;
    }
    const extra = state !== undefined && state.suppressed > 0 ? ` (${state.suppressed} similar suppressed)` : '';
    this.kinds.set(kind, { lastMs: now, suppressed: 0 });
    this.write(line + extra);
  }

  /** Reports counts still pending (called periodically so a burst's tail is not lost). */
  flush(): void {
    const now = this.now();
    for (const [kind, state] of this.kinds) {
      if (state.suppressed > 0 && now - state.lastMs >= 1000) {
        this.write(`udp: ${state.suppressed} more "${kind}" errors suppressed`);
        state.suppressed = 0;
        state.lastMs = now;
      }
    }
  }
}
