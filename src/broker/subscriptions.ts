/**
 * The PSRT sessions' subscriptions: the topic index they share, what each session holds, the
 * per-session limits (server.max_subscriptions, max_subscription_bytes) and the removal of an
 * ended session's masks (large sets a slice per turn, see SubscriptionRetirer). The broker
 * (broker.ts) is told of every change, because its cached subscriber lists go stale.
 */
import { RESPONSE_ERR, RESPONSE_ERR_ACCESS, RESPONSE_OK } from '../protocol/constants.js';
import { escapeForLog } from '../protocol/log-escape.js';
import { SubscriptionIndex, normalizeTopic, topicDepth } from '../topics/index.js';
import { DEFAULT_MAX_SUBSCRIPTION_BYTES, DEFAULT_MAX_SUBSCRIPTIONS, type BrokerOptions } from './broker-options.js';
import type { Counters } from './counters.js';
import { TOO_DEEP, type LogLimiter, type RepeatedLine } from './log-limiter.js';
import type { BrokerLogger } from './ports.js';
import type { Session } from './session.js';
import { RETIRE_PER_TURN, SubscriptionRetirer } from './subscription-retirer.js';

export class Subscriptions {
  readonly index = new SubscriptionIndex<Session>();
  private total = 0;
  private readonly retirer: SubscriptionRetirer<Session>;
  private readonly max: number;
  private readonly maxChars: number;
  private readonly denied: RepeatedLine;
  private readonly tooDeep: RepeatedLine;
  private readonly overLimit: RepeatedLine;

  constructor(
    private readonly opts: BrokerOptions,
    private readonly log: BrokerLogger,
    lines: LogLimiter,
    private readonly counters: Counters,
    /** The index changed (cached subscriber lists are outdated). */
    private readonly changed: () => void,
  ) {
    this.denied = lines.line('sub access deneid');
    this.tooDeep = lines.line(TOO_DEEP);
    this.overLimit = lines.line('subscription limit reached');
    this.max = opts.maxSubscriptions ?? DEFAULT_MAX_SUBSCRIPTIONS;
    this.maxChars = opts.maxSubscriptionBytes ?? DEFAULT_MAX_SUBSCRIPTION_BYTES;
    this.retirer = new SubscriptionRetirer<Session>(
      (mask, session) => { this.index.unsubscribe(mask, session); },
      changed,
      RETIRE_PER_TURN,
    );
  }

  /** Subscriptions of live sessions. */
  get count(): number {
    return this.total;
  }

  /** SUBSCRIBE: the status byte; the topics before a refused one stay subscribed. */
  subscribe(session: Session, rawTopics: readonly string[]): number {
    for (const raw of rawTopics) {
      if (!session.acl.canSubscribe(raw)) {
        if (this.denied.admit()) this.log.error(`sub access deneid for ${escapeForLog(raw)} to ${session.label}`);
        return RESPONSE_ERR_ACCESS;
      }
      const mask = normalizeTopic(raw);
      if (topicDepth(mask) > this.opts.maxTopicDepth) {
        if (this.tooDeep.admit()) this.log.error(`${session.address}: topic too deep`);
        return RESPONSE_ERR;
      }
      if (!session.subscriptions.has(mask)) {
        const limit = this.limitFor(session, mask);
        if (limit !== null) {
          if (this.overLimit.admit()) this.log.error(`${session.label}: subscription limit (${limit}) reached`);
          return RESPONSE_ERR;
        }
        session.subscriptions.add(mask);
        session.subscriptionChars += mask.length;
        this.total++;
        this.changed();
        this.index.subscribe(mask, session);
      }
      this.counters.subOps++;
    }
    return RESPONSE_OK;
  }

  /** The limit one more mask would pass, or null. */
  private limitFor(session: Session, mask: string): string | null {
    if (session.subscriptions.size >= this.max) return `server.max_subscriptions ${this.max}`;
    if (session.subscriptionChars + mask.length > this.maxChars) return `server.max_subscription_bytes ${this.maxChars}`;
    return null;
  }

  unsubscribe(session: Session, rawTopics: readonly string[]): number {
    for (const raw of rawTopics) {
      const mask = normalizeTopic(raw);
      if (topicDepth(mask) > this.opts.maxTopicDepth) {
        if (this.tooDeep.admit()) this.log.error(`${session.address}: topic too deep`);
        return RESPONSE_ERR;
      }
      if (session.subscriptions.delete(mask)) {
        session.subscriptionChars -= mask.length;
        this.total--;
        this.changed();
        this.index.unsubscribe(mask, session);
      }
      this.counters.subOps++;
    }
    return RESPONSE_OK;
  }

  /** The session ended: its masks leave the index, a large set over the next turns. */
  removeAll(session: Session): void {
    const count = session.subscriptions.size;
    this.total -= count;
    session.subscriptionChars = 0;
    if (count > this.retirer.perTurn) this.retirer.retire(session);
    else if (count > 0) {
      for (const mask of session.subscriptions) this.index.unsubscribe(mask, session);
      session.subscriptions.clear();
      this.changed();
    }
  }
}
