/**
 * Timers longer than setTimeout allows: an MQTT 5 will delay or session expiry may be up to
 * 2^32 - 1 seconds, about 136 years, while setTimeout fires a delay past ~24.8 days at once.
 */

/** setTimeout's limit: a longer delay fires after 1 ms (with a TimeoutOverflowWarning). */
const MAX_TIMER_MS = 0x7fffffff;

/**
 * `fn` after `ms`, through as many timers as setTimeout's limit needs (a will delay or session
 * expiry may be up to 2^32 - 1 seconds); `store` gets the pending timer, so it can be cleared.
 */
export function longTimer(ms: number, fn: () => void, store: (t: NodeJS.Timeout | null) => void): void {
  const t = setTimeout(() => {
    store(null);
    if (ms > MAX_TIMER_MS) longTimer(ms - MAX_TIMER_MS, fn, store);
    else fn();
  }, Math.min(ms, MAX_TIMER_MS));
  t.unref();
  store(t);
}
