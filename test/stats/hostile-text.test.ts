/**
 * Client-chosen text in the JSON documents: topic names in /topics and MQTT client ids in
 * /clients. The answer must stay valid for strict parsers (no lone UTF-16 surrogate escapes,
 * which jq and serde_json refuse) and bounded in size whatever the clients chose.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ClientRegistry, type ClientInfo } from '../../src/broker/client-registry.js';
import { clientsJson } from '../../src/stats/details.js';
import { TOPICS_MAX_NAME, topicsJson } from '../../src/stats/status.js';
import { FakeBroker } from './helpers.js';

/** True when the JSON text has a `\uD800`–`\uDFFF` escape that is not half of a pair. */
function hasLoneSurrogateEscape(json: string): boolean {
  const re = /\\u(d[89ab][0-9a-f]{2})(\\u(d[c-f][0-9a-f]{2}))?|\\u(d[c-f][0-9a-f]{2})/gi;
  for (let m = re.exec(json); m !== null; m = re.exec(json)) {
    if (m[4] !== undefined || m[2] === undefined) return true;
  }
  return false;
}

/** String.prototype.isWellFormed (ES2024, beyond this project's lib setting). */
const isWellFormed = (s: string): boolean => !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);

describe('/topics with hostile topic names', () => {
  test('a name cut at the length limit never splits a surrogate pair', () => {
    const broker = new FakeBroker();
    const emoji = '\u{1F600}';
    broker.topics = [
      { topic: `${'a'.repeat(TOPICS_MAX_NAME - 1)}${emoji}tail`, messages: 2, bytes: 2 },
      { topic: emoji.repeat(TOPICS_MAX_NAME), messages: 1, bytes: 1 },
    ];
    const json = topicsJson(broker, 10, 'messages');
    assert.equal(hasLoneSurrogateEscape(json), false, 'lone surrogate in /topics');
    const topics = (JSON.parse(json) as { topics: { topic: string }[] }).topics.map((t) => t.topic);
    for (const t of topics) assert.ok(isWellFormed(t), 'topic is not well-formed UTF-16');
    assert.equal(topics[0], `${'a'.repeat(TOPICS_MAX_NAME - 1)}…`);
    assert.equal(topics[1], `${emoji.repeat(TOPICS_MAX_NAME / 2)}…`);
  });

  test('control characters, quotes and line separators stay inside the JSON string', () => {
    const broker = new FakeBroker();
    const topic = 'ctl/\u0001\u001b[31m"\\<script>\u2028\u2029';
    broker.topics = [{ topic, messages: 1, bytes: 1 }];
    const body = JSON.parse(topicsJson(broker, 1, 'messages')) as { topics: { topic: string }[] };
    assert.equal(body.topics[0]?.topic, topic);
  });
});

describe('/clients with hostile MQTT client ids', () => {
  const row = (i: number, id: string): ClientInfo => ({
    id, protocol: 'mqtt', address: `127.0.0.1:${1000 + i}`, user: 'anonymous', subscriptions: 0, queue: 0, connectedSince: i,
  });

  test('1,000 clients with 60 KB ids of control characters: the answer stays small', () => {
    const registry = new ClientRegistry();
    // What a CONNECT under mqtt.max_connect_size lets an anonymous client choose.
    const rows = Array.from({ length: 1000 }, (_, i) => row(i, `mqtt-${String(i)}${'\u0001'.repeat(60_000)}`));
    registry.add(() => rows);
    const t0 = performance.now();
    const json = clientsJson(registry);
    const ms = performance.now() - t0;
    console.log(`# /clients: ${json.length} bytes in ${ms.toFixed(0)} ms`);
    assert.ok(json.length < 2_000_000, `/clients is ${json.length} bytes`);
    const body = JSON.parse(json) as { total: number; clients: { id: string }[] };
    assert.equal(body.total, 1000);
    assert.equal(body.clients.length, 1000);
    assert.ok(body.clients[0]?.id.startsWith('mqtt-0\u0001'));
    assert.ok(body.clients[0]?.id.endsWith('…'));
  });

  test('a cut id never splits a surrogate pair; short ids are unchanged', () => {
    const registry = new ClientRegistry();
    registry.add(() => [row(0, `x${'\u{1F600}'.repeat(5000)}`), row(1, 'mqtt-plain')]);
    const json = clientsJson(registry);
    assert.equal(hasLoneSurrogateEscape(json), false);
    const ids = (JSON.parse(json) as { clients: { id: string }[] }).clients.map((c) => c.id);
    assert.ok(isWellFormed(ids[0] ?? ''));
    assert.equal(ids[1], 'mqtt-plain');
  });
});
