/**
 * MQTT topic names and filters (OASIS MQTT 3.1.1 §4.7, MQTT 5.0 §4.7, §4.8.2).
 *
 * Unlike PSRT masks, MQTT strings are byte-exact: nothing is normalised, empty levels are real
 * levels and a leading '/' makes an empty first level. The matcher here is a deliberately naive
 * split-based one: it is the oracle for the tree index in MQTT mode and is good enough for
 * retained-message matching, which runs once per SUBSCRIBE rather than once per PUBLISH.
 */

/** The UTF-8 encoded string length limit of the MQTT wire format (two-byte length prefix). */
export const MQTT_MAX_TOPIC_BYTES = 65535;

const SHARE_PREFIX = '$share/';

/**
 * Result of parsing a `$share/{ShareName}/{filter}` subscription.
 *
 * Chosen shape: `parseSharedSubscription` returns `null` for a filter that is not a shared one
 * (it does not start with `$share/`), so the caller falls through to the ordinary path; a filter
 * that does start with `$share/` always yields this union, `ok: false` when it is malformed
 * (the caller then answers with "Topic Filter invalid"). Nothing throws.
 */
export type SharedSubscription = { ok: true; group: string; filter: string } | { ok: false };

/**
 * UTF-8 length of `s`, or -1 if `s` holds a lone surrogate (not encodable as well-formed UTF-8;
 * MQTT forbids the code points U+D800..U+DFFF). Stops counting once past the limit.
 */
function utf8Length(s: string): number {
  let bytes = 0;
  for (let i = 0; i < s.length && bytes <= MQTT_MAX_TOPIC_BYTES; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c < 0xd800 || c > 0xdfff) bytes += 3;
    else if (c <= 0xdbff && isLowSurrogate(s.charCodeAt(i + 1))) {
      bytes += 4;
      i++;
    } else return -1;
  }
  return bytes;
}

function isLowSurrogate(c: number): boolean {
  return c >= 0xdc00 && c <= 0xdfff;
}

/** Checks shared by names and filters: non-empty, no U+0000, well-formed, within the limit. */
function isEncodable(s: string): boolean {
  if (s.length === 0 || s.includes('\u0000')) return false;
  const bytes = utf8Length(s);
  return bytes >= 0 && bytes <= MQTT_MAX_TOPIC_BYTES;
}

/**
 * A topic of the broker's own statistics tree (`$SYS/...`), which only psrtd itself may publish:
 * Mosquitto's rule, every topic whose first four characters are `$SYS` (a client's publish to
 * one is an ACL denial there too). One character comparison for every other topic.
 */
export function isSystemTopic(topic: string): boolean {
  return topic.charCodeAt(0) === 0x24 && topic.startsWith('$SYS');
}

/** A PUBLISH topic name: no wildcard characters at all (MQTT §4.7.3). */
export function isValidMqttTopicName(name: string): boolean {
  return isEncodable(name) && !name.includes('+') && !name.includes('#');
}

/**
 * A SUBSCRIBE topic filter: `#` only as the whole last level, `+` only as a whole level.
 * `$share/...` filters pass as ordinary filters here; call `parseSharedSubscription` first.
 */
export function isValidMqttTopicFilter(filter: string): boolean {
  if (!isEncodable(filter)) return false;
  const levels = filter.split('/');
  const last = levels.length - 1;
  for (let i = 0; i <= last; i++) {
    const level = levels[i] ?? '';
    if (level === '+') continue;
    if (level === '#') {
      if (i !== last) return false;
      continue;
    }
    if (level.includes('+') || level.includes('#')) return false;
  }
  return true;
}

/**
 * Splits `$share/{ShareName}/{filter}` (MQTT 5.0 §4.8.2). Returns `null` if `filter` is not a
 * shared subscription, `{ ok: false }` if it starts with `$share/` but the ShareName is empty or
 * holds '/', '+' or '#' (the first '/' after it ends it) or the inner filter is invalid.
 */
export function parseSharedSubscription(filter: string): SharedSubscription | null {
  if (!filter.startsWith(SHARE_PREFIX)) return null;
  const slash = filter.indexOf('/', SHARE_PREFIX.length);
  if (slash === -1) return { ok: false };
  const group = filter.slice(SHARE_PREFIX.length, slash);
  const inner = filter.slice(slash + 1);
  if (group.length === 0 || group.includes('+') || group.includes('#')) return { ok: false };
  // The whole string is what travels on the wire, so its length limit applies too.
  if (!isEncodable(filter) || !isValidMqttTopicFilter(inner)) return { ok: false };
  return { ok: true, group, filter: inner };
}

/** True if `filter` matches `topic`, both taken byte-exact (the caller validated them). */
export function mqttTopicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  // §4.7.2: a filter starting with a wildcard never matches a topic name starting with '$'.
  if (topic.startsWith('$') && (f[0] === '+' || f[0] === '#')) return false;
  for (let i = 0; i < f.length; i++) {
    const level = f[i];
    // `#` also matches the parent level: `sport/#` matches `sport` (t.length === i).
    if (level === '#') return t.length >= i;
    if (i >= t.length) return false;
    if (level !== '+' && level !== t[i]) return false;
  }
  return f.length === t.length;
}
