/**
 * The last publish topic of one session that passed every check, keyed by its raw bytes.
 *
 * Publishers usually repeat a topic, so a publish whose topic bytes equal the cached ones can
 * skip the view allocation, UTF-8 validation and decoding, normalisation, depth, wildcard and
 * ACL checks: all of them depend only on those bytes and on the session's ACL snapshot, which
 * never changes (SERVER.md §6.3), so the outcome is the one cached. The decoded string is also
 * the same string object each time, whose hash V8 keeps, so topic-table lookups get cheaper.
 * Only accepted topics are cached: rejections keep their logging and errors on every publish.
 */

/** Longer topics are not cached: comparing them costs about as much as decoding. */
const MAX_CACHED_BYTES = 256;

export class PublishTopicCache {
  private bytes: Buffer | null = null;
  /** The topic as sent (decoded). */
  raw = '';
  /** The normalised topic. */
  topic = '';

  /** True when bytes[start, end) equals the cached topic bytes (then `raw`/`topic` apply). */
  matches(bytes: Buffer, start: number, end: number): boolean {
    const b = this.bytes;
    if (b?.length !== end - start) return false;
    for (let i = start; i < end; i++) if (bytes[i] !== b[i - start]) return false;
    return true;
  }

  /** Caches an accepted topic; the bytes are copied so the read buffer is not retained. */
  remember(bytes: Buffer, start: number, end: number, raw: string, topic: string): void {
    if (end - start > MAX_CACHED_BYTES) return;
    this.bytes = Buffer.from(bytes.subarray(start, end));
    this.raw = raw;
    this.topic = topic;
  }
}
