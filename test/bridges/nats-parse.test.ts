/**
 * The import parser (src/bridges/nats-parse.ts) against the NATS client's own parser: the same
 * byte stream, cut at every offset, must produce the same events in the same order, whether a
 * message went to a sink or through the client's parser, and malformed input must fail the
 * same way after the same events.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { Parser, type ParserEvent } from '@nats-io/nats-core/internal';
import type { NatsConnection } from '@nats-io/transport-node';
import { FastImport, ImportParser, type MsgFrame } from '../../src/bridges/nats-parse.js';

const HDRS = 'NATS/1.0\r\nPsrt-Origin: a\r\nPsrt-Priority: 9\r\n\r\n';
const big = 'x'.repeat(3000);

function hmsg(subject: string, sid: number, payload: string, reply = ''): string {
  const total = Buffer.byteLength(HDRS) + Buffer.byteLength(payload);
  return `HMSG ${subject} ${sid}${reply === '' ? '' : ` ${reply}`} ${Buffer.byteLength(HDRS)} ${total}\r\n${HDRS}${payload}\r\n`;
}

const STREAM = [
  'INFO {"server_id":"x","headers":true,"max_payload":1048576}\r\n',
  'PING\r\n',
  'MSG a.b 1 5\r\nhello\r\n',
  hmsg('a.b', 1, 'one'),
  hmsg('a.c', 1, 'two', '_INBOX.r'),
  'MSG other 2 3\r\nabc\r\n',
  '+OK\r\n',
  hmsg('a.b', 1, ''),
  'PONG\r\n',
  hmsg('a.d', 1, big),
  'MSG\ta.e\t1\t\t4\r\ntabs\r\n',
  hmsg('a.b', 1, 'decline'),
  'msg a.f 1 5\r\nlower\r\n',
  hmsg('a.b', 1, 'after'),
  "-ERR 'Unknown Protocol Operation'\r\n",
  'MSG a.g 1 0\r\n\r\n',
].join('');

type Log = string[];

function recorder(log: Log): { push(e: ParserEvent): void } {
  return {
    push: (e) => {
      if (e.msg === undefined) log.push(`${String(e.kind)} ${Buffer.from(e.data ?? new Uint8Array()).toString()}`);
      else log.push(`MSG ${String(e.msg.sid)} ${Buffer.from(e.msg.subject).toString()} ${String(Math.max(0, e.msg.hdr))} ${Buffer.from(e.data ?? new Uint8Array()).toString()}`);
    },
  };
}

/** Feeds chunks until one throws; the events and whether it threw. */
function feed(parse: (b: Uint8Array) => void, chunks: readonly Buffer[], log: Log): { log: Log; threw: boolean } {
  try {
    for (const c of chunks) parse(c);
  } catch {
    return { log, threw: true };
  }
  return { log, threw: false };
}

function reference(chunks: readonly Buffer[]): { log: Log; threw: boolean } {
  const log: Log = [];
  const p = new Parser(recorder(log));
  return feed((b) => { p.parse(b); }, chunks, log);
}

function wrapped(chunks: readonly Buffer[], taken = { n: 0 }): { log: Log; threw: boolean } {
  const log: Log = [];
  const take = (sid: number, f: MsgFrame): boolean => {
    const data = f.buf.subarray(f.dataStart, f.dataEnd).toString();
    if (sid !== 1 || data.endsWith('decline')) return false;
    taken.n++;
    log.push(`MSG ${String(sid)} ${f.buf.subarray(f.subjectStart, f.subjectEnd).toString()} ${String(f.hdr)} ${data}`);
    return true;
  };
  const p = new ImportParser(new Parser(recorder(log)), { take });
  return feed((b) => { p.parse(b); }, chunks, log);
}

function cuts(s: Buffer, at: readonly number[]): Buffer[] {
  const out: Buffer[] = [];
  let from = 0;
  for (const a of at) {
    out.push(Buffer.from(s.subarray(from, a))); // a copy per chunk, as reads are
    from = a;
  }
  out.push(Buffer.from(s.subarray(from)));
  return out;
}

