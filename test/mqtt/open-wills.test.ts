/**
 * The wills of connections open at a save of `mqtt.persistence_file` (src/mqtt/open-wills.ts,
 * open-will-codec.ts, format version 4 in state-codec.ts), in process. Pass criteria: the
 * section is written exactly as laid out here and only when such wills exist (version 2 or 3
 * otherwise, as before); it round-trips with v5 properties, delay, message expiry and retain;
 * a version 3 file still loads; every truncation and flipped byte of a version 4 file is
 * refused; at restore a clean session's will goes out at once, before restore returns and
 * after the loaded sessions are in place (they get it), a persistent session's waits for its
 * delay from when psrtd was last alive, today's ACL applies, the bounds (retained_max_count /
 * retained_max_bytes) hold at save and load; a will-bearing connection's end moves the change
 * counter, clean sessions' too.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { FULL_ACCESS, parseAclText } from '../../src/auth/acl.js';
import { Broker } from '../../src/broker/broker.js';
import { stampNow } from '../../src/broker/delivery.js';
import { nullLogger } from '../../src/log/logger.js';
import { ErrorCode, PsrtError } from '../../src/protocol/errors.js';
import { MqttMessage, type CarriedProperties } from '../../src/mqtt/message.js';
import type { SavedOpenWill } from '../../src/mqtt/open-will-codec.js';
import { MqttPersistentState, type RestoreOptions } from '../../src/mqtt/persistent-state.js';
import { MqttRouter } from '../../src/mqtt/router.js';
import type { MqttLink, MqttSession } from '../../src/mqtt/session.js';
import { decodeState, encodeState } from '../../src/mqtt/state-codec.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/#.*$/gm, '').replace(/\s+/g, ''), 'hex');
const withChecksum = (body: Buffer): Buffer => Buffer.concat([body, createHash('sha256').update(body).digest()]);
const OPTS = { qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0, identifier: 0 } as const;

function newRouter(retainedMaxCount = 10, retainedMaxBytes = 1e6): MqttRouter {
  const broker = new Broker({ maxTopicDepth: 8, dataQueue: 1024, dataQueueBytes: 1 << 30, drainTimeoutMs: 1000, latencyWarnUs: 1e15, pingFloorMs: 100 }, nullLogger);
  return new MqttRouter(broker, { queue: { maxQueued: 100, maxQueuedBytes: 0, pauseAt: 100, drainTimeoutMs: 1000 }, retainedMaxCount, retainedMaxBytes, maxTopicDepth: 8 }, nullLogger);
}

const idle: MqttLink = { version: 5, sendWindow: 10, sendPublish: () => true, sendPubrel: () => undefined, dropSlow: () => undefined };

/** A client connected now with a will (a clean session when `expiry` is 0). */
function connected(router: MqttRouter, id: string, will: { topic: string; delay?: number; props?: CarriedProperties }, expiry = 0): MqttSession {
  const { session } = router.openSession(id, expiry === 0, '_', FULL_ACCESS);
  router.setExpiry(session, expiry);
  router.setWill(session, { message: new MqttMessage(will.topic, Buffer.from('offline'), 1, true, 0x7f, stampNow(), will.props ?? null, null), delay: will.delay ?? 0 });
  session.resume(idle);
  return session;
}

function saveFile(router: MqttRouter, savedAtMs = Date.now()): Buffer {
  const snap = new MqttPersistentState(router).snapshot(savedAtMs);
  return encodeState({ retained: snap.retained, savedAtMs, sessions: snap.sessions, openWills: snap.openWills });
}

function restore(file: Buffer, into: MqttRouter, o: Partial<RestoreOptions> = {}): ReturnType<MqttPersistentState['restore']> {
  return new MqttPersistentState(into).restore(decodeState(file), {
    aclFor: o.aclFor ?? (() => FULL_ACCESS),
    maxSessionExpiry: 0xffffffff,
    nowMs: o.nowMs ?? Date.now(),
    stamp: stampNow(),
  });
}

const retainedPayload = (r: MqttRouter, topic: string): string | undefined => r.retainedFor(topic)[0]?.payload.toString();

