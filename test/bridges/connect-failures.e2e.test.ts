/**
 * A bridge that cannot connect says why in the log, once per reason (not on every retry):
 * an upstream that is not there, or one refusing the login.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Mosquitto, until } from '../helpers/engines.js';
import { freePort } from '../helpers/ports.js';
import type { Psrtd } from '../helpers/psrtd.js';
import { bridgeStatus, startBridged } from './util.js';

let node: Psrtd | undefined;
let broker: Mosquitto | undefined;

after(async () => {
  await node?.stop();
  await broker?.stop();
});

test('failed connection attempts are logged once per reason; retries go on', async () => {
  broker = await Mosquitto.start(false, undefined, 'allow_anonymous false\n');
  const nowhere = await freePort();
  node = await startBridged('fail', [
    { name: 'nonats', type: 'nats', servers: [`nats://127.0.0.1:${nowhere}`], out: ['#'] },
    { name: 'refused', type: 'mqtt', servers: [broker.url], out: ['#'], extra: { user: 'nobody', password: 'wrong' } },
  ]);
  const lines = (name: string): string[] => (node as Psrtd).output.filter((l) => l.includes(`bridge ${name}: cannot connect to`));
  await until(() => lines('nonats').length > 0 && lines('refused').length > 0, 10_000, 'a log line per bridge');
  // Back-off retries at 100, 200, 400, 800 ms...: several attempts by now, each failing alike.
  await new Promise((r) => setTimeout(r, 2000));
  assert.equal(lines('nonats').length, 1, lines('nonats').join('\n'));
  assert.equal(lines('refused').length, 1, lines('refused').join('\n'));
  assert.match(lines('refused')[0] ?? '', /[Nn]ot authorized/);
  assert.equal((await bridgeStatus(node, 'nonats')).state, 'offline');
  assert.equal((await bridgeStatus(node, 'refused')).connects, 0);
});
