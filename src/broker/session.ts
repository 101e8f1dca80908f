/** One logged-in control session (SERVER.md §10). */
import type { AclEntry } from '../auth/acl.js';
import type { Subscriber } from '../topics/index.js';
import type { DataChannel, DataChannelOwner } from './data-channel.js';
import type { ControlPort } from './ports.js';
import { escapeForLog } from '../protocol/log-escape.js';
import type { PublishTopicCache } from './publish-topic-cache.js';
import { SmallSet } from './small-set.js';

let nextSessionId = 1;

export class Session implements Subscriber, DataChannelOwner {
  /** A number for the stats client list (never the token, which is a credential). */
  readonly id = nextSessionId++;
  /** Login time (ms since the epoch), for the stats client list. */
  readonly connectedSince = Date.now();
  /** Stamp used by SubscriptionIndex.match to report a session at most once per publish. */
  matchStamp = 0;
  /** Distinct normalised subscription strings. */
  readonly subscriptions = new SmallSet();
  /** Characters of those subscriptions (server.max_subscription_bytes). */
  subscriptionChars = 0;
  data: DataChannel | null = null;
  /** Last accepted publish topic (hot-path shortcut, see PublishTopicCache); made at the first. */
  publishTopic: PublishTopicCache | null = null;
  ended = false;

  constructor(
    /** Token bytes as a latin1 string: a cheap exact Map key (and 200 bytes less than a Buffer). */
    readonly tokenKey: string,
    /** Login name, or `anonymous` (the reference's log rendering). */
    readonly user: string,
    readonly address: string,
    /** ACL snapshot taken at login; reloads do not change it (SERVER.md §6.3). */
    readonly acl: AclEntry,
    readonly control: ControlPort,
    private readonly onDrop: (session: Session, channel: DataChannel, reason?: string) => void,
  ) {}

  /** `login@ip:port` for log lines (made when one is written: no string per idle session). */
  get label(): string {
    return `${escapeForLog(this.user, 64)}@${this.address}`; // logs quote the client's login
  }

  /** The 32 token bytes (written once, at login). */
  get token(): Buffer {
    return Buffer.from(this.tokenKey, 'latin1');
  }

  channelClosed(channel: DataChannel): void {
    if (this.data === channel) this.data = null;
  }

  dropCongested(channel: DataChannel, reason?: string): void {
    this.onDrop(this, channel, reason);
  }
}
