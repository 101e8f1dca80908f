/**
 * A SIGHUP handler for psrtd's start-up, installed when this module is evaluated: psrtd.ts
 * imports it first, before the modules that take most of the start-up time. Until the server is
 * up a SIGHUP is only remembered. Without a handler Node's default action ends the process, and
 * `systemctl reload` right after `systemctl start` (Type=simple units count as started at once)
 * would then stop psrtd for good: systemd counts SIGHUP as a clean exit, so
 * Restart=on-failure does not restart it.
 */
let pending = false;

const remember = (): void => {
  pending = true;
};

process.on('SIGHUP', remember);

/** Removes the start-up handler (install the real one first); true when a SIGHUP came meanwhile. */
export function takeEarlyHangup(): boolean {
  process.off('SIGHUP', remember);
  return pending;
}
