/**
 * MQTT/PSRT topics ↔ NATS subjects, with the rules nats-server documents for its own MQTT
 * support, so that a NATS-native consumer, nats-server's MQTT clients and psrtd see the same
 * names:
 *
 *   `/` between two non-empty levels → `.`            `a/b`   ↔ `a.b`
 *   `/` first (an empty first level) → `/.`           `/a`    ↔ `/.a`
 *   `/` last, or before another `/`   → `./`          `a/`    ↔ `a./`,  `a//b` ↔ `a./.b`
 *   `/` right after an empty level    → `/.`          `//a`   ↔ `/./.a`
 *   `.` inside a level                → `//`          `a.b`   ↔ `a//b`
 *   `+` / `#` (masks only)            → `*` / `>`
 *
 * Whitespace and DEL cannot appear in a NATS subject: such topics are unmappable, as they are
 * for nats-server. We also refuse a level that is exactly `*` or `>` (it would publish to a
 * wildcard subject) and the empty topic. nats-server releases before 2.10 refuse `.` in MQTT
 * topics altogether; the `//` escape is what later releases do, and it never changes a topic
 * without a dot.
 */

const SLASH = 0x2f;
const DOT = 0x2e;

/** Characters nats-server refuses in an MQTT topic (they split or end NATS protocol tokens). */
function isUnsupported(code: number): boolean {
  return code === 0x20 || code === 0x09 || code === 0x0a || code === 0x0d || code === 0x0c || code === 0x7f || code === 0;
}

/**
 * Topic (or, with `mask`, a topic filter) → NATS subject; null when it cannot be mapped (empty,
 * whitespace, a `*` or `>` level). Without `mask`, `+` and `#` are ordinary characters.
 */
export function topicToSubject(topic: string, mask = false): string | null {
  if (topic.length === 0) return null;
  let out = '';
  const end = topic.length - 1;
  for (let i = 0; i <= end; i++) {
    const c = topic.charCodeAt(i);
    if (c === SLASH) {
      if (i === 0 || out.charCodeAt(out.length - 1) === DOT) out += '/.';
      else if (i === end || topic.charCodeAt(i + 1) === SLASH) out += './';
      else out += '.';
    } else if (c === DOT) {
      out += '//';
    } else if (isUnsupported(c)) {
      return null;
    } else {
      out += topic[i] ?? '';
    }
  }
  if (out.charCodeAt(out.length - 1) === DOT) out += '/';
  return mask ? maskLevels(out) : literalLevels(out);
}

/** A published subject may not have a level that NATS reads as a wildcard. */
function literalLevels(subject: string): string | null {
  for (const level of subject.split('.')) if (level === '*' || level === '>') return null;
  return subject;
}

/** `+` → `*` and `#` → `>` where they are whole levels (elsewhere PSRT treats them literally). */
function maskLevels(subject: string): string {
  const levels = subject.split('.');
  for (let i = 0; i < levels.length; i++) {
    if (levels[i] === '+') levels[i] = '*';
    else if (levels[i] === '#') levels[i] = '>';
  }
  return levels.join('.');
}

/** NATS subject → MQTT topic (the inverse of topicToSubject for every topic it accepts). */
export function subjectToTopic(subject: string): string {
  let out = '';
  const end = subject.length - 1;
  for (let i = 0; i <= end; i++) {
    const c = subject.charCodeAt(i);
    if (c === SLASH) {
      const next = i < end ? subject.charCodeAt(i + 1) : -1;
      if (next === DOT) {
        out += '/';
        i++;
      } else if (next === SLASH) {
        out += '.';
        i++;
      }
      // A lone `/` (the closing marker of `./`) stands for nothing.
    } else if (c === DOT) {
      out += '/';
    } else {
      out += subject[i] ?? '';
    }
  }
  return out;
}

/**
 * The NATS subscriptions for one MQTT-style mask. `a/#` also matches `a` itself in MQTT and
 * PSRT but `a.>` does not in NATS, so it needs `a` as well (as nats-server does for its MQTT
 * clients).
 */
export function maskToSubjects(mask: string): string[] | null {
  const subject = topicToSubject(mask, true);
  if (subject === null) return null;
  if (subject === '>') return ['>'];
  if (subject.endsWith('.>')) return [subject, subject.slice(0, -2)];
  return [subject];
}
