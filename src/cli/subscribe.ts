/**
 * Subscribe mode: bulk-subscribe the comma-separated topics, print every message. Like
 * mosquitto_sub: a lost connection is retried with back-off and the topics re-subscribed (a
 * notice on stderr each time; --no-reconnect exits instead), -C N exits after N messages and
 * -W S after S seconds.
 */
import type { PsrtClient } from '../client/client.js';
import type { Message } from '../client/data-channel.js';
import { topicList, type CliOptions } from './args.js';
import { CliError, EXIT, runError } from './errors.js';
import { formatMessage } from './format.js';
import { closed, connectCli, interrupted, OutputBatcher, QUEUE_SIZE, type CliIo } from './session.js';

export async function runSubscribe(o: CliOptions, io: CliIo): Promise<void> {
  const client = await connectCli(o, { dataStream: true, queueSize: QUEUE_SIZE, reconnect: o.reconnect });
  const stop = interrupted();
  const limits = messageLimits(o);
  let received = 0;
  const onMessage = (m: Message): void => {
    if (o.count !== undefined && received >= o.count) return;
    out.write(formatMessage(o.output, m.topic, m.payload, m.priority));
    if (++received === o.count) limits.countReached();
  };
  const out = new OutputBatcher(io.stdout, () => {
    holdUntilDrained(client, io.stdout, onMessage);
  });
  try {
    const topics = topicList(o.topic);
    io.log.info(`Listening to ${topics.join(', ')}...`);
    const refusedAgain = announceReconnects(client, io, topics.length);
    client.on('message', onMessage);
    // Watched from before the SUBSCRIBE: -W, Ctrl-C or a loss may come while its reply is
    // pending (a rejection nobody awaited yet would crash the process).
    const finished = Promise.race([closed(client), stop.promise, limits.promise, refusedAgain]);
    await Promise.race([client.subscribe(topics).then(() => finished), finished]);
    out.flush();
    io.log.info('terminating');
    await client.bye().catch(() => undefined);
  } catch (err) {
    out.flush();
    client.close();
    throw runError(err);
  } finally {
    limits.dispose();
    stop.dispose();
  }
}

/**
 * stdout is full (its reader stopped reading): take no more messages until it drains, as
 * mosquitto_sub's blocking write does. Meanwhile the client buffers up to its queue size (or
 * its default queueBytes, 64 MiB, with large payloads) and then pauses the data socket, so the
 * server's data_queue rule applies instead of this process holding every message in memory.
 * The buffered ones come first once the listener is back.
 */
function holdUntilDrained(client: PsrtClient, stdout: NodeJS.WriteStream, onMessage: (m: Message) => void): void {
  if (!client.listeners('message').includes(onMessage)) return; // already held
  client.off('message', onMessage);
  stdout.once('drain', () => {
    client.on('message', onMessage);
  });
}

/**
 * Visible notices for a lost and a restored connection (stderr, not stdout's messages), and why
 * reconnecting fails (a password changed or a user removed meanwhile would otherwise retry
 * silently for ever): each new reason once, not every attempt. A server that refuses the topics
 * again (its ACL changed meanwhile) ends the run as a refusal at start does: the returned
 * promise rejects.
 */
function announceReconnects(client: PsrtClient, io: CliIo, topicCount: number): Promise<never> {
  let lastFailure = '';
  client.on('disconnect', (err) => {
    lastFailure = '';
    io.log.warn(`connection lost (${err.message}); reconnecting...`);
  });
  client.on('reconnectFailed', (err) => {
    if (err.message === lastFailure) return;
    lastFailure = err.message;
    io.log.warn(`reconnect failed (${err.message}); retrying...`);
  });
  return new Promise((_, reject) => {
    client.on('reconnect', (refused) => {
      if (refused === null) {
        io.log.warn(`reconnected; subscribed again to ${topicCount} topic${topicCount === 1 ? '' : 's'}`);
        return;
      }
      const e = runError(refused);
      reject(new CliError(e.exitCode, `reconnected, but ${e.message}`));
    });
  });
}

/** -C resolves the promise; -W rejects it with a timeout (exit status 6) when -C was not reached. */
function messageLimits(o: CliOptions): { promise: Promise<void>; countReached: () => void; dispose: () => void } {
  let resolve: () => void = () => undefined;
  let reject: (e: Error) => void = () => undefined;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  const timer =
    o.wait === undefined
      ? undefined
      : setTimeout(() => {
          const what = o.count === undefined ? '' : ` before ${o.count} messages arrived`;
          reject(new CliError(EXIT.timeout, `-W ${o.wait ?? 0}: timed out${what}`));
        }, o.wait * 1000);
  return {
    promise,
    countReached: resolve,
    dispose: () => {
      clearTimeout(timer);
    },
  };
}
