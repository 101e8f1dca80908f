/**
 * Broker fan-out down to the bytes handed to a data socket: small frames are encoded back to
 * back into shared slabs (FrameSlab) and a subscriber's consecutive frames go out as one range
 * of a slab; large frames have their own buffer, chunked ones their pieces. Whatever the mix,
 * each subscriber's bytes must be exactly its frames, in order, and frames still queued must
 * survive any number of later publishes.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { FULL_ACCESS } from '../../src/auth/acl.js';
import { Broker } from '../../src/broker/broker.js';
import { stampNow, type Stamp } from '../../src/broker/delivery.js';
import type { DataChannel } from '../../src/broker/data-channel.js';
import type { DataPort, PublisherPort } from '../../src/broker/ports.js';
import type { Session } from '../../src/broker/session.js';
import { nullLogger } from '../../src/log/logger.js';
import { ByteQueue } from '../../src/protocol/byte-queue.js';
import { ControlDecoder } from '../../src/protocol/control.js';
import { encodeDataFrame, encodePublish } from '../../src/protocol/encode.js';

/** Records every write: the buffers of each call. */
class RecordingPort implements DataPort {
  readonly writes: Buffer[][] = [];
  /** What write() answers: false = the socket buffer is full (wait for onWritable). */
  writable = true;
  channel: DataChannel | null = null;
  /** 'sync': acknowledge each write at once (as a socket that took it all); 'held': see ack(). */
  acks: 'none' | 'sync' | 'held' = 'none';
  private held: { frames: readonly Buffer[]; written: (() => void) | undefined }[] = [];
  write(frames: readonly Buffer[], written?: () => void): boolean {
    if (this.acks === 'held') {
      // Like the kernel, read the bytes only when the write completes: memory reused before
      // the acknowledgement would show up as corrupted frames.
      this.held.push({ frames, written });
      return this.writable;
    }
    this.writes.push(frames.map((f) => Buffer.from(f))); // copies: later writes must not change them
    if (this.acks === 'sync') written?.();
    return this.writable;
  }
  /** Completes the held writes: copies their bytes now, then acknowledges them. */
  ack(): void {
    for (const h of this.held.splice(0)) {
      this.writes.push(h.frames.map((f) => Buffer.from(f)));
      h.written?.();
    }
  }
  destroy(): void {
    /* nothing to close */
  }
  end(): void {
    /* nothing to close */
  }
  get bytes(): Buffer {
    return Buffer.concat(this.writes.flat());
  }
}

const control = { close: () => undefined };
/** Brokers of the running test: closed after it (their ping timers would keep the process alive). */
const open: Broker[] = [];
afterEach(() => {
  for (const b of open.splice(0)) b.closeAll();
});
const publisher = { blockedOn: 0, resume: () => undefined };

function setup(masks: readonly (readonly string[])[], dataQueue = 1 << 20): { broker: Broker; ports: RecordingPort[]; pub: Session } {
  const broker = new Broker(
    { maxTopicDepth: 8, dataQueue, dataQueueBytes: 1 << 30, drainTimeoutMs: 1000, latencyWarnUs: 1e15, pingFloorMs: 100 },
    nullLogger,
  );
  open.push(broker);
  const ports = masks.map((m) => {
    const s = broker.createSession('sub', 'addr', FULL_ACCESS, control);
    const port = new RecordingPort();
    port.channel = broker.attachData(s.token, port, 255);
    broker.subscribe(s, m);
    return port;
  });
  return { broker, ports, pub: broker.createSession('pub', 'addr', FULL_ACCESS, control) };
}

/**
 * Publishes through the real request decoder (large ones arrive chunked, as from a socket),
 * each with a receive time of its own, or all with `received` (as one read's requests).
 */
function publish(broker: Broker, pub: Session, reads: readonly Buffer[], received?: Stamp, by: PublisherPort = publisher): void {
  const queue = new ByteQueue();
  const decoder = new ControlDecoder(queue, { maxPubSize: 1 << 22, maxTopicLength: 1000 });
  for (const r of reads) queue.push(r);
  for (let req = decoder.next(); req !== null; req = decoder.next()) {
    assert.ok(req.kind === 'publish');
    assert.equal(broker.publish(pub, req, by, received ?? stampNow()), 1);
  }
}

