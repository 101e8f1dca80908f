/**
 * Fair scheduling of password verification (bcrypt) by source address, for every listener
 * that checks passwords: PSRT over TCP, TLS and UDP, the stats HTTP server, and MQTT.
 *
 * bcrypt is deliberately slow, so a flood of logins with wrong passwords turns into a queue of
 * bcrypt work, and a legitimate login waits behind all of it. Here every source address gets
 * at most `maxInFlightPerAddress` verifications running and `maxQueuedPerAddress` waiting;
 * free slots go round-robin over the addresses that wait. A flood from one address therefore
 * occupies one slot (by default) and delays another address's login by at most about one
 * bcrypt duration, however long the flood lasts; what it queues beyond its share is refused at
 * once (the login fails, as a wrong password would). A flood spread over many addresses is
 * served round-robin, so a new address waits for at most one verification per waiting address.
 *
 * Usage (the whole API):
 *
 *   const budget = new LoginBudget();
 *   const result = await budget.run(address, () => bcryptVerify(password, hash));
 *   if (result === LOGIN_REFUSED) ... // over this address's budget: treat as a failed login
 *
 * `address` is the peer's IP address (not ip:port: one host, one budget); any stable string
 * works (a unix socket path, `unix`).
 */

export interface LoginBudgetOptions {
  /** Verifications running at once over all addresses (the libuv threadpool has 4 threads). */
  readonly maxInFlight?: number;
  readonly maxInFlightPerAddress?: number;
  /** Verifications waiting per address; more are refused at once. */
  readonly maxQueuedPerAddress?: number;
  /** Verifications waiting overall; more are refused at once. */
  readonly maxQueued?: number;
}

export const LOGIN_REFUSED: unique symbol = Symbol('login refused');

interface Job {
  run(): void;
}

class AddressState {
  running = 0;
  readonly waiting: Job[] = [];
}

export const DEFAULT_LOGIN_BUDGET: Required<LoginBudgetOptions> = {
  maxInFlight: 3,
  maxInFlightPerAddress: 1,
  maxQueuedPerAddress: 8,
  maxQueued: 4096,
};

export class LoginBudget {
  private readonly opts: Required<LoginBudgetOptions>;
  private readonly addresses = new Map<string, AddressState>();
  /** Addresses with waiting jobs, in round-robin order (each at most once). */
  private ready: string[] = [];
  private running = 0;
  private queued = 0;
  /** Verifications refused because an address (or everyone) was over budget. */
  refused = 0;

  constructor(opts: LoginBudgetOptions = {}) {
    this.opts = { ...DEFAULT_LOGIN_BUDGET, ...opts };
  }

  /** Runs `task` when `address` may; LOGIN_REFUSED when its budget is exhausted. */
  run<T>(address: string, task: () => Promise<T>): Promise<T | typeof LOGIN_REFUSED> {
    let state = this.addresses.get(address);
    if (state === undefined) {
      state = new AddressState();
      this.addresses.set(address, state);
    }
    if (state.waiting.length >= this.opts.maxQueuedPerAddress || this.queued >= this.opts.maxQueued) {
      this.refused++;
      this.forgetIfIdle(address, state);
      return Promise.resolve(LOGIN_REFUSED);
    }
    const own = state;
    return new Promise<T | typeof LOGIN_REFUSED>((resolve, reject) => {
      const job: Job = {
        run: () => {
          own.running++;
          this.running++;
          task()
            .then(resolve, reject)
            .finally(() => {
              own.running--;
              this.running--;
              this.forgetIfIdle(address, own);
              this.dispatch();
            });
        },
      };
      own.waiting.push(job);
      this.queued++;
      if (own.waiting.length === 1) this.ready.push(address);
      this.dispatch();
    });
  }

  /** Verifications running and waiting (diagnostics, tests). */
  get load(): { running: number; queued: number; addresses: number } {
    return { running: this.running, queued: this.queued, addresses: this.addresses.size };
  }

  /** Starts waiting jobs while slots are free, one per address per round. */
  private dispatch(): void {
    let skipped = 0;
    while (this.running < this.opts.maxInFlight && this.ready.length > skipped) {
      const address = this.ready.shift() ?? '';
      const state = this.addresses.get(address);
      if (state === undefined || state.waiting.length === 0) continue;
      if (state.running >= this.opts.maxInFlightPerAddress) {
        this.ready.push(address); // its turn comes when one of its own finishes
        skipped++;
        continue;
      }
      const job = state.waiting.shift();
      this.queued--;
      if (state.waiting.length > 0) this.ready.push(address);
      job?.run();
    }
  }

  private forgetIfIdle(address: string, state: AddressState): void {
    if (state.running === 0 && state.waiting.length === 0) this.addresses.delete(address);
  }
}
