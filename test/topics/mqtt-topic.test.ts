import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  isSystemTopic,
  isValidMqttTopicFilter,
  isValidMqttTopicName,
  mqttTopicMatches,
  parseSharedSubscription,
} from '../../src/topics/index.js';

const long = (n: number, ch = 'x'): string => ch.repeat(n);

test('topic names: valid', () => {
  const valid = [
    'a',
    '/',
    '//',
    'a/b',
    'a//b',
    '/finance',
    'sport/',
    '$SYS/broker/load',
    '$',
    ' ',
    'ümlaut/€/😀',
    long(65535),
    long(21845, '€'), // 3 bytes each: exactly 65535
    long(16383, '😀') + 'xxx', // 4 bytes per pair: 65532 + 3
  ];
  for (const name of valid) assert.equal(isValidMqttTopicName(name), true, JSON.stringify(name.slice(0, 40)));
});

test('topic names: invalid', () => {
  const invalid = [
    '',
    '+',
    '#',
    'a+',
    'a/+',
    'a/#',
    'sport/tennis#',
    'a\u0000b',
    long(65536),
    long(21846, '€'), // 65538 bytes, though only 21846 UTF-16 units
    long(16384, '😀'), // 65536 bytes
    'a\ud800', // lone high surrogate: not encodable as well-formed UTF-8
    '\udc00b',
  ];
  for (const name of invalid) assert.equal(isValidMqttTopicName(name), false, JSON.stringify(name.slice(0, 40)));
});

test('topic filters: valid (MQTT §4.7.1 examples and edge cases)', () => {
  const valid = [
    '#',
    '+',
    '+/+',
    '/+',
    '+/',
    '/',
    '//',
    'sport/#',
    'sport/tennis/#',
    'sport/tennis/player1/#',
    '+/tennis/#',
    'sport/+/player1',
    'a/+/#',
    '/#',
    '$SYS/#',
    '$SYS/monitor/+',
    '$share/g/a', // syntactically an ordinary filter; shared parsing is separate
    'a$/b',
    long(65535),
    long(65533) + '/#',
  ];
  for (const f of valid) assert.equal(isValidMqttTopicFilter(f), true, JSON.stringify(f.slice(0, 40)));
});

test('topic filters: invalid', () => {
  const invalid = [
    '',
    'sport/tennis#',
    'sport/tennis/#/ranking',
    'sport+',
    '#/a',
    '#/',
    'a/#/',
    '##',
    '++',
    '+a',
    'a/b+/c',
    '+#',
    'a/#b',
    'a\u0000',
    long(65536),
    long(65534) + '/#',
    'a/\ud83d',
  ];
  for (const f of invalid) assert.equal(isValidMqttTopicFilter(f), false, JSON.stringify(f.slice(0, 40)));
});

test('shared subscriptions: not shared -> null', () => {
  for (const f of ['a/b', '#', '$share', '$sharex/g/a', '$SHARE/g/a', 'share/g/a', '$SYS/x', '/$share/g/a']) {
    assert.equal(parseSharedSubscription(f), null, f);
  }
});

test('shared subscriptions: well-formed', () => {
  const rows: [string, string, string][] = [
    ['$share/g/a', 'g', 'a'],
    ['$share/consumer1/sport/tennis/+', 'consumer1', 'sport/tennis/+'],
    ['$share/g/#', 'g', '#'],
    ['$share/g/+/x', 'g', '+/x'],
    ['$share/g//', 'g', '/'],
    ['$share/g/$SYS/#', 'g', '$SYS/#'],
    ['$share/$x/a', '$x', 'a'],
  ];
  for (const [input, group, filter] of rows) {
    assert.deepEqual(parseSharedSubscription(input), { ok: true, group, filter }, input);
  }
});

test('shared subscriptions: malformed -> { ok: false }', () => {
  const bad = [
    '$share/',
    '$share//a', // empty ShareName
    '$share/g', // no filter at all
    '$share/g/', // empty filter
    '$share/g+/a',
    '$share/g#/a',
    '$share/+/a',
    '$share/#/a',
    '$share/g/a/#/b',
    '$share/g/a+',
    '$share/g/a\u0000',
    '$share/g/' + long(65535 - 8), // inner is fine, the whole string is 65536 bytes
  ];
  for (const f of bad) assert.deepEqual(parseSharedSubscription(f), { ok: false }, JSON.stringify(f.slice(0, 40)));
});

test('mqttTopicMatches only reads its inputs: a few direct checks', () => {
  assert.equal(mqttTopicMatches('sport/#', 'sport'), true);
  assert.equal(mqttTopicMatches('#', '$SYS'), false);
  assert.equal(mqttTopicMatches('$SYS/#', '$SYS'), true);
  assert.equal(mqttTopicMatches('a/b', 'a/b/'), false);
});

test('isSystemTopic: the broker\'s own $SYS tree, by Mosquitto\'s rule (the first four characters)', () => {
  for (const t of ['$SYS', '$SYS/', '$SYS/broker/uptime', '$SYS/x', '$SYSTEM/a']) assert.equal(isSystemTopic(t), true, t);
  for (const t of ['', 'SYS/x', '/$SYS/x', 'a/$SYS', '$sys/x', '$SY', '$share/g/a', 'x$SYS']) assert.equal(isSystemTopic(t), false, t);
});
