/**
 * The wills of connections open at a save of `mqtt.persistence_file`, clean sessions' included
 * (persistent-state.ts saves and loads the rest). A clean stop ends every connection before
 * its save, so its file has none; after a crash they are published at the next start as the
 * ends of those connections would have: a clean session's at once, a persistent session's
 * after its Will Delay Interval (or when the session ends, if first) counted from when psrtd
 * was last alive, unless its client is back first. Bounded like the retained messages they
 * mostly become: at most `retained_max_count` wills and `retained_max_bytes` bytes.
 */
import type { AclEntry } from '../auth/acl.js';
import type { Stamp } from '../broker/delivery.js';
import { DEFAULT_PRIORITY } from '../protocol/constants.js';
import { MqttMessage } from './message.js';
import { openWillSize, type SavedOpenWill } from './open-will-codec.js';
import type { MqttRouter } from './router.js';
import { MqttSession, type Will } from './session.js';
import type { SavedWill } from './session-codec.js';

/** The wills kept within the bounds, and how many were left out. */
export interface OpenWills {
  readonly wills: SavedOpenWill[];
  readonly overLimit: number;
  /** Wills of persistent sessions with a delay (they count it from when psrtd was last alive). */
  readonly delayed: number;
}

/** A will as a save keeps it; `atMs`: when a delayed one is due (0 for an open connection's). */
export function savedWillOf(w: Will, atMs: number): SavedWill {
  const m = w.message;
  const record = { rawTopic: m.rawTopic, payload: m.payload, qos: m.qos, props: m.props, expiresAtMs: 0 };
  return { record, retain: m.retain, delay: w.delay, messageExpiry: m.props?.messageExpiryInterval ?? null, atMs };
}

/** A saved will's message (its expiry interval counts from when it is published). */
export function willMessageOf(w: SavedWill, stamp: Stamp): MqttMessage {
  const r = w.record;
  const props = w.messageExpiry === null ? r.props : { ...r.props, messageExpiryInterval: w.messageExpiry };
  return new MqttMessage(r.rawTopic, Buffer.from(r.payload), r.qos, w.retain, DEFAULT_PRIORITY, stamp, props, null);
}

/** `wills` in order up to `maxCount` of them and `maxBytes` of their records. */
function bounded(wills: Iterable<SavedOpenWill>, maxCount: number, maxBytes: number): OpenWills {
  const kept: SavedOpenWill[] = [];
  let bytes = 0;
  let overLimit = 0;
  let delayed = 0;
  for (const w of wills) {
    const size = openWillSize(w);
    if (kept.length >= maxCount || bytes + size > maxBytes) {
      overLimit++;
      continue;
    }
    kept.push(w);
    bytes += size;
    if (w.sessionExpiry !== 0 && w.will.delay !== 0) delayed++;
  }
  return { wills: kept, overLimit, delayed };
}

function* connectedWills(router: MqttRouter): Generator<SavedOpenWill, void, undefined> {
  for (const s of router.sessions.values()) {
    if (s.link === null || s.will === null || s.ended) continue;
    yield { clientId: s.clientId, user: s.user, sessionExpiry: s.expiryInterval, will: savedWillOf(s.will, 0) };
  }
}

/**
 * The wills of the connections open now, taken at once (a save's sessions are taken later, one
 * by one): references to immutable messages, one pass over the sessions.
 */
export function takeOpenWills(router: MqttRouter): OpenWills {
  return bounded(connectedWills(router), router.retained.maxCount, router.retained.maxBytes);
}

export interface OpenWillRestore {
  aclFor(user: string): AclEntry | undefined;
  /** When psrtd was last alive: the connections ended then. */
  readonly aliveAtMs: number;
  readonly nowMs: number;
  readonly stamp: Stamp;
  /** Client ids of the loaded sessions that were connected when they were saved. */
  readonly connectedAtSave: ReadonlySet<string>;
}

export interface OpenWillReport {
  /** Published at load (put in `due`) or waiting for their delay. */
  readonly openWills: number;
  /** Their user has no ACL entry any more (their publish right cannot be checked). */
  readonly openWillsWithoutAcl: number;
  /** Beyond today's retained_max_count / retained_max_bytes. */
  readonly openWillsOverLimit: number;
}

/**
 * Gives each saved open will to its owner: the loaded session of its client, whose will then
 * waits for its delay from when psrtd was last alive, or a session made for it alone (a clean
 * session, or one that ended while psrtd was down), whose will is due now. Those due now are
 * added to `due`, to be published once every session is loaded (so they get it too). A loaded
 * session whose record says its connection had ended (or holds a delayed will) was taken after
 * the open wills: its record wins.
 */
export function restoreOpenWills(router: MqttRouter, saved: readonly SavedOpenWill[], o: OpenWillRestore, due: MqttSession[]): OpenWillReport {
  const { wills, overLimit } = bounded(saved, router.retained.maxCount, router.retained.maxBytes);
  let openWills = 0;
  let openWillsWithoutAcl = 0;
  for (const w of wills) {
    const loaded = router.sessions.get(w.clientId);
    if (loaded !== undefined && (!o.connectedAtSave.has(w.clientId) || loaded.will !== null || loaded.user !== w.user)) continue;
    const acl = loaded?.acl ?? o.aclFor(w.user)?.forClient(w.user, w.clientId);
    if (acl === undefined) {
      openWillsWithoutAcl++;
      continue;
    }
    const owner = loaded ?? new MqttSession(w.clientId, w.user, acl, router);
    owner.will = { message: willMessageOf(w.will, o.stamp), delay: w.will.delay };
    openWills++;
    const dueMs = loaded === undefined ? 0 : o.aliveAtMs + Math.min(w.will.delay, loaded.expiryInterval) * 1000;
    if (dueMs <= o.nowMs) due.push(owner);
    else router.scheduleWill(owner, dueMs - o.nowMs);
  }
  return { openWills, openWillsWithoutAcl, openWillsOverLimit: overLimit };
}
