/**
 * Bounded bookkeeping that keeps the UDP listener cheap under abuse:
 *
 * - BcryptBudget: bcrypt CPU time budgets per (sender, login), per source IP and overall for
 *   *uncached* password verifications, a cap on those in flight, and a set of recently
 *   verified credentials that bypass all of it (a verified sender is never throttled).
 * - OrderedLanes: per-sender FIFO so that a datagram waiting for bcrypt is not overtaken by the
 *   sender's later datagrams (the reference processes each socket sequentially).
 * - ThrottledLog: at most one line per second per kind, with the count of suppressed lines.
 *
 * Every map here has a hard size cap; nothing grows with the number of datagrams received.
 */
import * as crypto from 'node:crypto';

export type Clock = () => number;

export interface BcryptBudgetOptions {
  /** bcrypt milliseconds per second (and burst) one (sender ip:port, login) may cause. */
  readonly perSenderMsPerS: number;
  /** bcrypt milliseconds per second (and burst) one source IP may cause, all ports and logins. */
  readonly perIpMsPerS: number;
  /** bcrypt milliseconds per second all UDP senders together may cause (a share of one core). */
  readonly globalMsPerS: number;
  /** Uncached verifications in flight (at most the libuv threadpool, so durations are real). */
  readonly maxInFlight: number;
  /** Buckets kept per map; refilled (idle) buckets are swept first, then the least recent. */
  readonly maxSources: number;
  /** Verified credentials remembered as exempt (LRU). */
  readonly maxExempt: number;
  readonly now?: Clock;
}

/** One admitted, uncached verification: what it was charged and when bcrypt started. */
export class Charge {
  startedMs = Number.NaN;
  constructor(
    readonly ip: string,
    readonly sender: string,
    readonly key: string,
    readonly estimateMs: number,
  ) {}
}

/** What the budget decided for one plain datagram. */
export type BudgetTicket =
  /** Known-good credentials (key set) or no bcrypt possible (key null): go ahead. */
  | { readonly kind: 'free'; readonly key: string | null }
  /** Budget taken: call `begin` when the check starts and `settle` once when it finished. */
  | { readonly kind: 'charged'; readonly charge: Charge }
  /** Over budget: drop the datagram silently. */
  | { readonly kind: 'limited' };

const MAX_LOGIN_KEY = 64;
/** First guess of one bcrypt's cost before any was measured (cost 5–6 on a current CPU). */
const INITIAL_ESTIMATE_MS = 5;
/** Faster results came from the verifier's caches and say nothing about bcrypt's cost. */
const MIN_SAMPLE_MS = 0.5;
const NO_BCRYPT: BudgetTicket = { kind: 'free', key: null };
const LIMITED: BudgetTicket = { kind: 'limited' };

/** One-shot SHA-256 (Node ≥ 20.12) is ~4× cheaper than an HMAC object; fall back if absent. */
const oneShotHash = (crypto as Partial<typeof crypto>).hash;

/**
 * Who pays for bcrypt, in CPU time rather than in attempts, so the protection is the same for
 * cost 5 and cost 12 hashes. Only *uncached* verifications cost anything; each is charged an
 * estimate (a running average of measured bcrypt times) up front and corrected when it ends.
 * A success refunds the sender's and the IP's buckets, so in the long run only failures drain
 * them; the global bucket is never refunded, because the CPU was spent either way.
 *
 * Levels: a sender hammering one login (brute force, misconfigured client) exhausts its own
 * (ip:port, login) bucket long before its IP's, so other senders behind the same address keep
 * being verified; a source spreading over ports or logins hits the per-IP bucket; a distributed
 * flood hits the global bucket and the in-flight cap. Verified credentials skip all of it.
 */
export class BcryptBudget {
  private readonly senders: TokenBuckets;
  private readonly ips: TokenBuckets;
  private readonly global: TokenBuckets;
  /** Digest of credentials that verified; Map order is the LRU order. */
  private readonly exempt = new Map<string, true>();
  /** Keys the digests: the set holds nothing brute-forceable without the process memory. */
  private readonly secret = crypto.randomBytes(32).toString('base64');
  private readonly now: Clock;
  private estimateMs = INITIAL_ESTIMATE_MS;
  private inFlight = 0;

  constructor(private readonly opts: BcryptBudgetOptions) {
    this.now = opts.now ?? (() => performance.now());
    this.senders = new TokenBuckets(opts.perSenderMsPerS, opts.maxSources, this.now);
    this.ips = new TokenBuckets(opts.perIpMsPerS, opts.maxSources, this.now);
    this.global = new TokenBuckets(opts.globalMsPerS, 1, this.now);
  }

