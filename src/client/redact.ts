/**
 * Keeps secrets out of logs: `console.log(client)`, `util.inspect(client)` and
 * `JSON.stringify(client)` show the address, user and state, never the password or key.
 */
import type { InspectOptions } from 'node:util';

export const REDACTED = '[redacted]';

type Inspect = (value: unknown, options?: InspectOptions) => string;

/** `Name { …fields }` rendered with the caller's inspect options (colours, depth). */
export function inspectSummary(name: string, fields: Record<string, unknown>, options: InspectOptions, inspect: Inspect): string {
  return `${name} ${inspect(fields, options)}`;
}

/**
 * Hides `password` on an options object: still readable by the code that needs it, but not
 * enumerable, so neither util.inspect nor JSON.stringify (nor a spread into a log line) shows it.
 */
export function hidePassword<T extends { readonly password: string }>(o: T): T {
  Object.defineProperty(o, 'password', { enumerable: false });
  return o;
}