const payload = (n: number, seed: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff));

describe('fan-out bytes', () => {
  test('consecutive small frames of one subscriber go out as one range, byte-exact', () => {
    const { broker, ports, pub } = setup([['t/#']]);
    const msgs = [1, 2, 3].map((i) => ({ topic: `t/${i}`, payload: payload(50, i) }));
    publish(broker, pub, [Buffer.concat(msgs.map((m) => encodePublish(0x7f, m.topic, m.payload)))]);
    broker.scheduler.flushNow();
    const port = ports[0] as RecordingPort;
    assert.equal(port.writes.length, 1);
    assert.equal(port.writes[0]?.length, 1, 'one range, not one buffer per frame');
    assert.deepEqual(port.bytes, Buffer.concat(msgs.map((m) => encodeDataFrame(0x7f, m.topic, m.payload))));
  });

  test('interleaved topics, large and small frames, chunked messages: each subscriber gets exactly its own, in order', () => {
    const { broker, ports, pub } = setup([['a', 'c'], ['b'], ['#']]);
    const msgs = [
      { topic: 'a', payload: payload(10, 1) },
      { topic: 'b', payload: payload(20, 2) },
      { topic: 'c', payload: payload(3000, 3) }, // above the slab limit: its own buffer
      { topic: 'a', payload: payload(30, 4) },
      { topic: 'b', payload: payload(100_000, 5) }, // chunked
      { topic: 'c', payload: payload(0, 6) },
      { topic: '//a', payload: payload(40, 7) }, // normalised: encoded anew, not from the slab
      { topic: 'a', payload: payload(50, 8) },
    ];
    const bytes = Buffer.concat(msgs.map((m) => encodePublish(0x7f, m.topic, m.payload)));
    const reads: Buffer[] = [];
    for (let at = 0; at < bytes.length; at += 65_536) reads.push(Buffer.from(bytes.subarray(at, at + 65_536)));
    publish(broker, pub, reads);
    broker.scheduler.flushNow();
    const expected = (want: (topic: string) => boolean): Buffer =>
      Buffer.concat(msgs.map((m) => ({ ...m, topic: m.topic.replace(/^\/+/, '') })).filter((m) => want(m.topic)).map((m) => encodeDataFrame(0x7f, m.topic, m.payload)));
    assert.deepEqual(ports[0]?.bytes, expected((t) => t === 'a' || t === 'c'));
    assert.deepEqual(ports[1]?.bytes, expected((t) => t === 'b'));
    assert.deepEqual(ports[2]?.bytes, expected(() => true));
  });

  test('frames still queued survive later publishes that fill many new slabs', () => {
    const { broker, ports, pub } = setup([['q/#']]);
    const all: Buffer[] = [];
    for (let round = 0; round < 5; round++) {
      const msgs = Array.from({ length: 400 }, (_, i) => ({ topic: `q/${i % 7}`, payload: payload(60 + (i % 50), round * 1000 + i) }));
      publish(broker, pub, [Buffer.concat(msgs.map((m) => encodePublish(0x7f, m.topic, m.payload)))]);
      all.push(...msgs.map((m) => encodeDataFrame(0x7f, m.topic, m.payload)));
    }
    // ~250 KB of small frames queued before a single flush: ~16 slabs.
    broker.scheduler.flushNow();
    const port = ports[0] as RecordingPort;
    assert.deepEqual(port.bytes, Buffer.concat(all));
    assert.ok(port.writes.flat().length < 40, `ranges per slab, not per frame (${port.writes.flat().length})`);
  });

  test('a backlog beyond the kept queue slots drains in order, and the queue works on afterwards', () => {
    const { broker, ports, pub } = setup([['g/#']]);
    const port = ports[0] as RecordingPort;
    const channel = port.channel;
    assert.ok(channel !== null);
    const expected: Buffer[] = [];
    const send = (count: number, seed: number): void => {
      const msgs = Array.from({ length: count }, (_, i) => ({ topic: `g/${i % 5}`, payload: payload(8 + (i % 40), seed + i) }));
      publish(broker, pub, [Buffer.concat(msgs.map((m) => encodePublish(0x7f, m.topic, m.payload)))]);
      expected.push(...msgs.map((m) => encodeDataFrame(0x7f, m.topic, m.payload)));
    };
    port.writable = false; // the socket's buffer is full: frames queue up
    send(10, 0);
    broker.scheduler.flushNow(); // one write, answered "not writable"
    for (let round = 0; round < 6; round++) send(2000, 1000 * round); // 12,000 queued (> 4096 slots)
    broker.scheduler.flushNow();
    assert.equal(channel.pending, 12_000);
    port.writable = true;
    channel.onWritable();
    assert.equal(channel.pending, 0);
    for (let round = 0; round < 3; round++) {
      send(300, 50_000 + round); // the same queue again, after it was given back
      broker.scheduler.flushNow();
      assert.equal(channel.pending, 0);
    }
    assert.deepEqual(port.bytes, Buffer.concat(expected));
  });

  test('one read\'s publishes to one topic share a queue entry; other topics in between keep the order', () => {
    const { broker, ports, pub } = setup([['a', 'b'], ['a']]);
    const msgs = ['a', 'a', 'a', 'b', 'a', 'a', '//a', 'a'].map((topic, i) => ({ topic, payload: payload(20 + i, i) }));
    const received = stampNow();
    publish(broker, pub, [Buffer.concat(msgs.map((m) => encodePublish(0x7f, m.topic, m.payload)))], received);
    assert.deepEqual(broker.queueDepths(), [8, 7], 'queue depths count messages, not entries');
    broker.scheduler.flushNow();
    const frames = (want: (t: string) => boolean): Buffer =>
      Buffer.concat(msgs.map((m) => ({ ...m, topic: m.topic.replace(/^\/+/, '') })).filter((m) => want(m.topic)).map((m) => encodeDataFrame(0x7f, m.topic, m.payload)));
    assert.deepEqual(ports[0]?.bytes, frames(() => true));
    assert.deepEqual(ports[1]?.bytes, frames((t) => t === 'a'));
    const c = broker.counters;
    assert.equal(c.sentMessages, 15, 'sent messages are counted one by one');
  });

  test('an entry already written is not appended to; a later one is', () => {
    const { broker, ports, pub } = setup([['w']]);
    const port = ports[0] as RecordingPort;
    const channel = port.channel;
    assert.ok(channel !== null);
    const received = stampNow();
    const one = (i: number): Buffer => encodePublish(0x7f, 'w', payload(10, i));
    publish(broker, pub, [one(1), one(2)], received);
    broker.scheduler.flushNow(); // written (the socket takes it)
    publish(broker, pub, [one(3)], received); // same receive time: must still be delivered
    port.writable = false;
    broker.scheduler.flushNow();
    publish(broker, pub, [one(4), one(5)], received);
    broker.scheduler.flushNow(); // not writable: stays queued
    assert.equal(channel.pending, 2);
    port.writable = true;
    channel.onWritable();
    assert.deepEqual(port.bytes, Buffer.concat([1, 2, 3, 4, 5].map((i) => encodeDataFrame(0x7f, 'w', payload(10, i)))));
  });

  test('the queue limit counts appended messages: the publisher is held back', () => {
    const { broker, ports, pub } = setup([['q']], 8);
    const port = ports[0] as RecordingPort;
    const channel = port.channel;
    assert.ok(channel !== null);
    port.writable = false;
    const by = { blockedOn: 0, resumed: 0, resume(): void { this.resumed++; } };
    const msgs = Array.from({ length: 10 }, (_, i) => encodePublish(0x7f, 'q', payload(5, i)));
    publish(broker, pub, [Buffer.concat(msgs)], stampNow(), by);
    assert.equal(channel.pending, 10);
    assert.equal(by.blockedOn, 1, 'congested at 8 of 8: the publisher waits');
    broker.scheduler.flushNow();
    port.writable = true;
    channel.onWritable();
    assert.equal(by.blockedOn, 0);
    assert.equal(by.resumed, 1);
    assert.deepEqual(port.bytes, Buffer.concat(msgs.map((_, i) => encodeDataFrame(0x7f, 'q', payload(5, i)))));
  });

  test('slabs are reused once their frames are written, never while one is queued or in flight', () => {
    const { broker, ports, pub } = setup([['t/#'], ['t/1'], ['t/#']]);
    const [fast, slow, stalled] = ports as [RecordingPort, RecordingPort, RecordingPort];
    fast.acks = 'sync';
    slow.acks = 'held'; // its writes complete only when ack() is called
    stalled.acks = 'sync';
    stalled.writable = false; // after its first write, frames queue up
    const all: { topic: string; payload: Buffer }[] = [];
    for (let round = 0; round < 60; round++) {
      const msgs = Array.from({ length: 100 }, (_, i) => ({ topic: `t/${i % 3}`, payload: payload(40 + ((round + i) % 60), round * 100 + i) }));
      all.push(...msgs);
      // a new receive time per read, as from a socket (appending stays within one read)
      publish(broker, pub, [Buffer.concat(msgs.map((m) => encodePublish(0x7f, m.topic, m.payload)))], stampNow());
      broker.scheduler.flushNow();
      if (round % 7 === 6) slow.ack();
    }
    const reusedWhileStalled = broker.slabsReused;
    assert.equal(reusedWhileStalled, 0, 'nothing reused while the stalled subscriber holds every slab');
    stalled.writable = true;
    stalled.channel?.onWritable();
    slow.ack();
    // The slow subscriber's writes complete only every 12 reads (~4.5 slabs): a slab reused
    // before its acknowledgement would be overwritten under them.
    for (let round = 0; round < 36; round++) {
      const msgs = Array.from({ length: 100 }, (_, i) => ({ topic: `t/${i % 3}`, payload: payload(50, 9000 + round * 100 + i) }));
      all.push(...msgs);
      publish(broker, pub, [Buffer.concat(msgs.map((m) => encodePublish(0x7f, m.topic, m.payload)))], stampNow());
      broker.scheduler.flushNow();
      if (round % 12 === 11) slow.ack();
    }
    slow.ack();
    assert.ok(broker.slabsReused > 10, `slabs reused: ${broker.slabsReused}`);
    const frames = (want: (t: string) => boolean): Buffer => Buffer.concat(all.filter((m) => want(m.topic)).map((m) => encodeDataFrame(0x7f, m.topic, m.payload)));
    assert.deepEqual(fast.bytes, frames(() => true));
    assert.deepEqual(slow.bytes, frames((t) => t === 't/1'));
    assert.deepEqual(stalled.bytes, frames(() => true));
  });

  test('a dropped subscriber gives back the slabs its queue held', () => {
    const { broker, ports, pub } = setup([['gone'], ['kept']]);
    const [gone, kept] = ports as [RecordingPort, RecordingPort];
    gone.writable = false; // its queue holds every slab of the first phase
    kept.acks = 'held'; // never completes: the second phase cannot free slabs by itself
    const send = (topic: string, rounds: number): void => {
      for (let round = 0; round < rounds; round++) {
        const msgs = Array.from({ length: 100 }, (_, i) => encodePublish(0x7f, topic, payload(60, round * 100 + i)));
        publish(broker, pub, [Buffer.concat(msgs)], stampNow());
        broker.scheduler.flushNow();
      }
    };
    send('gone', 12); // ~5 slabs, all held by the stalled queue
    const reusedBefore = broker.slabsReused;
    assert.equal(reusedBefore, 0);
    const channel = gone.channel;
    assert.ok(channel !== null);
    broker.detachData(channel); // the socket went away: its queue is discarded
    send('kept', 12);
    // Only the discarded queue's slabs can be free: the second phase's are all held.
    assert.ok(broker.slabsReused >= 3, `slabs of the discarded queue reused: ${broker.slabsReused}`);
    kept.ack();
    assert.equal(kept.writes.flat().reduce((n, b) => n + b.length, 0), 12 * 100 * (6 + 5 + 60));
  });
});
