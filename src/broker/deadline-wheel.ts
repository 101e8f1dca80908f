/**
 * One shared timer for the deadlines of every connection (greeting, login, request deadlines,
 * keep-alive pings): a hashed timing wheel.
 *
 * A node Timeout per connection costs ~300 bytes (the Timeout, its closure and context, two
 * boxed numbers) and the timer list work on every refresh; with a million idle sensors those
 * are hundreds of MB and most of the idle CPU. Here a deadline is one small object linked into
 * a slot of the wheel, re-arming is O(1) pointer work, and a single timer ticks every
 * `resolutionMs` while anything is armed (none otherwise). Deadlines fire up to one resolution
 * late, never early; every use here is measured in seconds.
 */

/** What a deadline calls when it expires. */
export interface Expiring {
  onExpired(): void;
}

const UNARMED = -1;
/** In the list of deadlines expiring in the current tick. */
const FIRING = -2;

/**
 * Callbacks run per event-loop turn before the rest of the firing list waits for the next
 * turn (setImmediate, after that turn's I/O). Deadlines bunch up: sessions that connected
 * together (a reconnect storm) have their keep-alive pings due in the same few ticks, and
 * with ~10,000 sessions one tick wrote a hundred pings in one go, holding every other
 * client's messages for 3-11 ms. A slice of this length keeps such a sweep from showing in
 * anybody's latency while costing one extra loop turn per slice.
 */
const FIRE_SLICE_MS = 0.5;
/** Callbacks between two clock reads while firing (a clock read costs ~50-100 ns). */
const FIRE_CLOCK_EVERY = 8;

/**
 * What the wheel links: a Deadline, or an object that extends this to be its own deadline
 * (intrusive links: four fields instead of a Deadline object and a pointer to it, for the
 * objects there is one of per connection).
 */
export abstract class WheelNode implements Expiring {
  /**
   * The tick (performance.now() / resolution, rounded up) at which it expires: a small integer
   * for years of uptime, where a time in ms would be a boxed number per deadline.
   */
  due = 0;
  slot = UNARMED;
  next: WheelNode | null = null;
  prev: WheelNode | null = null;

  abstract onExpired(): void;
}

export class Deadline extends WheelNode {
  constructor(
    private readonly wheel: DeadlineWheel,
    readonly target: Expiring,
  ) {
    super();
  }

  get armed(): boolean {
    return this.slot !== UNARMED;
  }

  onExpired(): void {
    this.target.onExpired();
  }

  /** (Re-)arms it to expire `delayMs` from now. */
  arm(delayMs: number): void {
    this.wheel.arm(this, delayMs);
  }

  disarm(): void {
    this.wheel.disarm(this);
  }
}

export class DeadlineWheel {
  private readonly slots: (WheelNode | null)[];
  /**
   * Due deadlines, fired from the head: those found due in later sweeps go after those still
   * waiting (within one slot the order is the slot's, newest armed first).
   */
  private firing: WheelNode | null = null;
  private firingTail: WheelNode | null = null;
  private timer: NodeJS.Timeout | null = null;
  /** The next slice of a firing list that did not fit one turn (FIRE_SLICE_MS). */
  private continuation: NodeJS.Immediate | null = null;
  private readonly fireRest = (): void => {
    this.continuation = null;
    this.fire();
  };
  private armedCount = 0;
  /** The next tick (absolute: time / resolution) whose slot has not been swept. */
  private nextTick = 0;

  constructor(
    readonly resolutionMs = 50,
    slotCount = 512,
  ) {
    this.slots = new Array<WheelNode | null>(slotCount).fill(null);
  }

  get armed(): number {
    return this.armedCount;
  }

  /** A deadline owned by `target`, not armed yet. */
  deadline(target: Expiring): Deadline {
    return new Deadline(this, target);
  }

  /** (Re-)arms `d` to expire `delayMs` from now. */
  arm(d: WheelNode, delayMs: number): void {
    if (d.slot !== UNARMED) this.unlink(d);
    else this.armedCount++;
    const now = performance.now();
    d.due = Math.ceil((now + delayMs) / this.resolutionMs);
    // Never into a slot already swept: it would wait for the next round of the wheel.
    const tick = Math.max(d.due, this.timer === null ? 0 : this.nextTick);
    this.link(d, tick % this.slots.length);
    if (this.timer === null) this.start(now);
  }

