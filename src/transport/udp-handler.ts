/**
 * Processing of one UDP datagram in the exact order of PROTOCOL.md §8.3, on top of the pure
 * codec in protocol/udp.ts. Whether an ack is owed is decided by that order: nothing before a
 * valid op byte is ever answered; after it, op 01 gets `01`/`FE`/`FF` and op 21 nothing.
 *
 * Everything up to the op byte (and decryption) runs synchronously on arrival, so garbage costs
 * a few microseconds and never touches a queue. Publishes then go through a per-sender lane
 * (order of delivery is kept while a plain datagram waits for bcrypt), and plain ones through
 * the bcrypt budget (udp-limits.ts).
 */
import type { AclEntry } from '../auth/acl.js';
import { ANONYMOUS, type AuthResult } from '../auth/auth-store.js';
import { nowUs } from '../broker/delivery.js';
import type { BrokerLogger } from '../broker/ports.js';
import { OP_PUBLISH, RESPONSE_ERR, RESPONSE_ERR_ACCESS, RESPONSE_OK, UDP_AUTH_PLAIN, UDP_NONCE_LENGTH } from '../protocol/constants.js';
import {
  decryptUdp,
  openUdpPlain,
  parseUdpEnvelope,
  parseUdpInner,
  type UdpEnvelope,
  type UdpInner,
} from '../protocol/udp.js';
import { escapeLogLine } from '../protocol/log-escape.js';
import { hasWildcardChar, normalizeTopic, topicDepth } from '../topics/index.js';
import { ReplayGuard } from './udp-replay.js';
import { BcryptBudget, OrderedLanes, ThrottledLog, type BudgetTicket } from './udp-limits.js';

/** Outcome counters, all monotonic. `received` = the sum of the outcome counters + in flight. */
export class UdpCounters {
  /** Datagrams read from all UDP sockets. */
  received = 0;
  /** Of those, longer than udp_frame_size and cut to it before parsing (not an outcome). */
  truncated = 0;
  /** Published to the broker. */
  accepted = 0;
  /** Acks sent, any code (`01`, `FE` or `FF`; only op 01 datagrams get one). */
  acked = 0;
  /** `FE` outcome: wrong password, anonymous disabled, no ACL entry, pub ACL denied. */
  denied = 0;
  /** `FF` outcome: topic not UTF-8, no message part, too deep, `+`/`#` in the topic. */
  rejected = 0;
  /** Dropped silently before the op byte: header, version, type, login, separators, op. */
  malformed = 0;
  /** Encrypted and dropped silently: no key for the login, short block, failed tag. */
  undecryptable = 0;
  /** Encrypted, authentic, but its nonce was already seen from that user (replay, not delivered). */
  replayed = 0;
  /** Dropped silently by the bcrypt budget or because the sender's queue was full. */
  rateLimited = 0;
  /** Unexpected exceptions caught in the handler (a bug if ever non-zero). */
  internalErrors = 0;
}

export type UdpCountersView = Readonly<UdpCounters>;

/** Implemented by AuthStore; narrowed to what UDP needs. */
export interface UdpAuthenticator {
  authenticate(login: string, password: string, source?: string): Promise<AuthResult>;
  aclFor(user: string): AclEntry | undefined;
  keyFor(login: string): Buffer | undefined;
  /** auth.allow_anonymous: also governs the anonymous key `_` (as it governs logins). */
  readonly allowAnonymous: boolean;
  readonly snapshot: { readonly passwords: ReadonlyMap<string, string> };
}

export interface UdpPublisher {
  publishExternal(priority: number, topic: string, payload: Buffer, timestampUs: number, qos: 0 | 1): void;
}

export interface UdpContext {
  readonly broker: UdpPublisher;
  readonly auth: UdpAuthenticator;
  readonly log: BrokerLogger;
  readonly maxTopicDepth: number;
  /** proto.udp_frame_size: longer datagrams are cut to this many bytes (§8.5). */
  readonly frameSize: number;
  /** proto.udp_replay_window: nonces remembered per key owner; 0 = no replay protection. */
  readonly replayWindow?: number;
}

