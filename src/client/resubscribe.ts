/**
 * Re-subscription after a reconnect: every current subscription, in bulk requests.
 *
 * Each request stays within the largest SUBSCRIBE the server has taken from this client: a
 * server closes the connection on a frame over its `max_topic_length`, so one bulk request of
 * all the topics subscribed one by one would be refused on every attempt, for good.
 *
 * The server applies a bulk request's topics in order and stops at the first one it refuses
 * (PROTOCOL.md §5.4), so a refused topic (an ACL changed meanwhile) would silently cost every
 * topic after it: such a request is sent again topic by topic, and only the refused topics
 * stay missing.
 */
import { ErrorCode, isPsrtError } from '../protocol/errors.js';

/** Topics per bulk request at most. */
const CHUNK = 1000;

/** `maxBody`: body bytes of the largest SUBSCRIBE taken; a topic sent alone always fits it. */
export async function resubscribeAll(
  topics: readonly string[],
  maxBody: number,
  subscribe: (part: readonly string[]) => Promise<void>,
): Promise<void> {
  const chunks: Promise<void>[] = [];
  let part: string[] = [];
  let bytes = 0;
  for (const t of topics) {
    const size = Buffer.byteLength(t) + 1; // with its 00 terminator in a bulk request
    if (part.length > 0 && (part.length === CHUNK || bytes + size > maxBody)) {
      chunks.push(resubscribeChunk(part, subscribe));
      part = [];
      bytes = 0;
    }
    part.push(t);
    bytes += size;
  }
  if (part.length > 0) chunks.push(resubscribeChunk(part, subscribe));
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
