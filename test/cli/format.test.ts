/** CLI formatting: numbers, sizes, payloads, tables, the top renderer with synthetic data. */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { renderResults } from '../../src/cli/benchmark.js';
import {
  formatMessage,
  generatedPayload,
  groupDigits,
  humanBytes,
  parseSize,
  payloadText,
} from '../../src/cli/format.js';
import { publishLines } from '../../src/cli/publish.js';
import { renderTop, TopStats } from '../../src/cli/top.js';

describe('cli formatting', () => {
  it('groups digits with _', () => {
    assert.equal(groupDigits(0), '0');
    assert.equal(groupDigits(999), '999');
    assert.equal(groupDigits(12345), '12_345');
    assert.equal(groupDigits(40000), '40_000');
    assert.equal(groupDigits(1234567.9), '1_234_567');
  });

  it('human bytes with decimal units', () => {
    assert.equal(humanBytes(762), '762 B');
    assert.equal(humanBytes(1000), '1000 B');
    assert.equal(humanBytes(50850), '50.85 KB');
    assert.equal(humanBytes(1_100_000), '1.10 MB');
    assert.equal(humanBytes(3_810), '3.81 KB');
    assert.equal(humanBytes(2_500_000_000), '2.50 GB');
  });

  it('parses ==SIZE like the reference', () => {
    assert.equal(parseSize('10'), 10);
    assert.equal(parseSize('10b'), 10);
    assert.equal(parseSize('1kb'), 1000);
    assert.equal(parseSize('1k'), 1000);
    assert.equal(parseSize('1KiB'), 1024);
    assert.equal(parseSize('1.5mb'), 1_500_000);
    assert.equal(parseSize('1 mib'), 1_048_576);
    assert.equal(parseSize('1.1kb'), 1100);
    assert.equal(parseSize('2g'), 2_000_000_000);
    for (const bad of ['', 'abc', '1x', '1ki', '-1', '1..2']) assert.throws(() => parseSize(bad), RangeError, bad);
  });

  it('generates i mod 256 payloads', () => {
    const p = generatedPayload(258);
    assert.equal(p[0], 0);
    assert.equal(p[255], 255);
    assert.equal(p[256], 0);
    assert.equal(p[257], 1);
  });

  it('renders payloads: text, or hex list for non-UTF-8', () => {
    assert.equal(payloadText(Buffer.from('hello')), 'hello');
    assert.equal(payloadText(Buffer.from([1, 0xff, 0])), '[1, ff, 0]');
    assert.equal(formatMessage('text', 'test/a', Buffer.from('hello'), 0x7f), 'test/a\n---\n"hello"\n');
    assert.deepEqual(formatMessage('raw', 't', Buffer.from([1, 2]), 1), Buffer.from([1, 2, 10]));
    assert.deepEqual(JSON.parse(formatMessage('json', 't', Buffer.from([0xff]), 9) as string), {
      topic: 't',
      encoding: 'base64',
      payload: '/w==',
      priority: 9,
    });
    assert.equal(
      formatMessage('json', 'a"b', Buffer.from('x\ny'), 0x7f),
      '{"topic":"a\\"b","encoding":"utf8","payload":"x\\ny","priority":127}\n',
    );
  });

  it('top: counts and bytes per topic, sort toggle, ties alphabetical, row limit', () => {
    const stats = new TopStats();
    for (let i = 0; i < 239; i++) stats.add('log', 213);
    for (let i = 0; i < 21; i++) stats.add('controller/lm/api/req', 181);
    for (let i = 0; i < 7; i++) stats.add('sensor/tests/t1', 141);
    stats.add('big', 5_000_000);
    stats.add('a', 1);
    const text = renderTop(stats, 10, false);
    assert.equal(
      text,
      [
        'topic                 count bytes',
        '------------------------------------',
        'log                   239   50.91 KB',
        'controller/lm/api/req 21    3.80 KB',
        'sensor/tests/t1       7     987 B',
        'a                     1     1 B',
        'big                   1     5.00 MB',
        '',
      ].join('\n'),
    );
    stats.toggleSort();
    const byBytes = renderTop(stats, 2, false).split('\n');
    assert.equal(byBytes.length, 5, 'header, dashes, 2 rows, trailing newline');
    assert.match(byBytes[2]!, /^big /);
    assert.match(byBytes[3]!, /^log /);
    const colored = renderTop(stats, 1, true);
    assert.ok(colored.startsWith('\x1b[34mtopic'), 'blue header');
  });

  it('benchmark results: separator, sorted rows, columns', () => {
    const text = renderResults(
      [
        { name: 'subscribe', iters: 40000, seconds: 1.5 },
        { name: 'pub-10b', iters: 40000, seconds: 1.234 },
        { name: 'pub-1mb', iters: 400, seconds: 0.25 },
      ],
      { isTTY: false },
    );
    const lines = text.split('\n');
    assert.equal(lines[0], '--- Benchmark results ' + '-'.repeat(18));
    assert.equal(lines[1], 'stage     iters  secs  msecs    iters/s');
    assert.deepEqual(lines.slice(3, 6), [
      'pub-10b   40_000 1.234 1234.000 32_414',
      'pub-1mb   400    0.250 250.000  1_600',
      'subscribe 40_000 1.500 1500.000 26_666',
    ]);
  });

  it('publishLines: one message per line, last line without newline, empty lines kept', async () => {
    const got: string[] = [];
    const n = await publishLines(Readable.from([Buffer.from('a\nb'), Buffer.from('c\n\nd')]), (l) => {
      got.push(l.toString());
      return Promise.resolve();
    });
    assert.equal(n, 4);
    assert.deepEqual(got, ['a', 'bc', '', 'd']);
    await assert.rejects(
      publishLines(Readable.from([Buffer.from('x\ny\n')]), () => Promise.reject(new Error('denied'))),
      /denied/,
    );
  });
});
