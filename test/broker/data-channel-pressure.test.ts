/**
 * A data channel's congestion state (ChannelPressure: waiting publishers, drain deadline,
 * slow-reader window, latency-warning rate limit) is made at its first congestion and given
 * back once it has nothing left to remember: at the write that drains the channel when there is
 * no slow-reader window, else when the window has emptied. A channel congested once then costs
 * what a never-congested one does (isIdle() is true again), and congests again as before.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Counters } from '../../src/broker/counters.js';
import { DataChannel, type DataChannelOptions } from '../../src/broker/data-channel.js';
import { DeadlineWheel } from '../../src/broker/deadline-wheel.js';
import { delivery, stampNow } from '../../src/broker/delivery.js';
import { FlushScheduler } from '../../src/broker/flush-scheduler.js';
import type { BrokerLogger, PublisherPort } from '../../src/broker/ports.js';

const quiet: BrokerLogger = {
  error: () => undefined,
  warn: () => undefined,
  info: () => undefined,
  debug: () => undefined,
  trace: () => undefined,
  enabled: () => false,
};

function channelWith(slowWindowMs: number): { channel: DataChannel; port: { full: boolean } } {
  const port = { full: false };
  const opts: DataChannelOptions = { queueLimit: 4, byteLimit: 1 << 20, drainTimeoutMs: 5000, slowWindowMs, latencyWarnUs: 60_000_000 };
  const env = { scheduler: new FlushScheduler(), counters: new Counters(), log: quiet, wheel: new DeadlineWheel() };
  const owner = { label: 'test', channelClosed: () => undefined, dropCongested: () => assert.fail('dropped') };
  const dataPort = { write: () => !port.full, destroy: () => undefined, end: () => undefined };
  return { channel: new DataChannel(dataPort, owner, opts, env), port };
}

function publisher(): PublisherPort & { resumed: number } {
  return { blockedOn: 0, resumed: 0, resume() { this.resumed++; } };
}

/** The socket stops taking data; queueLimit frames congest the channel; the publisher waits. */
async function congest(channel: DataChannel, port: { full: boolean }, p: PublisherPort): Promise<void> {
  port.full = true;
  channel.flush(); // one write that fills the socket: the channel waits for 'drain'
  channel.enqueue(delivery(Buffer.from('x'), stampNow(), 't'));
  await new Promise((r) => setImmediate(r));
  let result = 'ok';
  for (let i = 0; i < 4; i++) result = channel.enqueue(delivery(Buffer.from('x'), stampNow(), 't'));
  assert.equal(result, 'congested');
  channel.addWaiter(p);
  assert.equal(p.blockedOn, 1);
  assert.equal(channel.isIdle(), false);
}

function drain(channel: DataChannel, port: { full: boolean }): void {
  port.full = false;
  channel.onWritable();
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('a data channel that was congested once', () => {
  test('without a slow-reader window: the pressure state goes at the write that drains it', async () => {
    const { channel, port } = channelWith(0);
    const p = publisher();
    await congest(channel, port, p);
    drain(channel, port);
    assert.equal(p.blockedOn, 0);
    assert.equal(p.resumed, 1);
    assert.equal(channel.isIdle(), true, 'holds nothing a new channel would not');
    await congest(channel, port, p); // a new pressure state works as the first did
    drain(channel, port);
    assert.equal(p.resumed, 2);
    channel.close();
  });

  test('with a slow-reader window: kept while the window holds the wait, given back when it empties', async () => {
    const { channel, port } = channelWith(100);
    const p = publisher();
    await congest(channel, port, p);
    await sleep(30);
    drain(channel, port);
    assert.equal(p.resumed, 1);
    assert.equal(channel.isIdle(), false, 'the window still counts the 30 ms it held its publisher');
    for (let i = 0; i < 50 && !channel.isIdle(); i++) await sleep(20);
    assert.equal(channel.isIdle(), true, 'given back once the window is empty');
    await congest(channel, port, p);
    drain(channel, port);
    assert.equal(p.resumed, 2);
    channel.close(); // stops the new window's timer
  });
});
