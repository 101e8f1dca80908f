/** Fakes and HTTP helpers for the stats server tests. */
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import { Counters, type BrokerStats, type TopicStat } from '../../src/broker/index.js';
import type { StatsAuth } from '../../src/stats/index.js';

export class FakeBroker implements BrokerStats {
  counters = new Counters();
  clientCount = 0;
  subscriptionCount = 0;
  dataChannelCount = 0;
  depths: number[] = [];
  topics: TopicStat[] = [];

  queueDepths(): number[] {
    return [...this.depths];
  }

  topTopics(limit: number, by: 'messages' | 'bytes'): TopicStat[] {
    return [...this.topics].sort((a, b) => b[by] - a[by]).slice(0, limit);
  }
}

/** Users: name → password and admin flag; an ACL entry without password when password is null. */
export class FakeAuth implements StatsAuth {
  verifications = 0;
  constructor(readonly users: Map<string, { password: string | null; admin: boolean }>) {}

  verifyPassword(login: string, password: string): Promise<boolean> {
    this.verifications++;
    const u = this.users.get(login);
    // Asynchronous like bcrypt: the server must await it.
    return new Promise((res) => setImmediate(() => { res(u !== undefined && u.password !== null && u.password === password); }));
  }

  aclFor(user: string): { admin: boolean } | undefined {
    const u = this.users.get(user);
    return u === undefined ? undefined : { admin: u.admin };
  }
}

export interface HttpResult {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export function get(
  port: number,
  path: string,
  opts: { method?: string; headers?: Record<string, string> } = {},
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, path, method: opts.method ?? 'GET', headers: opts.headers ?? {}, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') });
        });
        res.on('error', reject);
      },
    );
    req.setTimeout(5000, () => req.destroy(new Error(`timeout: ${path}`)));
    req.on('error', reject);
    req.end();
  });
}

export function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

/**
 * Sends raw request bytes (for header values Node's client refuses to send) and returns the
 * status line and body of the answer.
 */
export function rawRequest(port: number, bytes: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => { s.destroy(new Error('raw request timeout')); }, 5000);
    s.on('connect', () => s.end(bytes));
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', (e) => { clearTimeout(timer); reject(e); });
    s.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('latin1');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
      const body = text.slice(text.indexOf('\r\n\r\n') + 4);
      resolve({ status, body });
    });
  });
}
