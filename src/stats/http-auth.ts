/**
 * Who may read stats (SERVER.md §13.1 step 2–3, §13.2): the `Authorization` header parsed with
 * the reference's 400 texts, then admin-only access.
 */
import { decodeBase64Reference, decodeUtf8Reference } from './reference-decode.js';

export const ANONYMOUS_USER = '_';

/** The subset of AuthStore the stats server needs. */
export interface StatsAuth {
  /** bcrypt check against the password file (async and cached: never blocks the event loop). */
  /** `source`: the client's address (per-address login budget). */
  verifyPassword(login: string, password: string, source?: string): Promise<boolean>;
  aclFor(user: string): { readonly admin: boolean } | undefined;
}

export type Credentials =
  | { readonly kind: 'none' }
  | { readonly kind: 'basic'; readonly login: string; readonly password: string }
  | { readonly kind: 'bad'; readonly message: string };

const NONE: Credentials = { kind: 'none' };

/** http::HeaderValue::to_str(): visible ASCII and tab only (Node hands us latin1 chars). */
function isVisibleAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 0x20 && c < 0x7f) || c === 0x09)) return false;
  }
  return true;
}

/**
 * Parses the header in the reference's order. Schemes other than Basic count as "no
 * credentials" (so `Bearer x` falls through to the anonymous rule).
 */
export function parseAuthorization(header: string | undefined): Credentials {
  if (header === undefined) return NONE;
  if (!isVisibleAscii(header)) return { kind: 'bad', message: 'Unable to decode authorization header' };
  const space = header.indexOf(' ');
  if (space < 0) return { kind: 'bad', message: 'Invalid authorization header' };
  if (header.slice(0, space).toLowerCase() !== 'basic') return NONE;
  const decoded = decodeBase64Reference(header.slice(space + 1));
  if (!decoded.ok) return { kind: 'bad', message: `Unable to decode credentials: ${decoded.error}` };
  const text = decodeUtf8Reference(decoded.value);
  if (!text.ok) return { kind: 'bad', message: `Unable to parse credentials string: ${text.error}` };
  const colon = text.value.indexOf(':');
  if (colon < 0) return { kind: 'bad', message: 'Basic authorization error: password not specified' };
  return { kind: 'basic', login: text.value.slice(0, colon), password: text.value.slice(colon + 1) };
}

/**
 * Credentials: the password must verify and the user must be an admin (no fallback to
 * anonymous when they are wrong). No credentials: only when `_` is an admin.
 */
export async function isAuthorized(auth: StatsAuth, creds: Credentials & { kind: 'none' | 'basic' }, source?: string): Promise<boolean> {
  if (creds.kind === 'none') return auth.aclFor(ANONYMOUS_USER)?.admin === true;
  // Password first, like a TCP login: answering faster for non-admins would tell an
  // unauthenticated client which user names are admins.
  if (!(await auth.verifyPassword(creds.login, creds.password, source))) return false;
  // Read after the await: a SIGHUP reload during bcrypt may have removed the right.
  return auth.aclFor(creds.login)?.admin === true;
}