  get pending(): number {
    return this.inFlight;
  }

  /** Current estimate of one bcrypt verification, ms. */
  get bcryptEstimateMs(): number {
    return this.estimateMs;
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
    if (!this.global.has(GLOBAL) || !this.ips.has(ip) || !this.senders.has(sender)) return LIMITED;
    const charge = new Charge(ip, sender, key, this.estimateMs);
    this.take(charge, charge.estimateMs, true);
    this.inFlight++;
    return { kind: 'charged', charge };
  }

  /** The verification of a charged ticket starts now (it may have waited in its lane). */
  begin(ticket: BudgetTicket): void {
    if (ticket.kind === 'charged') ticket.charge.startedMs = this.now();
  }

  /** The admitted check will not run (its queue was full): give the charge back. */
  cancel(ticket: BudgetTicket): void {
    if (ticket.kind !== 'charged') return;
    this.inFlight--;
    this.take(ticket.charge, -ticket.charge.estimateMs, true);
  }

  /** Records the outcome of an admitted verification (only charged tickets hold resources). */
  settle(ticket: BudgetTicket, ok: boolean): void {
    if (ticket.kind === 'limited' || (ticket.kind === 'free' && ticket.key === null)) return;
    const key = ticket.kind === 'charged' ? ticket.charge.key : ticket.key;
    if (ticket.kind === 'charged') this.settleCharge(ticket.charge, ok);
    if (key === null) return;
    this.exempt.delete(key);
    if (!ok) return; // a password changed on reload gets no more free passes
    this.exempt.set(key, true);
    if (this.exempt.size > this.opts.maxExempt) deleteOldest(this.exempt);
  }

  private settleCharge(charge: Charge, ok: boolean): void {
    this.inFlight--;
    const spent = Number.isNaN(charge.startedMs) ? 0 : Math.max(0, this.now() - charge.startedMs);
    if (spent >= MIN_SAMPLE_MS) this.estimateMs += (spent - this.estimateMs) * 0.2;
    this.take(charge, spent - charge.estimateMs, true); // correct the estimate (may give back)
    if (ok) this.take(charge, -spent, false); // a success costs the sender nothing
  }

  private take(charge: Charge, ms: number, global: boolean): void {
    this.senders.take(charge.sender, ms);
    this.ips.take(charge.ip, ms);
    if (global) this.global.take(GLOBAL, ms);
  }

  private keyOf(login: string, password: string): string {
    const text = `${this.secret}\0${login.length}:${login}${password}`;
    if (oneShotHash !== undefined) return oneShotHash('sha256', text, 'base64');
    return crypto.createHash('sha256').update(text).digest('base64');
  }
}

const GLOBAL = '';

interface Bucket {
  tokens: number;
  lastMs: number;
}

/**
 * Token buckets (capacity = one second's refill) in a Map capped at `maxEntries`. A bucket may
 * go into debt: admission needs a positive balance, and costs are only known afterwards.
 */
export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly ratePerS: number,
    private readonly maxEntries: number,
    private readonly now: Clock,
  ) {}

  get size(): number {
    return this.buckets.size;
  }

  /** Is the balance of `key` positive? (Refills it; creates a full bucket if new.) */
  has(key: string): boolean {
    return this.bucketOf(key).tokens > 0;
  }

  /** Takes `amount` (negative gives back, never above capacity). */
  take(key: string, amount: number): void {
    const bucket = this.bucketOf(key);
    bucket.tokens = Math.min(this.ratePerS, bucket.tokens - amount);
  }

  private bucketOf(key: string): Bucket {
    const now = this.now();
    let bucket = this.buckets.get(key);
    if (bucket === undefined) {
      if (this.buckets.size >= this.maxEntries) this.sweep(now);
      bucket = { tokens: this.ratePerS, lastMs: now };
    } else {
      bucket.tokens = Math.min(this.ratePerS, bucket.tokens + ((now - bucket.lastMs) / 1000) * this.ratePerS);
      bucket.lastMs = now;
      this.buckets.delete(key); // re-inserted below: Map order = least recently used first
    }
    this.buckets.set(key, bucket);
    return bucket;
  }

  /** Forgets buckets that have refilled (they equal a fresh one), else the least recent. */
  private sweep(now: number): void {
    for (const [key, b] of this.buckets) {
      if (b.tokens + ((now - b.lastMs) / 1000) * this.ratePerS >= this.ratePerS) this.buckets.delete(key);
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