  /** Unarms `d` (nothing when it is not armed). */
  disarm(d: WheelNode): void {
    if (d.slot === UNARMED) return;
    this.unlink(d);
    d.slot = UNARMED;
    this.armedCount--;
    if (this.armedCount === 0) this.stop();
  }

  /** Stops the timer; armed deadlines stay armed (they fire once something is armed again). */
  stop(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.continuation !== null) {
      clearImmediate(this.continuation);
      this.continuation = null;
    }
  }

  private start(now: number): void {
    // Deadlines left armed by stop() keep their place: the sweep catches up on missed slots.
    if (this.armedCount <= 1) this.nextTick = Math.floor(now / this.resolutionMs);
    this.schedule();
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      this.timer = null;
      this.sweep();
    }, this.resolutionMs);
    this.timer.unref();
  }

  /** Expires every due deadline of the slots passed since the last sweep. */
  private sweep(): void {
    const now = performance.now();
    const lastTick = Math.floor(now / this.resolutionMs);
    // After a long stall, one round of the wheel covers every slot.
    const first = Math.max(this.nextTick, lastTick - this.slots.length + 1);
    for (let tick = first; tick <= lastTick; tick++) this.collect(tick % this.slots.length, lastTick);
    this.nextTick = lastTick + 1;
    this.fire();
    if (this.armedCount > 0 && this.timer === null) this.schedule();
  }

  /** Moves the due deadlines of one slot to the firing list (later rounds stay). */
  private collect(slot: number, nowTick: number): void {
    let d = this.slots[slot] ?? null;
    while (d !== null) {
      const next: WheelNode | null = d.next;
      // due ≤ nowTick: due × resolution ≥ the asked time, and ≤ now (never early).
      if (d.due <= nowTick) {
        this.unlink(d);
        this.link(d, FIRING);
      }
      d = next;
    }
  }

  /**
   * Callbacks may arm or disarm any deadline, including others in the firing list. Stops after
   * FIRE_SLICE_MS and goes on in the next turn; a deadline re-armed or disarmed meanwhile
   * (its client spoke) leaves the list and does not fire.
   */
  private fire(): void {
    const started = performance.now();
    let count = 0;
    let d = this.firing;
    while (d !== null) {
      if (++count % FIRE_CLOCK_EVERY === 0 && performance.now() - started > FIRE_SLICE_MS) {
        this.continueNextTurn();
        return;
      }
      this.unlink(d);
      d.slot = UNARMED;
      this.armedCount--;
      d.onExpired();
      d = this.firing;
    }
    if (this.armedCount === 0) this.stop();
  }

  private continueNextTurn(): void {
    if (this.continuation !== null) return;
    // Not unref'd (unlike the tick timer): with only unref'd immediates pending, the loop
    // blocks for I/O or the next tick, and on a quiet server every slice would wait a tick.
    this.continuation = setImmediate(this.fireRest);
  }

  private link(d: WheelNode, slot: number): void {
    d.slot = slot;
    if (slot === FIRING) {
      // Appended: deadlines found due later fire after those still waiting from a slice before.
      d.next = null;
      d.prev = this.firingTail;
      if (this.firingTail !== null) this.firingTail.next = d;
      else this.firing = d;
      this.firingTail = d;
      return;
    }
    const head = this.slots[slot] ?? null;
    d.prev = null;
    d.next = head;
    if (head !== null) head.prev = d;
    this.slots[slot] = d;
  }

  private unlink(d: WheelNode): void {
    const { prev, next } = d;
    if (prev !== null) prev.next = next;
    else if (d.slot === FIRING) this.firing = next;
    else if (d.slot >= 0) this.slots[d.slot] = next;
    if (next !== null) next.prev = prev;
    else if (d.slot === FIRING) this.firingTail = prev;
    d.prev = null;
    d.next = null;
  }
}
