/**
 * Re-subscription after a reconnect: every current subscription, in bulk requests of bounded
 * size. The server applies a bulk request's topics in order and stops at the first one it
 * refuses (PROTOCOL.md §5.4), so a refused topic (an ACL changed meanwhile) would silently cost
 * every topic after it: such a request is sent again topic by topic, and only the refused
 * topics stay missing.
 */
import { ErrorCode, isPsrtError } from '../protocol/errors.js';

/** Topics per bulk request. */
const CHUNK = 1000;

export async function resubscribeAll(
  topics: readonly string[],
  subscribe: (part: readonly string[]) => Promise<void>,
): Promise<void> {
  const chunks: Promise<void>[] = [];
  for (let i = 0; i < topics.length; i += CHUNK) chunks.push(resubscribeChunk(topics.slice(i, i + CHUNK), subscribe));
  await Promise.all(chunks);
}

async function resubscribeChunk(
  topics: readonly string[],
  subscribe: (part: readonly string[]) => Promise<void>,
): Promise<void> {
  try {
    await subscribe(topics);
  } catch (err) {
    if (topics.length === 1 || !isRefusal(err)) throw err;
    const results = await Promise.allSettled(topics.map((t) => subscribe([t])));
    const errors = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []));
    // A lost connection matters more than a refused topic: the reconnector retries on it.
    const worst = errors.find((e) => !isRefusal(e)) ?? errors[0];
    if (worst !== undefined) throw worst;
  }
}

/** `FE`/`FF`: the server refused a topic; the connection is fine. */
export function isRefusal(err: unknown): boolean {
  return isPsrtError(err) && (err.code === ErrorCode.AccessDenied || err.code === ErrorCode.ServerError);
}