export interface UdpLimits {
  /** bcrypt ms per second (and burst) caused by uncached checks of one (ip:port, login). */
  readonly perSenderMsPerS: number;
  /** bcrypt ms per second (and burst) caused by uncached checks from one source IP. */
  readonly perIpMsPerS: number;
  /** bcrypt ms per second caused by all UDP senders together (250 = a quarter of one core). */
  readonly globalMsPerS: number;
  /** Uncached bcrypt verifications in flight overall. */
  readonly maxInFlight: number;
  readonly maxSources: number;
  readonly maxExempt: number;
  /** Datagrams waiting behind one sender's pending verification, and overall. */
  readonly maxPerLane: number;
  readonly maxQueued: number;
  /** Clock for the budgets (tests). */
  readonly now?: () => number;
}

/** Nonces remembered per key owner (see udp-replay.ts); about 5 MB for a user at the limit. */
export const DEFAULT_REPLAY_WINDOW = 65_536;

export const DEFAULT_UDP_LIMITS: UdpLimits = {
  perSenderMsPerS: 25,
  perIpMsPerS: 100,
  globalMsPerS: 250,
  maxInFlight: 4,
  maxSources: 4096,
  maxExempt: 4096,
  maxPerLane: 64,
  maxQueued: 1024,
};

/** Where a datagram came from and how to answer it. */
export interface UdpSender {
  /** `ip:port` for logs and per-sender ordering. */
  readonly address: string;
  /** Source IP: the unit of the bcrypt budget. */
  readonly ip: string;
  reply(code: number): void;
}

type Publish = Extract<UdpInner, { kind: 'publish' }>;

export class UdpHandler {
  readonly counters = new UdpCounters();
  private readonly budget: BcryptBudget;
  private readonly lanes: OrderedLanes;
  private readonly errors: ThrottledLog;
  private readonly replay: ReplayGuard;

  constructor(
    private readonly ctx: UdpContext,
    limits: UdpLimits = DEFAULT_UDP_LIMITS,
  ) {
    this.budget = new BcryptBudget(limits);
    this.replay = new ReplayGuard(ctx.replayWindow ?? DEFAULT_REPLAY_WINDOW);
    this.lanes = new OrderedLanes({
      maxPerLane: limits.maxPerLane,
      maxQueued: limits.maxQueued,
      onError: (e) => {
        this.internal('-', e);
      },
    });
    this.errors = new ThrottledLog((line) => {
      ctx.log.error(line);
    });
  }

  /** Entry point for one datagram (§8.3). Never throws. */
  handle(datagram: Buffer, sender: UdpSender): void {
    try {
      this.dispatch(datagram, sender);
    } catch (e) {
      this.internal(sender.address, e);
    }
  }

  /** Reports suppressed log lines; call about once a second. */
  flushLog(): void {
    this.errors.flush();
  }

  /** Drops datagrams still waiting for their turn (shutdown). */
  clear(): void {
    this.lanes.clear();
  }

  private dispatch(msg: Buffer, sender: UdpSender): void {
    this.counters.received++;
    const timestampUs = nowUs(); // step 1: latency counts from arrival, bcrypt wait included
    let datagram = msg;
    if (datagram.length > this.ctx.frameSize) {
      datagram = datagram.subarray(0, this.ctx.frameSize);
      this.counters.truncated++;
    }
    const env = parseUdpEnvelope(datagram); // steps 2–6
    if (env === null) {
      this.malformed(sender, 'Invalid packet header, version, type or login');
    } else if (env.authType === UDP_AUTH_PLAIN) {
      this.plain(env, sender, timestampUs);
    } else {
      this.encrypted(env, sender, timestampUs);
    }
  }

  private plain(env: UdpEnvelope, sender: UdpSender, timestampUs: number): void {
    const block = openUdpPlain(env.rest); // step 7
    if (block === null) {
      this.malformed(sender, 'Invalid password block');
      return;
    }
    const pub = this.inner(block.inner, sender);
    if (pub === null) return;
    const { login } = env;
    const { password } = block;
    // The budget decides on arrival, so over-budget datagrams never occupy a sender's queue
    // (which would delay that sender's known-good datagrams behind them).
    const ticket = this.budget.admit(sender.ip, sender.address, login, password, this.needsBcrypt(login, password));
    if (ticket.kind === 'limited') {
      this.limited(sender, `bcrypt budget exceeded for ${login === '' ? 'anonymous' : login}`);
      return;
    }
    const queued = this.enqueue(sender, () => this.authorizePlain(ticket, login, password, pub, sender, timestampUs));
    if (!queued) this.budget.cancel(ticket);
  }

