/**
 * The lines of a plain YAML text one at a time, for the fast reader (simple-yaml.ts): blank and
 * comment-only lines skipped, CRLF taken as a line end, and any character the YAML library
 * treats in ways the reader does not reported as OutsideSubset at its line.
 */

/** Where and why the reader gave up; the library reads the document instead. */
export class OutsideSubset extends Error {
  line = 0;
}

/** Gives up on the document: the library reads it. */
export const outside = (what: string): never => {
  throw new OutsideSubset(what);
};

export interface Line {
  /** 1-based line number in the file. */
  readonly number: number;
  readonly indent: number;
  /** The content after the indentation. */
  readonly body: string;
}

const COMMENT_ONLY = /^ *(?:#.*)?$/;
/**
 * Characters the library treats in ways this reader does not (tabs, line breaks other than LF
 * and CRLF, a byte-order mark, control characters).
 */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const UNUSUAL_CHARACTER = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff]/;
const UNUSUAL_IN_BLOCK = new RegExp(UNUSUAL_CHARACTER.source, 'g');

/** The lines of a text one at a time, comment-only and blank lines skipped. */
export class LineCursor {
  private start = 0;
  private number = 0;
  private current: Line | undefined;
  /** The text before this offset has been checked for unusual characters… */
  private checkedTo = 0;
  /** …and the first one found is here (Infinity: none so far). */
  private unusualAt = Infinity;
  /** The number of the line read last (for OutsideSubset). */
  lastNumber = 0;

  constructor(private readonly text: string) {
    this.current = this.read();
  }

  peek(): Line | undefined {
    return this.current;
  }

  advance(): void {
    this.current = this.read();
  }

  private read(): Line | undefined {
    const text = this.text;
    while (this.start <= text.length) {
      let end = text.indexOf('\n', this.start);
      if (end === -1) end = text.length;
      // Only a CR before an LF ends a line; a last line's CR is content to the library.
      const crlf = end < text.length && end > this.start && text.charCodeAt(end - 1) === 0x0d;
      const rawEnd = crlf ? end - 1 : end;
      if (rawEnd > this.checkedTo) this.checkAhead(rawEnd);
      if (this.unusualAt < rawEnd) {
        this.number++;
        this.fail(`the character U+${(text.codePointAt(this.unusualAt) ?? 0).toString(16).padStart(4, '0').toUpperCase()}`);
      }
      const raw = text.slice(this.start, rawEnd);
      this.start = end + 1;
      this.number++;
      if (COMMENT_ONLY.test(raw)) continue;
      this.lastNumber = this.number;
      let indent = 0;
      while (raw.charCodeAt(indent) === 0x20) indent++;
      if (indent === 0 && /^(?:---|\.\.\.|%)/.test(raw)) this.fail('a document marker or directive');
      return { number: this.number, indent, body: raw.slice(indent) };
    }
    return undefined;
  }

  /**
   * Checks the text up to at least `to` for unusual characters, a block of 64 KiB at a time:
   * one scan of a whole 90 MB file would hold the event loop for ~0.1 s, one regex per line
   * costs ~0.3 s more per million users. A CR followed by an LF is a line end, not unusual.
   */
  private checkAhead(to: number): void {
    const text = this.text;
    while (this.checkedTo < to && this.unusualAt === Infinity) {
      const from = this.checkedTo;
      const until = Math.min(text.length, Math.max(to, from + 65536));
      const block = text.slice(from, until);
      UNUSUAL_IN_BLOCK.lastIndex = 0;
      for (let m = UNUSUAL_IN_BLOCK.exec(block); m !== null; m = UNUSUAL_IN_BLOCK.exec(block)) {
        const index = from + m.index;
        if (text.charCodeAt(index) !== 0x0d || text.charCodeAt(index + 1) !== 0x0a) {
          this.unusualAt = index;
          break;
        }
        // A CRLF's CR: look on.
      }
      this.checkedTo = until;
    }
  }

  /** OutsideSubset at the line being read (the constructor may throw it, before `lastNumber`). */
  private fail(what: string): never {
    const e = new OutsideSubset(what);
    e.line = this.number;
    throw e;
  }
}