/** A version 4 file: no retained message, no session, no bridge, one open will. */
const V4_BODY = hex(`
  50 53 52 54 52 45 54 00  00 04  00 00 00 00   # magic, version 4, no retained message
  42 78 bc fe 56 80 00 00   # saved at 1700000000000 ms
  00                        # no session
  00 00 00 00               # no bridge
  00 00 00 01               # 1 open will
  00 00 00 02 64 31         # client id "d1"
  00 00 00 01 5f            # user "_"
  00 00 00 00               # session expiry 0: a clean session
  03                        # will flags: retain, message expiry follows
  00 00 00 05               # will delay 5 s
  00 00 00 3c               # message expiry interval 60 s
  01 00                     # the message: QoS 1, no optional field
  00 00 00 0d 64 65 76 2f 64 31 2f 73 74 61 74 75 73   # topic "dev/d1/status"
  00 00 00 07 6f 66 66 6c 69 6e 65                      # payload "offline"
`);
const V4_FILE = withChecksum(V4_BODY);
const D1_WILL: SavedOpenWill = {
  clientId: 'd1', user: '_', sessionExpiry: 0,
  will: { record: { rawTopic: 'dev/d1/status', payload: Buffer.from('offline'), qos: 1, props: null, expiresAtMs: 0 }, retain: true, delay: 5, messageExpiry: 60, atMs: 0 },
};

describe('open connections\' wills: codec', () => {
  test('the section is written and read as laid out (version 4)', () => {
    assert.deepEqual(encodeState({ retained: [], savedAtMs: 1_700_000_000_000, sessions: [], openWills: [D1_WILL] }), V4_FILE);
    const d = decodeState(V4_FILE);
    assert.equal(d.version, 4);
    assert.deepEqual(d.openWills, [D1_WILL]);
    assert.deepEqual(d.bridges, []);
  });

  test('without open wills the version stays 2 (or 3 with bridge exports), and version 3 files load', () => {
    assert.equal(decodeState(encodeState({ retained: [], savedAtMs: 1, sessions: [], openWills: [] })).version, 2);
    const bridges = [{ name: 'b', exports: [{ topic: 't', payload: Buffer.from('p'), priority: 1, qos: 1 as const, contentType: undefined, userProperties: undefined }] }];
    const v3 = encodeState({ retained: [], savedAtMs: 1, sessions: [], bridges });
    const d3 = decodeState(v3);
    assert.equal(d3.version, 3);
    assert.deepEqual(d3.openWills, []);
    const d4 = decodeState(encodeState({ retained: [], savedAtMs: 1, sessions: [], bridges, openWills: [D1_WILL] }));
    assert.equal(d4.version, 4);
    assert.deepEqual(d4.bridges, d3.bridges);
    assert.deepEqual(d4.openWills, [D1_WILL]);
  });

  test('v5 properties round-trip; two wills of one client id are refused', () => {
    const props: CarriedProperties = { payloadFormatIndicator: 1, contentType: 'text/plain', responseTopic: 'r/1', correlationData: Buffer.from([0, 255]), userProperties: [['site', 'a']] };
    const w: SavedOpenWill = { ...D1_WILL, sessionExpiry: 3600, will: { ...D1_WILL.will, record: { ...D1_WILL.will.record, props }, messageExpiry: null, retain: false } };
    assert.deepEqual(decodeState(encodeState({ retained: [], savedAtMs: 1, sessions: [], openWills: [w] })).openWills, [w]);
    assert.throws(() => decodeState(encodeState({ retained: [], savedAtMs: 1, sessions: [], openWills: [w, w] })), /client id saved twice/);
  });

  test('every truncation and every flipped byte of a version 4 file is refused', () => {
    const refused = (f: Buffer): boolean => {
      try {
        decodeState(f);
        return false;
      } catch (e) {
        return e instanceof PsrtError && e.code === ErrorCode.BadStateFile;
      }
    };
    for (let n = 0; n < V4_FILE.length; n++) assert.ok(refused(V4_FILE.subarray(0, n)), `truncated to ${n}`);
    for (let i = 0; i < V4_FILE.length; i++) {
      const f = Buffer.from(V4_FILE);
      f[i] = (f[i] as number) ^ 0x01;
      assert.ok(refused(f), `byte ${i} flipped`);
    }
  });
});

