/**
 * What `mqtt.persistence_file` keeps of the MQTT side: the retained messages and the persistent
 * sessions (subscriptions, QoS 1/2 messages queued and in flight, QoS 2 publishes not yet
 * released). The file's I/O is src/bin/persistence-file.ts, its format state-codec.ts.
 *
 * A session comes back offline, as if its client had lost the connection when psrtd stopped:
 * it collects messages for its subscriptions and ends when its expiry interval runs out,
 * counted from when its connection ended (a session connected at the save: from the save).
 * A will waiting for its Will Delay Interval is kept and goes out when due, also when its
 * session ended while psrtd was down. The wills of the connections open at the save are kept
 * too (open-wills.ts): after a crash they go out at the next start. Not kept: QoS 0 messages.
 */
import type { AclEntry } from '../auth/acl.js';
import type { Stamp } from '../broker/delivery.js';
import type { MqttMessage } from './message.js';
import { restoreOpenWills, savedWillOf, takeOpenWills, willMessageOf, type OpenWillReport, type OpenWills } from './open-wills.js';
import { queuedMessageOf, retainedMessageOf, type RetainedRecord } from './record-codec.js';
import type { MqttRouter } from './router.js';
import { MqttSession } from './session.js';
import type { SavedQos, SavedSession, SavedSubscription, SavedWill } from './session-codec.js';
import type { SavedOpenWill } from './open-will-codec.js';
import type { DecodedState, StateSnapshot } from './state-codec.js';
import { splitShared } from './subscription.js';

/** A v5 Session Expiry Interval of 0xFFFFFFFF: the session does not expire. */
const NEVER_EXPIRES = 0xffffffff;

export interface RestoreOptions {
  /** The ACL entry of a user today (acl.yml may have changed while psrtd was down). */
  aclFor(user: string): AclEntry | undefined;
  /** `mqtt.max_session_expiry` today: a longer saved interval is lowered to it. */
  readonly maxSessionExpiry: number;
  /**
   * `server.max_subscriptions` and `max_subscription_bytes` today: a session keeps its saved
   * subscriptions up to them, as a SUBSCRIBE would (absent: no limit).
   */
  readonly maxSubscriptions?: number;
  readonly maxSubscriptionBytes?: number;
  readonly nowMs: number;
  /** When the loaded messages count as received (latency statistics). */
  readonly stamp: Stamp;
}

export interface RestoreReport extends OpenWillReport {
  readonly retained: number;
  readonly retainedExpired: number;
  readonly retainedDropped: number;
  readonly sessions: number;
  /** Sessions whose expiry interval ran out while psrtd was down. */
  readonly sessionsExpired: number;
  /** Sessions whose user has no ACL entry any more (it could not log in to resume them). */
  readonly sessionsWithoutAcl: number;
  /** Subscriptions today's ACL no longer allows. */
  readonly subscriptionsDenied: number;
  /** Subscriptions beyond today's max_subscriptions / max_subscription_bytes, not restored. */
  readonly subscriptionsOverLimit: number;
  /** Queued or unacknowledged messages on topics those sessions may no longer read, dropped. */
  readonly messagesDenied: number;
  /** Delayed wills scheduled again (due ones, of sessions that ended meanwhile too, go out at once). */
  readonly wills: number;
  /** Wills published during the load (delayed ones due by now, open connections' due at once). */
  readonly willsPublished: number;
}

type SessionsReport = Omit<RestoreReport, 'retained' | 'retainedExpired' | 'retainedDropped' | keyof OpenWillReport | 'willsPublished'>;

export class MqttPersistentState {
  constructor(private readonly router: MqttRouter) {}

  /** Moves whenever something a save writes changes. */
  get changes(): number {
    return this.router.retained.changes + this.router.sessionChanges;
  }

  get retainedCount(): number {
    return this.router.retained.count;
  }

  /**
   * What a save writes: the retained messages as of now, and the persistent sessions, each as
   * of when the encoding takes it. Each session is whole and as it was at one moment, though
   * not all at the same one; copying 100,000 sessions' state at once held every client for
   * ~150 ms.
   */
  snapshot(nowMs: number): MqttSnapshot {
    return new MqttSnapshot(this.router.retained.snapshot(nowMs), nowMs, this.router, takeOpenWills(this.router));
  }