  private encrypted(env: UdpEnvelope, sender: UdpSender, timestampUs: number): void {
    if (env.authType === UDP_AUTH_PLAIN) return;
    const key = this.ctx.auth.keyFor(env.login); // the current key: SIGHUP applies at once
    if (key === undefined) {
      this.undecryptable(sender, `no key for ${env.login === '' ? ANONYMOUS : env.login}`);
      return;
    }
    const inner = decryptUdp(env.authType, key, env.rest); // step 7
    if (inner === null) {
      this.undecryptable(sender, 'unable to decrypt');
      return;
    }
    const user = env.login === '' ? ANONYMOUS : env.login;
    const nonce = env.rest.subarray(0, UDP_NONCE_LENGTH);
    if (this.replay.fresh(user, env.authType, nonce)) {
      this.freshEncrypted(inner, user, env.authType, nonce, sender, timestampUs);
      return;
    }
    // Seen before. The original may still wait in this sender's lane (behind a datagram that
    // waits for bcrypt) and be refused there: the retransmission is answered after it, with
    // the original's outcome (a refused original was forgotten, so this one is judged afresh).
    this.enqueue(sender, () => {
      if (!this.replay.fresh(user, env.authType, nonce)) this.replayed(sender, inner[0] === OP_PUBLISH, user);
      else this.judgeEncrypted(this.inner(inner, sender), user, env.authType, nonce, sender, timestampUs);
    });
  }

  /** A decrypted datagram whose nonce was just admitted, queued behind the sender's earlier ones. */
  private freshEncrypted(inner: Buffer, user: string, keyType: number, nonce: Buffer, sender: UdpSender, timestampUs: number): void {
    const pub = this.inner(inner, sender);
    const queued = pub !== null && this.enqueue(sender, () => {
      this.judgeEncrypted(pub, user, keyType, nonce, sender, timestampUs);
    });
    // Not delivered: a retransmission must get the same answer, not the `01` of a replay.
    if (!queued) this.replay.forget(user, keyType, nonce);
  }

  private judgeEncrypted(pub: Publish | null, user: string, keyType: number, nonce: Buffer, sender: UdpSender, timestampUs: number): void {
    if (pub === null || !this.authorizeEncrypted(pub, user, sender, timestampUs)) this.replay.forget(user, keyType, nonce);
  }

  /** Steps 12–18 for an encrypted datagram; true when it was delivered. */
  private authorizeEncrypted(pub: Publish, user: string, sender: UdpSender, timestampUs: number): boolean {
    // Holding the key is the authentication, but the anonymous user's key obeys
    // allow_anonymous like an anonymous login does (the reference accepts it regardless).
    if (user === ANONYMOUS && !this.ctx.auth.allowAnonymous) {
      this.deny(sender, pub.ack, 'anonymous login failed (auth.allow_anonymous is false)');
      return false;
    }
    return this.finish(pub, user, this.ctx.auth.aclFor(user)?.forClient(user), sender, timestampUs);
  }

  /** Steps 8–11; null when the datagram was fully handled here. */
  private inner(block: Buffer, sender: UdpSender): Publish | null {
    const inner = parseUdpInner(block);
    if (inner.kind === 'publish') return inner;
    if (inner.kind === 'drop') this.malformed(sender, 'Invalid data block or operation');
    else this.reject(sender, inner.ack, 'Invalid topic or no message block');
    return null;
  }

  /** False (and counted) when the sender's queue is full. */
  private enqueue(sender: UdpSender, job: () => void | Promise<void>): boolean {
    const guarded = (): void | Promise<void> => {
      try {
        return job()?.catch((e: unknown) => {
          this.internal(sender.address, e);
        });
      } catch (e) {
        this.internal(sender.address, e);
        return undefined;
      }
    };
    if (this.lanes.submit(sender.address, guarded)) return true;
    this.limited(sender, 'too many datagrams waiting for this sender');
    return false;
  }