describe('open connections\' wills: save and restore', () => {
  test('a clean session\'s will goes out during the restore, after the loaded sessions are in place', () => {
    const a = newRouter();
    a.retained.put(new MqttMessage('dev/d1/status', Buffer.from('online'), 1, true, 0x7f, stampNow(), null, null));
    const watcher = a.openSession('watcher', false, '_', FULL_ACCESS).session;
    a.setExpiry(watcher, 3600);
    a.subscribe(watcher, 'dev/+/status', OPTS);
    a.connectionLost(watcher, false);
    connected(a, 'd1', { topic: 'dev/d1/status', delay: 30 }); // a clean session: its delay does not apply
    const file = saveFile(a);
    assert.equal(decodeState(file).version, 4);
    const b = newRouter();
    const report = restore(file, b);
    assert.equal(report.openWills, 1);
    assert.equal(report.willsPublished, 1);
    assert.equal(retainedPayload(b, 'dev/d1/status'), 'offline', 'replaces the loaded retained message');
    assert.equal(b.sessions.get('watcher')?.queuedCount, 1, 'the loaded session got it');
    assert.equal(b.sessions.has('d1'), false, 'a clean session is not loaded');
  });

  test('a persistent session\'s will waits for its delay from when psrtd was last alive; its client coming back cancels it', () => {
    const a = newRouter();
    const props: CarriedProperties = { contentType: 'text/plain', userProperties: [['k', 'v']] };
    connected(a, 'p1', { topic: 'dev/p1/status', delay: 60, props }, 3600);
    connected(a, 'p2', { topic: 'dev/p2/status', delay: 10 }, 3600);
    const savedAt = Date.now() - 20_000; // p2's delay has passed meanwhile
    const b = newRouter();
    const report = restore(saveFile(a, savedAt), b);
    assert.deepEqual([report.sessions, report.openWills, report.willsPublished], [2, 2, 1]);
    assert.equal(retainedPayload(b, 'dev/p2/status'), 'offline');
    assert.equal(retainedPayload(b, 'dev/p1/status'), undefined);
    const p1 = b.sessions.get('p1');
    assert.ok(p1 !== undefined);
    // Scheduled as a delay from the restore's clock reading: a millisecond may pass in between.
    assert.ok(Math.abs(b.willDueMs(p1) - (savedAt + 60_000)) <= 5, `due ${String(b.willDueMs(p1) - savedAt)} ms after the save`);
    assert.deepEqual(p1.will?.message.props, props);
    b.openSession('p1', false, '_', FULL_ACCESS); // back within the delay
    assert.equal(p1.will, null);
    assert.equal(b.willDueMs(p1), 0);
  });

  test('today\'s ACL applies: no entry drops the will, a denied topic is not published', () => {
    const a = newRouter();
    connected(a, 'd1', { topic: 'dev/d1/status' });
    connected(a, 'd2', { topic: 'secret/d2' });
    const acl = parseAclText('_:\n  pub: ["dev/#"]\n', 'acl.yml').get('_');
    const b = newRouter();
    const report = restore(saveFile(a), b, { aclFor: () => acl });
    assert.equal(retainedPayload(b, 'dev/d1/status'), 'offline');
    assert.equal(retainedPayload(b, 'secret/d2'), undefined);
    const c = newRouter();
    const none = restore(saveFile(a), c, { aclFor: () => undefined });
    assert.deepEqual([report.openWills, none.openWills, none.openWillsWithoutAcl], [2, 0, 2]);
    assert.equal(retainedPayload(c, 'dev/d1/status'), undefined);
  });

  test('bounded by retained_max_count / retained_max_bytes at the save and at the load', () => {
    const a = newRouter(2);
    for (const id of ['d1', 'd2', 'd3']) connected(a, id, { topic: `dev/${id}/status` });
    const snap = new MqttPersistentState(a).snapshot(Date.now());
    assert.deepEqual([snap.openWills.length, snap.openWillsOverLimit], [2, 1]);
    const file = saveFile(a);
    assert.equal(restore(file, newRouter(1)).openWillsOverLimit, 1);
    assert.equal(restore(file, newRouter(10, 10)).openWillsOverLimit, 2, 'bytes');
  });

  test('only connected sessions\' wills are saved; a will-bearing connection\'s start and end are changes', () => {
    const a = newRouter();
    const before = new MqttPersistentState(a).changes;
    const d1 = connected(a, 'd1', { topic: 'dev/d1/status' });
    const afterConnect = new MqttPersistentState(a).changes;
    assert.ok(afterConnect > before, 'a connection with a will is a change');
    a.connectionLost(d1, false); // clean DISCONNECT: the will is discarded
    assert.ok(new MqttPersistentState(a).changes > afterConnect, 'its end is a change');
    assert.deepEqual(new MqttPersistentState(a).snapshot(Date.now()).openWills, []);
    assert.equal(decodeState(saveFile(a)).version, 2);
  });
});
