/** Subscribe mode (CLI.md §4): bulk-subscribe the comma-separated topics, print every message. */
import type { CliOptions } from './args.js';
import { runError } from './errors.js';
import { formatMessage } from './format.js';
import { closed, connectCli, interrupted, OutputBatcher, QUEUE_SIZE, type CliIo } from './session.js';

export async function runSubscribe(o: CliOptions, io: CliIo): Promise<void> {
  const client = await connectCli(o, { dataStream: true, queueSize: QUEUE_SIZE });
  const stop = interrupted();
  try {
    const topics = (o.topic ?? '').split(',');
    io.log.info(`Listening to ${topics.join(', ')}...`);
    const out = new OutputBatcher(io.stdout);
    client.on('message', (m) => {
      out.write(formatMessage(o.output, m.topic, m.payload, m.priority));
    });
    const ended = closed(client);
    await client.subscribe(topics);
    await Promise.race([ended, stop.promise]);
    out.flush();
    io.log.info('terminating');
    await client.bye().catch(() => undefined);
  } catch (err) {
    client.close();
    throw runError(err);
  } finally {
    stop.dispose();
  }
}
