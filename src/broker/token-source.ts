/**
 * Session tokens (PROTOCOL.md: 32 cryptographically random bytes): cut from a pool refilled 128
 * at a time, as latin1 strings (the session map's key; no Buffer kept per session). One
 * getrandom call per 128 logins instead of one per login matters in a reconnect storm.
 */
import { randomFillSync } from 'node:crypto';

const TOKENS_PER_FILL = 128;

export class TokenSource {
  private readonly pool: Buffer;
  private at: number;

  constructor(private readonly length: number) {
    this.pool = Buffer.alloc(length * TOKENS_PER_FILL);
    this.at = this.pool.length;
  }

  next(): string {
    if (this.at === this.pool.length) {
      randomFillSync(this.pool);
      this.at = 0;
    }
    const token = this.pool.toString('latin1', this.at, this.at + this.length);
    // Used bytes are not left behind in the pool.
    this.pool.fill(0, this.at, this.at + this.length);
    this.at += this.length;
    return token;
  }
}
