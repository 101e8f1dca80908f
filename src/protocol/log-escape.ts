/**
 * Escaping of client-controlled text before it reaches a log line (log forging, terminal
 * escapes). One function for every listener and protocol: login names, topics, client ids and
 * error texts that quote them go through `escapeForLog`; the stdout and syslog sinks also apply
 * it to whole lines as a last line of defence.
 *
 * Escaped: C0 controls (newline, carriage return, ESC, ...), DEL, C1 controls (U+0080–U+009F,
 * which some terminals treat as CSI), the Unicode line/paragraph separators and the bidi
 * override/isolate characters (which make a line display differently from its bytes), and the
 * backslash itself so an escaped line can be told from one that merely contains `\x1b`.
 */

/** Characters that change how a log line is split or displayed. */
/* eslint-disable no-control-regex -- matching control characters is the purpose of these */
const UNSAFE = /[\\\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
const UNSAFE_ALL = /[\\\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
const CONTROL_ALL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
/* eslint-enable no-control-regex */

/** Longest client text kept in a log line by default; the rest is summarised. */
export const LOG_TEXT_LIMIT = 256;

function escapeChar(c: string): string {
  switch (c) {
    case '\\':
      return '\\\\';
    case '\n':
      return '\\n';
    case '\r':
      return '\\r';
    case '\t':
      return '\\t';
  }
  const code = c.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/**
 * `s` with every unsafe character escaped (`\n`, `\x1b`, `\u202e`, `\\`), cut to `maxChars`
 * characters of the original with `…(+N chars)` appended when longer. Safe text shorter than
 * the limit is returned as it is (no allocation).
 */
export function escapeForLog(s: string, maxChars: number = LOG_TEXT_LIMIT): string {
  const cut = s.length > maxChars ? s.slice(0, maxChars) : s;
  const escaped = UNSAFE.test(cut) ? cut.replace(UNSAFE_ALL, escapeChar) : cut;
  return cut === s ? escaped : `${escaped}…(+${s.length - maxChars} chars)`;
}

/**
 * The sinks' last defence for a whole line: control characters escaped (backslashes are left
 * alone, so text already passed through escapeForLog is not escaped twice), cut to `maxChars`.
 */
export function escapeLogLine(line: string, maxChars: number): string {
  const cut = line.length > maxChars ? `${line.slice(0, maxChars)}…(+${line.length - maxChars} chars)` : line;
  return CONTROL.test(cut) ? cut.replace(CONTROL_ALL, escapeChar) : cut;
}
