/**
 * What `mqtt.persistence_file` takes from the router and gives back (src/mqtt/persistent-state.ts),
 * in process: a router's sessions saved, encoded, decoded and restored into a fresh router.
 * Pass criteria: subscriptions (shared ones too), queued and in-flight deliveries and inbound
 * QoS 2 ids come back, a message queued for several sessions is one object again; a restored
 * session queues what is published to its filters; today's limits apply (max_session_expiry,
 * queue bounds, the ACL, a user without ACL entry); the expiry counts from the connection's end,
 * or from the save for a session connected then, and 0xFFFFFFFF never expires; only persistent
 * sessions' changes move the change counter.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FULL_ACCESS, parseAclText } from '../../src/auth/acl.js';
import { Broker } from '../../src/broker/broker.js';
import { stampNow } from '../../src/broker/delivery.js';
import { nullLogger } from '../../src/log/logger.js';
import { MqttMessage } from '../../src/mqtt/message.js';
import { MqttPersistentState, type RestoreOptions } from '../../src/mqtt/persistent-state.js';
import { MqttRouter } from '../../src/mqtt/router.js';
import type { MqttLink, MqttSession } from '../../src/mqtt/session.js';
import { decodeState, encodeState, encodeStateChunks } from '../../src/mqtt/state-codec.js';

const OPTS = { qos: 2, noLocal: false, retainAsPublished: false, retainHandling: 0, identifier: 0 } as const;

function newRouter(maxQueued = 100): MqttRouter {
  const broker = new Broker({ maxTopicDepth: 8, dataQueue: 1024, dataQueueBytes: 1 << 30, drainTimeoutMs: 1000, latencyWarnUs: 1e15, pingFloorMs: 100 }, nullLogger);
  return new MqttRouter(broker, { queue: { maxQueued, maxQueuedBytes: 0, pauseAt: maxQueued, drainTimeoutMs: 1000 }, retainedMaxCount: 10, retainedMaxBytes: 1e6, maxTopicDepth: 8 }, nullLogger);
}

function publish(router: MqttRouter, topic: string, payload: string, qos: 0 | 1 | 2 = 1): void {
  router.publish(new MqttMessage(topic, Buffer.from(payload), qos, false, 0x7f, stampNow(), null, null), null);
}

/** A persistent session that subscribed to `filters` and went offline. */
function offline(router: MqttRouter, id: string, filters: string[], expiry = 3600): MqttSession {
  const { session } = router.openSession(id, false, '_', FULL_ACCESS);
  router.setExpiry(session, expiry);
  for (const f of filters) router.subscribe(session, f, OPTS);
  router.connectionLost(session, false);
  return session;
}

/** A link that records what it is sent and never acknowledges. */
function link(sent: string[]): MqttLink {
  return {
    version: 4,
    sendWindow: 2,
    sendPublish: (msg, qos, _retain, id, dup) => { sent.push(`${msg.rawTopic}:${qos}:${id}:${dup ? 'dup' : 'new'}`); return true; },
    sendPubrel: (id) => { sent.push(`pubrel:${id}`); },
    dropSlow: () => undefined,
  };
}

function restore(from: MqttRouter, into: MqttRouter, o: Partial<RestoreOptions> & { savedAtMs?: number } = {}): ReturnType<MqttPersistentState['restore']> {
  const snap = new MqttPersistentState(from).snapshot(o.savedAtMs ?? Date.now());
  const file = encodeState({ retained: snap.retained, savedAtMs: o.savedAtMs ?? snap.savedAtMs, sessions: snap.sessions });
  return new MqttPersistentState(into).restore(decodeState(file), {
    aclFor: o.aclFor ?? (() => FULL_ACCESS),
    maxSessionExpiry: o.maxSessionExpiry ?? 0xffffffff,
    ...(o.maxSubscriptions === undefined ? {} : { maxSubscriptions: o.maxSubscriptions }),
    ...(o.maxSubscriptionBytes === undefined ? {} : { maxSubscriptionBytes: o.maxSubscriptionBytes }),
    nowMs: o.nowMs ?? Date.now(),
    stamp: stampNow(),
  });
}