  /**
   * Loads a file's contents into the (empty) router, before any client can connect. The wills
   * due by now go out before this returns, after every retained message and session is loaded
   * (the loaded sessions get them; a will's retained message replaces the loaded one).
   */
  restore(state: DecodedState, o: RestoreOptions): RestoreReport {
    const store = this.router.retained;
    let retained = 0;
    let retainedExpired = 0;
    for (const r of state.retained) {
      if (r.expiresAtMs !== 0 && r.expiresAtMs <= o.nowMs) retainedExpired++;
      else if (store.put(retainedMessageOf(r, o.stamp, o.nowMs))) retained++;
    }
    const due: MqttSession[] = [];
    const sessions = this.restoreSessions(state, o, due);
    const connectedAtSave = new Set<string>();
    for (const s of state.sessions) if (s.endsAtMs === 0) connectedAtSave.add(s.clientId);
    const aclFor = (user: string): AclEntry | undefined => o.aclFor(user);
    const open = restoreOpenWills(this.router, state.openWills, { aclFor, aliveAtMs: state.savedAtMs, nowMs: o.nowMs, stamp: o.stamp, connectedAtSave }, due);
    for (const owner of due) this.router.publishWill(owner);
    const retainedDropped = state.retained.length - retained - retainedExpired;
    return { retained, retainedExpired, retainedDropped, ...sessions, ...open, willsPublished: due.length };
  }

  /** `due`: the owners of the wills due now (published once everything is loaded). */
  private restoreSessions(state: DecodedState, o: RestoreOptions, due: MqttSession[]): SessionsReport {
    const messages = new MessageTable(state.messages, o);
    let sessions = 0;
    let sessionsExpired = 0;
    let sessionsWithoutAcl = 0;
    let subscriptionsDenied = 0;
    let subscriptionsOverLimit = 0;
    let messagesDenied = 0;
    let wills = 0;
    for (const saved of state.sessions) {
      const expiry = Math.min(saved.expiryInterval, o.maxSessionExpiry);
      const remainingMs = remainingLifetime(saved, expiry, state.savedAtMs, o.nowMs);
      const acl = o.aclFor(saved.user)?.forClient(saved.user, saved.clientId);
      let session: MqttSession | null = null;
      if (expiry === 0 || (remainingMs !== null && remainingMs <= 0)) sessionsExpired++;
      else if (acl === undefined) sessionsWithoutAcl++;
      else {
        session = new MqttSession(saved.clientId, saved.user, acl, this.router);
        const { denied, overLimit, unreadable } = this.restoreSession(session, saved, expiry, messages, remainingMs, o);
        subscriptionsDenied += denied;
        subscriptionsOverLimit += overLimit;
        messagesDenied += unreadable;
        sessions++;
      }
      // A will whose session is gone is due now (its session ended); without an ACL entry its
      // publish right cannot be checked, so it is dropped.
      if (saved.will !== null && acl !== undefined) {
        const owner = session ?? new MqttSession(saved.clientId, saved.user, acl, this.router);
        owner.will = { message: willMessageOf(saved.will, o.stamp), delay: saved.will.delay };
        const inMs = session === null ? 0 : saved.will.atMs - o.nowMs;
        if (inMs <= 0) due.push(owner);
        else this.router.scheduleWill(owner, inMs);
        wills++;
      }
    }
    return { sessions, sessionsExpired, sessionsWithoutAcl, subscriptionsDenied, subscriptionsOverLimit, messagesDenied, wills };
  }

  /**
   * One session, offline; the number of its subscriptions `acl` no longer allows, of those over
   * today's limits, and of the messages the denied ones had queued on topics it may no longer read.
   */
  private restoreSession(
    session: MqttSession,
    saved: SavedSession<number>,
    expiry: number,
    messages: MessageTable,
    remainingMs: number | null,
    o: RestoreOptions,
  ): { denied: number; overLimit: number; unreadable: number } {
    const router = this.router;
    const acl = session.acl;
    const maxCount = o.maxSubscriptions ?? Infinity;
    const maxChars = o.maxSubscriptionBytes ?? Infinity;
    session.expiryInterval = expiry;
    let denied = 0;
    let overLimit = 0;
    for (const sub of saved.subscriptions) {
      if (!acl.canSubscribe(splitShared(sub.key)?.filter ?? sub.key)) denied++;
      else if (session.subscriptionLimit(sub.key, maxCount, maxChars) !== null) overLimit++;
      else router.subscribe(session, sub.key, sub.options);
    }
    // What the removed subscriptions queued is not delivered either.
    const unreadable = saved.qos === null ? 0 : session.restoreQos(messages.resolve(saved.qos), denied === 0 ? null : acl);
    router.adoptSession(session, remainingMs);
    return { denied, overLimit, unreadable };
  }
}