  /** Steps 12–13 for plain datagrams (anonymous rule, bcrypt or its cache, ACL entry). */
  private authorizePlain(
    ticket: BudgetTicket,
    login: string,
    password: string,
    pub: Publish,
    sender: UdpSender,
    timestampUs: number,
  ): Promise<void> {
    this.budget.begin(ticket);
    return this.ctx.auth.authenticate(login, password, sender.ip).then(
      (result) => {
        this.budget.settle(ticket, credentialsVerified(result));
        if (result.ok) this.finish(pub, result.user, result.acl.forClient(result.user), sender, timestampUs);
        else this.deny(sender, pub.ack, result.message);
      },
      (e: unknown) => {
        this.budget.settle(ticket, false);
        this.internal(sender.address, e);
      },
    );
  }

  /**
   * Can this check run bcrypt at all? Anonymous logins never do; unknown logins do when there is
   * a password file (a dummy verification, so that they take as long as known ones).
   */
  private needsBcrypt(login: string, password: string): boolean {
    if (login === '' && password === '') return false;
    return this.ctx.auth.snapshot.passwords.size > 0;
  }

  /** Steps 13–18; true when the message was delivered. */
  private finish(pub: Publish, user: string, acl: AclEntry | undefined, sender: UdpSender, timestampUs: number): boolean {
    if (acl === undefined) {
      this.deny(sender, pub.ack, `No ACL for ${user}`);
      return false;
    }
    const topic = normalizeTopic(pub.topic);
    if (topicDepth(topic) > this.ctx.maxTopicDepth) {
      this.reject(sender, pub.ack, 'topic too deep');
      return false;
    }
    if (hasWildcardChar(topic)) {
      this.reject(sender, pub.ack, `Wildcard in publish topic: ${topic}`);
      return false;
    }
    if (!acl.canPublish(topic)) {
      this.deny(sender, pub.ack, `pub access denied for ${topic} to ${user}`);
      return false;
    }
    // An acknowledged datagram enters as QoS 1, an unacknowledged one as QoS 0.
    this.ctx.broker.publishExternal(pub.priority, topic, pub.payload, timestampUs, pub.ack ? 1 : 0);
    this.counters.accepted++;
    if (pub.ack) this.ack(sender, RESPONSE_OK);
    return true;
  }

  private ack(sender: UdpSender, code: number): void {
    this.counters.acked++;
    sender.reply(code);
  }

  private deny(sender: UdpSender, ack: boolean, reason: string): void {
    this.counters.denied++;
    this.report('denied', sender.address, `Access denied: ${reason}`);
    if (ack) this.ack(sender, RESPONSE_ERR_ACCESS);
  }

  private reject(sender: UdpSender, ack: boolean, reason: string): void {
    this.counters.rejected++;
    this.report('rejected', sender.address, `Invalid data: ${reason}`);
    if (ack) this.ack(sender, RESPONSE_ERR);
  }

  private malformed(sender: UdpSender, reason: string): void {
    this.counters.malformed++;
    this.report('malformed', sender.address, `Invalid data: ${reason}`);
  }

  private undecryptable(sender: UdpSender, reason: string): void {
    this.counters.undecryptable++;
    this.report('undecryptable', sender.address, `Access denied: ${reason}`);
  }

  /**
   * Not delivered again. An acknowledged datagram is acknowledged again (`01`): a sender that
   * retransmits the same bytes because the first ack was lost must not see a failure.
   */
  private replayed(sender: UdpSender, ack: boolean, user: string): void {
    this.counters.replayed++;
    this.report('replayed', sender.address, `Access denied: replayed datagram (nonce already seen) for ${user}`);
    if (ack) this.ack(sender, RESPONSE_OK);
  }

  private limited(sender: UdpSender, reason: string): void {
    this.counters.rateLimited++;
    this.report('rate-limited', sender.address, `Access denied: ${reason}`);
  }

  private internal(address: string, e: unknown): void {
    this.counters.internalErrors++;
    const text = e instanceof Error ? e.message : String(e);
    this.report('internal', address, `Internal error: ${text}`);
  }

  private report(kind: string, address: string, text: string): void {
    this.errors.log(kind, `udp packet from ${address} error: ${escapeLogLine(text, 1024)}`);
  }
}

/** The password matched even when the user then lacks an ACL entry. */
function credentialsVerified(result: AuthResult): boolean {
  return result.ok || result.code === 'NoAcl';
}
