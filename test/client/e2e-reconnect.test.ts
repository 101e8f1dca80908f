/**
 * Reconnect against a real psrtd that misbehaves the way a WAN peer does: it stalls (SIGSTOP:
 * its sockets stay open, nothing is read or answered) and it drops the data socket of a
 * subscriber too slow to keep up. The client must notice within its documented time, come back
 * with its subscriptions, once, and receive again.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { PsrtClient, type Message, type PsrtError } from '../../src/client/index.js';
import { startPsrtd } from '../helpers/psrtd.js';
import { sleep, waitFor, within } from './util.js';

describe('client reconnect against psrtd', () => {
  it('a stalled server is noticed within the timeout; resumed, the client is back with its subscriptions, once', async () => {
    const d = await startPsrtd({ proto: { timeout: 2 } });
    const path = `127.0.0.1:${d.port}`;
    const sub = await PsrtClient.connect({ path, timeout: 2, reconnect: { initialDelay: 0.1, maxDelay: 0.5 } });
    const pub = await PsrtClient.connect({ path, timeout: 2, dataStream: false });
    try {
      await sub.subscribe(['r/#', 'r/a']);
      const t0 = performance.now();
      const lost = once(sub, 'disconnect') as Promise<[PsrtError]>;
      const pubClosed = once(pub, 'close') as Promise<[PsrtError]>;
      d.proc.kill('SIGSTOP');
      const [why] = await within(8000, lost, 'disconnect');
      const noticed = performance.now() - t0;
      assert.equal(why.code, 'PSRT_TIMEOUT', why.message); // the data socket's silence
      assert.ok(noticed < 3500, `subscriber noticed after ${noticed} ms (timeout 2 s)`);
      const [pubWhy] = await within(8000, pubClosed, 'publisher close');
      assert.equal(pubWhy.code, 'PSRT_TIMEOUT', pubWhy.message); // its keep-alive unanswered
      assert.ok(performance.now() - t0 < 2 * 2000 + 1500, 'publisher within about 2 × timeout');
      const back = once(sub, 'reconnect');
      await sleep(1000); // attempts time out meanwhile
      d.proc.kill('SIGCONT');
      await within(10_000, back, 'reconnect');
      const got: Message[] = [];
      sub.on('message', (m) => got.push(m));
      const pub2 = await PsrtClient.connect({ path, dataStream: false });
      await pub2.publish('r/a', 'again');
      await waitFor(() => got.length > 0, 3000, 'a message after the reconnect');
      await sleep(200);
      assert.deepEqual(got.map((m) => m.payload.toString()), ['again'], 'once: one session, one handler');
      await pub2.bye();
      await sub.bye();
    } finally {
      d.proc.kill('SIGCONT');
      sub.close();
      pub.close();
      await d.stop();
    }
  });

  it('the server drops the data socket of a subscriber too slow for it: reconnected, it receives again', async () => {
    const d = await startPsrtd({
      server: { data_queue: 8, data_drain_timeout: 0.3, slow_consumer_window: 1, slow_consumer_max_hold: 0.2 },
      proto: { timeout: 2 },
    });
    const path = `127.0.0.1:${d.port}`;
    const sub = await PsrtClient.connect({ path, timeout: 2, queueSize: 4, reconnect: { initialDelay: 0.05 } });
    const pub = await PsrtClient.connect({ path, timeout: 2, dataStream: false });
    try {
      await sub.subscribe('bp');
      const messages = sub.messages(); // nobody reads it for now: 4 buffered, then paused
      const lost = once(sub, 'disconnect') as Promise<[PsrtError]>;
      const back = once(sub, 'reconnect');
      const flood = Array.from({ length: 2000 }, () => pub.publish('bp', Buffer.alloc(10_000)));
      await within(20_000, Promise.all(flood), 'the publishes');
      await waitFor(() => d.output.some((l) => l.includes('dropping data channel')), 5000, 'the server dropping it');
      // Reading on, the client reaches the end of the dropped stream and reconnects.
      let read = 0;
      const reading = (async (): Promise<void> => {
        for await (const m of messages) if (m.payload.toString() === 'after') return; else read++;
      })();
      const [why] = await within(10_000, lost, 'disconnect');
      assert.equal(why.code, 'PSRT_EOF', why.message);
      await within(10_000, back, 'reconnect');
      await pub.publish('bp', 'after');
      await within(5000, reading, 'the message published after the reconnect');
      assert.ok(read < 2000, `${read} of 2000 arrived before the drop`);
      await pub.bye();
      await sub.bye();
    } finally {
      sub.close();
      pub.close();
      await d.stop();
    }
  });

  it('restarted, a server with a small max_topic_length takes back every subscription made one by one', async () => {
    // max_topic_length 1000: each SUBSCRIBE below is ~45 bytes, all 40 in one request ~1,800,
    // which the server answers by closing the connection, on every attempt.
    const config = { server: { max_topic_length: 1000 }, proto: { timeout: 2 } };
    let d = await startPsrtd(config);
    const path = `127.0.0.1:${d.port}`;
    const sub = await PsrtClient.connect({ path, timeout: 2, reconnect: { initialDelay: 0.1, maxDelay: 0.5 } });
    try {
      const topics = Array.from({ length: 40 }, (_, i) => `plant/line/${String(i).padStart(30, '0')}`);
      for (const t of topics) await sub.subscribe(t);
      const back = once(sub, 'reconnect');
      await d.stop();
      d = await startPsrtd({ ...config, proto: { ...config.proto, bind: [path] } });
      await within(8000, back, 'reconnect');
      const got: string[] = [];
      sub.on('message', (m) => got.push(m.topic));
      const pub = await PsrtClient.connect({ path, dataStream: false });
      for (const t of topics) await pub.publish(t, 'x');
      await waitFor(() => got.length === topics.length, 3000, 'a message on every topic');
      await pub.bye();
      await sub.bye();
    } finally {
      sub.close();
      await d.stop();
    }
  });
});