describe('MQTT persistent state: save and restore sessions', () => {
  test('subscriptions, queue, in-flight and QoS 2 state come back and keep working', () => {
    const a = newRouter();
    const s = offline(a, 'dev1', ['cmd/#', '$share/g/grp/#']);
    offline(a, 'dev2', ['cmd/#']);
    const sent: string[] = [];
    const { session } = a.openSession('dev1', false, '_', FULL_ACCESS);
    assert.equal(session, s);
    a.setExpiry(s, 3600);
    s.resume(link(sent));
    publish(a, 'cmd/1', '1');
    publish(a, 'cmd/2', '2', 2);
    publish(a, 'cmd/3', '3');
    assert.equal(s.received(2, false), true); // cmd/2 released: PUBREL outstanding
    s.addInboundQos2(77);
    a.connectionLost(s, false);
    const b = newRouter();
    const report = restore(a, b);
    assert.equal(report.sessions, 2);
    assert.equal(b.subscriptionCount, 3);
    const r1 = b.sessions.get('dev1');
    const r2 = b.sessions.get('dev2');
    assert.ok(r1 !== undefined && r2 !== undefined);
    assert.deepEqual([r1.inflightCount, r1.queuedCount, r2.queuedCount], [2, 1, 3]);
    assert.equal(r1.hasInboundQos2(77), true);
    assert.equal(r1.connected, false);
    publish(b, 'cmd/4', 'after');
    publish(b, 'grp/x', 'shared');
    assert.deepEqual([r1.queuedCount, r2.queuedCount], [3, 4]);
    const again: string[] = [];
    r1.resume(link(again));
    assert.deepEqual(again, ['cmd/1:1:1:dup', 'pubrel:2']);
    for (const r of [a, b]) r.closeAll();
  });

  test('a message queued for many sessions is one object after the restore', () => {
    const a = newRouter();
    for (let i = 0; i < 5; i++) offline(a, `d${i}`, ['all']);
    publish(a, 'all', 'x');
    const b = newRouter();
    restore(a, b);
    const sent = new Set<unknown>();
    for (const s of b.sessions.values()) {
      s.resume({ ...link([]), sendPublish: (msg) => { sent.add(msg); return true; } });
    }
    assert.equal(sent.size, 1);
    for (const r of [a, b]) r.closeAll();
  });

  test('today\'s limits: max_session_expiry, queue bounds, ACL, users without ACL entry', () => {
    const a = newRouter();
    offline(a, 'long', ['ok/#', 'secret/#'], 7200);
    publish(a, 'secret/x', 'first');
    for (let i = 0; i < 5; i++) publish(a, 'ok/x', String(i));
    publish(a, 'secret/x', 'last');
    const { session: gone } = a.openSession('gone', false, 'olduser', FULL_ACCESS);
    a.setExpiry(gone, 3600);
    a.connectionLost(gone, false);
    const acl = parseAclText('_:\n  sub: ["ok/#"]\n  pub: ["#"]\n', 'acl.yml');
    const b = newRouter(3);
    const now = Date.now();
    const report = restore(a, b, { aclFor: (u) => acl.get(u), maxSessionExpiry: 60, nowMs: now });
    assert.deepEqual([report.sessions, report.sessionsWithoutAcl, report.subscriptionsDenied, report.messagesDenied], [1, 1, 1, 2]);
    const s = b.sessions.get('long');
    assert.ok(s !== undefined);
    assert.equal(s.expiryInterval, 60);
    assert.ok(b.endsAtMs(s) <= now + 60_000 + 50, 'ends within today\'s max_session_expiry');
    assert.equal(s.queuedCount, 3, 'the readable ones, up to the queue bound');
    assert.equal(b.counters.droppedQueueFull, 2);
    const sent: string[] = [];
    s.resume({ ...link(sent), sendWindow: 10 });
    assert.deepEqual(sent, ['ok/x:1:1:new', 'ok/x:1:2:new', 'ok/x:1:3:new']);
    assert.deepEqual(s.subscriptions.keys(), ['ok/#']);
    for (const r of [a, b]) r.closeAll();
  });

  test('%u / %c ACL levels are bound to the loaded session\'s login and client id', () => {
    const a = newRouter();
    for (const [id, user] of [['pump-7', 'alice'], ['pump-8', 'bob']] as const) {
      const { session } = a.openSession(id, false, user, FULL_ACCESS);
      a.setExpiry(session, 3600);
      for (const f of ['site/alice/#', 'dev/pump-7/#']) a.subscribe(session, f, OPTS);
      a.connectionLost(session, false);
    }
    const entry = '  sub: ["site/%u/#", "dev/%c/#"]\n';
    const acl = parseAclText(`alice:\n${entry}bob:\n${entry}`, 'acl.yml');
    const b = newRouter();
    const report = restore(a, b, { aclFor: (u) => acl.get(u) });
    assert.equal(report.subscriptionsDenied, 2, "bob's two subscriptions name alice's and pump-7's topics");
    assert.deepEqual(b.sessions.get('pump-7')?.subscriptions.keys(), ['site/alice/#', 'dev/pump-7/#']);
    assert.deepEqual(b.sessions.get('pump-8')?.subscriptions.keys(), []);
    for (const r of [a, b]) r.closeAll();
  });

  test('today\'s max_subscriptions and max_subscription_bytes bound what a loaded session keeps', () => {
    const a = newRouter();
    offline(a, 'many', ['a/1', 'a/2', 'a/3', 'a/4']);
    offline(a, 'long', ['b/xxxxxxxxxx', 'b/y', 'b/zzzzzzzzzz']);
    const b = newRouter();
    const byCount = restore(a, b, { maxSubscriptions: 2 });
    assert.equal(byCount.subscriptionsOverLimit, 3);
    assert.deepEqual(b.sessions.get('many')?.subscriptions.keys(), ['a/1', 'a/2']);
    const c = newRouter();
    const byBytes = restore(a, c, { maxSubscriptionBytes: 16 });
    assert.equal(byBytes.subscriptionsOverLimit, 1, 'a/1..a/4 fit in 16 characters (12), the third b/… does not');
    assert.equal(c.sessions.get('many')?.subscriptions.size, 4);
    assert.deepEqual(c.sessions.get('long')?.subscriptions.keys(), ['b/xxxxxxxxxx', 'b/y']);
    const d = newRouter();
    assert.equal(restore(a, d).subscriptionsOverLimit, 0, 'no limits given: all kept');
    for (const r of [a, b, c, d]) r.closeAll();
  });

  test('expiry: from the connection\'s end, from the save when connected, never for 0xFFFFFFFF', () => {
    const a = newRouter();
    offline(a, 'offline', ['a'], 10);
    const { session: online } = a.openSession('online', false, '_', FULL_ACCESS);
    a.setExpiry(online, 5);
    const { session: forever } = a.openSession('forever', false, '_', FULL_ACCESS);
    a.setExpiry(forever, 0xffffffff);
    a.connectionLost(forever, false);
    const now = Date.now();
    // Loaded 7 s after the save: 'online' (5 s from the save) is gone, 'offline' has ~3 s left.
    const b = newRouter();
    const report = restore(a, b, { savedAtMs: now, nowMs: now + 7000 });
    assert.deepEqual([report.sessions, report.sessionsExpired], [2, 1]);
    const off = b.sessions.get('offline');
    assert.ok(off !== undefined);
    const left = b.endsAtMs(off) - Date.now();
    assert.ok(left > 0 && left <= 3100, `${left} ms left`);
    const ever = b.sessions.get('forever');
    assert.ok(ever !== undefined);
    assert.equal(b.endsAtMs(ever), 0, 'no expiry timer');
    for (const r of [a, b]) r.closeAll();
  });

  test('a client back with a clean start during a save: its id is in the file once', () => {
    const a = newRouter();
    for (let i = 0; i < 3; i++) offline(a, `d${i}`, [`d/${i}`]);
    const state = new MqttPersistentState(a);
    const before = state.changes;
    const snap = state.snapshot(Date.now());
    const chunks: Buffer[] = [];
    // 1-byte chunks: each session is its own chunk, as in a large file's save.
    for (const chunk of encodeStateChunks(snap, 1)) {
      chunks.push(chunk);
      if (snap.sessionCount === 1 && a.sessions.get('d0')?.subscriptions.size === 1) {
        // d0 was taken; its client comes back with a clean start (v5: and an expiry interval).
        const { session } = a.openSession('d0', true, '_', FULL_ACCESS);
        a.setExpiry(session, 600);
        a.subscribe(session, 'new/#', OPTS);
        a.subscribe(session, 'new2/#', OPTS);
      }
    }
    const decoded = decodeState(Buffer.concat(chunks));
    assert.deepEqual(decoded.sessions.map((s) => s.clientId).sort(), ['d0', 'd1', 'd2']);
    assert.ok(state.changes > before, 'the next save holds the new session');
    const b = newRouter();
    const next = state.snapshot(Date.now());
    const report = new MqttPersistentState(b).restore(decodeState(encodeState(next)), { aclFor: () => FULL_ACCESS, maxSessionExpiry: 0xffffffff, nowMs: Date.now(), stamp: stampNow() });
    assert.equal(report.sessions, 3);
    assert.deepEqual(b.sessions.get('d0')?.subscriptions.keys(), ['new/#', 'new2/#']);
    for (const r of [a, b]) r.closeAll();
  });

  test('a lowered max_session_expiry counts from the connection\'s end, not from the save', () => {
    const a = newRouter();
    offline(a, 'away', ['a'], 7200);
    const now = Date.now();
    // Saved 50 s after the device left, loaded 20 s later with max_session_expiry 60: it ended
    // 60 s after it left, 10 s ago.
    const b = newRouter();
    const report = restore(a, b, { savedAtMs: now + 50_000, nowMs: now + 70_000, maxSessionExpiry: 60 });
    assert.deepEqual([report.sessions, report.sessionsExpired], [0, 1]);
    // Loaded 30 s after it left: 30 s left of today's 60.
    const c = newRouter();
    assert.equal(restore(a, c, { savedAtMs: now + 20_000, nowMs: now + 30_000, maxSessionExpiry: 60 }).sessions, 1);
    const s = c.sessions.get('away');
    assert.ok(s !== undefined);
    const left = c.endsAtMs(s) - Date.now();
    assert.ok(left > 29_000 && left <= 30_100, `${left} ms left`);
    for (const r of [a, b, c]) r.closeAll();
  });

  test('a session resumed under a narrower ACL (SIGHUP) loses what its removed subscriptions queued', () => {
    const r = newRouter();
    const s = offline(r, 'dev', ['ok/#', 'secret/#']);
    publish(r, 'secret/a', 'no');
    publish(r, 'secret/c', 'no', 2);
    publish(r, 'ok/a', 'yes');
    const { session: inflight } = r.openSession('dev', false, '_', FULL_ACCESS);
    inflight.resume(link([])); // secret/a and secret/c go out, ok/a waits
    r.connectionLost(inflight, false);
    publish(r, 'secret/b', 'no');
    const narrow = parseAclText('_:\n  sub: ["ok/#"]\n', 'acl.yml').get('_');
    assert.ok(narrow !== undefined);
    const { session, present } = r.openSession('dev', false, '_', narrow);
    assert.equal(session, s);
    assert.equal(present, true);
    const sent: string[] = [];
    session.resume(link(sent));
    // The QoS 2 one goes on with PUBREL: the client may hold packet id 2 until it comes.
    assert.deepEqual(sent, ['pubrel:2', 'ok/a:1:3:new'], 'neither the unacknowledged secret/a nor the queued secret/b');
    assert.deepEqual(session.subscriptions.keys(), ['ok/#']);
    r.closeAll();
  });

  test('a narrower ACL keeps what a kept subscription delivers, also where the ACL check alone would refuse the topic', () => {
    const r = newRouter();
    offline(r, 'dev', ['a/+/b', 'secret/#']);
    publish(r, 'a//b', 'empty level');
    publish(r, 'secret/x', 'no');
    const narrow = parseAclText('_:\n  sub: ["a/+/b"]\n', 'acl.yml').get('_');
    assert.ok(narrow !== undefined);
    assert.equal(narrow.canSubscribe('a//b'), false, 'the premise: the topic alone is refused');
    const { session } = r.openSession('dev', false, '_', narrow);
    const sent: string[] = [];
    session.resume(link(sent));
    assert.deepEqual(sent, ['a//b:1:1:new']);
    r.closeAll();
  });

  test('a loaded session under a narrower ACL: QoS 1 in flight dropped, QoS 2 in flight ends with PUBREL', () => {
    const a = newRouter();
    offline(a, 'dev', ['ok/#', 'secret/#']);
    publish(a, 'secret/a', 'no');
    publish(a, 'secret/c', 'no', 2);
    const { session } = a.openSession('dev', false, '_', FULL_ACCESS);
    session.resume(link([]));
    a.connectionLost(session, false);
    publish(a, 'ok/a', 'yes');
    const acl = parseAclText('_:\n  sub: ["ok/#"]\n', 'acl.yml');
    const b = newRouter();
    const report = restore(a, b, { aclFor: (u) => acl.get(u) });
    assert.deepEqual([report.subscriptionsDenied, report.messagesDenied], [1, 2]);
    const sent: string[] = [];
    b.sessions.get('dev')?.resume(link(sent));
    assert.deepEqual(sent, ['pubrel:2', 'ok/a:1:3:new']);
    for (const r of [a, b]) r.closeAll();
  });

  test('only persistent sessions move the change counter', () => {
    const r = newRouter();
    const { session: clean } = r.openSession('clean', true, '_', FULL_ACCESS);
    r.setExpiry(clean, 0);
    const before = r.sessionChanges;
    r.subscribe(clean, 'c/#', OPTS);
    clean.resume(link([]));
    publish(r, 'c/1', 'x');
    clean.completed(1);
    r.connectionLost(clean, false);
    assert.equal(r.sessionChanges, before, 'clean session traffic is no change');
    const p = offline(r, 'p', ['p/#']);
    const afterOpen = r.sessionChanges;
    assert.ok(afterOpen > before);
    publish(r, 'p/1', 'x');
    assert.ok(r.sessionChanges > afterOpen, 'a message queued for a persistent session is a change');
    const queued = r.sessionChanges;
    r.endSession(p, false);
    assert.ok(r.sessionChanges > queued, 'its end is a change');
    r.closeAll();
  });
});