describe('NATS import parser', () => {
  const stream = Buffer.from(STREAM);

  it('takes the plain messages of registered subscriptions and leaves the rest to the client, in order', () => {
    const taken = { n: 0 };
    const want = reference([stream]);
    assert.equal(want.threw, false);
    assert.deepEqual(wrapped([stream], taken), want);
    // hello, one, the empty one, the big one, tabs; after the lower-case `msg` (which the client
    // reads) the client is inside an operation of a length unknown here: it gets the rest of the read.
    assert.equal(taken.n, 5);
    assert.equal(want.log.filter((l) => l.startsWith('MSG')).length, 11);
  });

  it('gives the same events for the stream cut at every offset, once and twice', () => {
    for (let i = 0; i <= stream.length; i++) {
      assert.deepEqual(wrapped(cuts(stream, [i])), reference(cuts(stream, [i])), `cut at ${i}`);
    }
    for (let i = 0; i < stream.length; i += 7) {
      for (let j = i; j <= stream.length; j += 13) assert.deepEqual(wrapped(cuts(stream, [i, j])), reference(cuts(stream, [i, j])), `cuts at ${i}, ${j}`);
    }
  });

  it('gives the same events byte by byte', () => {
    const bytes = [...stream.keys()].slice(1);
    assert.deepEqual(wrapped(cuts(stream, bytes)), reference(cuts(stream, bytes)));
  });

  it('fails where the client fails, after the same events, and recovers nothing it would not', () => {
    const good = 'MSG a.b 1 2\r\nok\r\n';
    for (const bad of [
      'HMSG a.b 1 x 5\r\nhello\r\n', // header size not a number
      'HMSG a.b 1 9 5\r\nhello\r\n', // header size beyond the total
      'MSG a.b 1 2 3 4 5 6\r\nx\r\n', // too many arguments
      'MSG a.b 1 3\r\nabcde\r\n', // payload longer than announced
      'MSX a.b 1 3\r\nabc\r\n', // unknown operation
      'MSG a.b 1 3\nabc\r\n', // LF without CR
      '*\r\n',
    ]) {
      const s = Buffer.from(good + bad + good);
      for (let i = 0; i <= s.length; i++) {
        const want = reference(cuts(s, [i]));
        assert.deepEqual(wrapped(cuts(s, [i])), want, `${JSON.stringify(bad)} cut at ${i}`);
      }
    }
  });

  it('gives a line the client reads differently depending on where a read ends to the client whole', () => {
    // The client's own outcome for a CR inside a message line depends on where the reads are
    // cut; here the whole line always reaches it in one piece, as in an uncut read.
    const s = Buffer.from('MSG a.b 1 2\r\nok\r\nMSG a.b\r1 3\r\nabc\r\nMSG a.b 1 2\r\nok\r\n');
    const want = reference([s]);
    for (let i = 0; i <= s.length; i++) assert.deepEqual(wrapped(cuts(s, [i])), want, `cut at ${i}`);
  });

  it('hooks only a connection whose internals are as expected', () => {
    assert.equal(FastImport.install({} as NatsConnection), null);
    const parser = new Parser({ push: () => undefined });
    const protocol = { parser, inMsgs: 0, inBytes: 0, subscriptions: { get: () => undefined } };
    assert.notEqual(FastImport.install({ protocol } as unknown as NatsConnection), null);
    assert.ok(protocol.parser instanceof ImportParser, 'the current parser is wrapped');
    protocol.parser = new Parser({ push: () => undefined });
    assert.ok(protocol.parser instanceof ImportParser, 'and so is the next (after a reconnection)');
    const busy = new Parser({ push: () => undefined });
    busy.parse(Buffer.from('PI'));
    assert.equal(FastImport.install({ protocol: { ...protocol, parser: busy } } as unknown as NatsConnection), null, 'not inside an operation');
  });
});