export class MqttSnapshot implements StateSnapshot<MqttMessage> {
  /** Sessions taken so far. */
  sessionCount = 0;
  /**
   * Sessions taken while their client was connected (and with an expiry): after a crash their
   * lifetime counts from when psrtd was last alive, so the file's time is kept current
   * (see PersistenceFile).
   */
  connectedSessions = 0;

  /** The wills of the connections open when the snapshot was made. */
  readonly openWills: readonly SavedOpenWill[];
  /** Open connections' wills beyond retained_max_count / retained_max_bytes, not saved. */
  readonly openWillsOverLimit: number;
  /** Open wills of persistent sessions with a delay, which count it from when psrtd was last alive. */
  readonly delayedOpenWills: number;

  constructor(
    readonly retained: readonly RetainedRecord[],
    readonly savedAtMs: number,
    private readonly router: MqttRouter,
    open: OpenWills,
  ) {
    this.openWills = open.wills;
    this.openWillsOverLimit = open.overLimit;
    this.delayedOpenWills = open.delayed;
  }

  get sessions(): Iterable<SavedSession<MqttMessage>> {
    return this.take();
  }

  /**
   * A Map iterator skips sessions that end meanwhile and reaches ones that start. A client that
   * comes back with a clean start (or as another user) after its session was taken ends that
   * session and starts one under the same id, which the iterator reaches too: taken again, the
   * file held the client id twice and the next start refused the whole file. The session taken
   * first is the one saved; the change counter has moved, so the next save holds the new one.
   */
  private *take(): Generator<SavedSession<MqttMessage>, void, undefined> {
    const router = this.router;
    const taken = new Set<string>();
    for (const s of router.sessions.values()) {
      if (s.expiryInterval === 0 || s.ended || taken.has(s.clientId)) continue;
      taken.add(s.clientId);
      const subscriptions: SavedSubscription[] = [];
      for (const key of s.subscriptions.keys()) {
        const entry = s.subscriptions.get(key);
        if (entry !== undefined) subscriptions.push({ key, options: entry.options });
      }
      this.sessionCount++;
      const endsAtMs = router.endsAtMs(s);
      if (endsAtMs === 0 && s.expiryInterval !== NEVER_EXPIRES) this.connectedSessions++;
      yield { clientId: s.clientId, user: s.user, expiryInterval: s.expiryInterval, endsAtMs, subscriptions, qos: s.savedQos(), will: savedWill(s, router.willDueMs(s)) };
    }
  }
}

/** The will of `s` when it waits for its delay (due at `dueMs`), as a save keeps it. */
function savedWill(s: MqttSession, dueMs: number): SavedWill | null {
  return s.will === null || dueMs === 0 ? null : savedWillOf(s.will, dueMs);
}

/**
 * Milliseconds a saved session has left (null: it never expires): `expiry` (today's, maybe
 * lower than the saved interval) from when its connection ended, or from the save for one that
 * was connected then (its connection ended with psrtd). The connection ended the saved interval
 * before its saved end: a device away for 3 days whose interval was lowered to 1 day is gone.
 */
function remainingLifetime(saved: SavedSession<number>, expiry: number, savedAtMs: number, nowMs: number): number | null {
  if (expiry === NEVER_EXPIRES) return null;
  const limit = savedAtMs + expiry * 1000;
  const endsAt = saved.endsAtMs === 0 ? limit : Math.min(saved.endsAtMs - (saved.expiryInterval - expiry) * 1000, limit);
  return endsAt - nowMs;
}

/** The file's session messages as MqttMessages, each made once, when a session first needs it. */
class MessageTable {
  private readonly made: (MqttMessage | undefined)[] = [];

  constructor(
    private readonly records: readonly RetainedRecord[],
    private readonly o: RestoreOptions,
  ) {}

  get(i: number): MqttMessage {
    let m = this.made[i];
    if (m === undefined) {
      m = queuedMessageOf(this.records[i] as RetainedRecord, this.o.stamp, this.o.nowMs);
      this.made[i] = m;
    }
    return m;
  }

  resolve(q: SavedQos<number>): SavedQos<MqttMessage> {
    return {
      nextPacketId: q.nextPacketId,
      inflight: q.inflight.map((f) => ({ ...f, msg: this.get(f.msg) })),
      queue: q.queue.map((d) => ({ ...d, msg: this.get(d.msg) })),
      inboundQos2: q.inboundQos2,
    };
  }
}
