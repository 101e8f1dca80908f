/**
 * Valid wire streams for the fuzzers, built with the project's encoders: a whole control
 * session (greeting, login, pipelined requests), a data-socket stream, and UDP datagrams.
 * The mutators in mutate.ts then damage them; the unmutated stream is the round-trip oracle.
 */
import fc from 'fast-check';
import {
  encodeBye,
  encodeDataFrame,
  encodeGreeting,
  encodeLogin,
  encodeNop,
  encodePublish,
  encodeReplBody,
  encodeReplTopic,
  encodeSubscribe,
  encodeUnsubscribe,
} from '../../../src/protocol/encode.js';
import type { DataEvent } from '../../../src/protocol/data-decoder.js';
import { unicodeText } from '../../../test/protocol/helpers.js';

export type Request =
  | { readonly kind: 'nop' | 'bye' }
  | { readonly kind: 'publish'; readonly priority: number; readonly topic: string; readonly payload: Buffer }
  | { readonly kind: 'subscribe' | 'unsubscribe'; readonly topics: readonly string[] }
  | {
      readonly kind: 'repl';
      readonly topic: string;
      readonly priority: number;
      readonly timestampNs: bigint;
      readonly payload: Buffer;
    };

const byte = fc.integer({ min: 0, max: 255 });
const payloadArb = fc.oneof(
  { weight: 9, arbitrary: fc.uint8Array({ maxLength: 48 }) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 256, maxLength: 4096 }) },
).map((a) => Buffer.from(a));

/** Topic levels that hit normalisation (empty levels), depth and non-ASCII text. */
const plainLevelArb = fc.oneof(fc.constantFrom('a', 'b', 'plant1', 'temp', '', 'fz'), unicodeText(1, 4));
/** Wildcards close a publishing session, so publish topics get them only now and then. */
const levelArb = fc.oneof(
  { weight: 4, arbitrary: plainLevelArb },
  { weight: 1, arbitrary: fc.constantFrom('+', '#', 'x+y') },
);
const topic = (level: fc.Arbitrary<string>): fc.Arbitrary<string> =>
  fc
    .tuple(fc.boolean(), fc.array(level, { minLength: 1, maxLength: 6 }))
    .map(([lead, levels]) => `${lead ? '/' : ''}${levels.join('/')}`);
/** Subscription masks and UDP topics: wildcards anywhere. */
export const topicArb: fc.Arbitrary<string> = topic(levelArb);
/** Publish topics: mostly valid. */
const pubTopicArb = fc.oneof({ weight: 9, arbitrary: topic(plainLevelArb) }, { weight: 1, arbitrary: topicArb });

const requestArb: fc.Arbitrary<Request> = fc.oneof(
  { weight: 2, arbitrary: fc.constant({ kind: 'nop' as const }) },
  {
    weight: 6,
    arbitrary: fc.record({ kind: fc.constant('publish' as const), priority: byte, topic: pubTopicArb, payload: payloadArb }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constantFrom('subscribe' as const, 'unsubscribe' as const),
      topics: fc.array(topicArb, { maxLength: 4 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('repl' as const),
      topic: topicArb,
      priority: byte,
      timestampNs: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
      payload: payloadArb,
    }),
  },
);

export function encodeRequest(r: Request): Buffer {
  switch (r.kind) {
    case 'nop':
      return encodeNop();
    case 'bye':
      return encodeBye();
    case 'publish':
      return encodePublish(r.priority, r.topic, r.payload);
    case 'subscribe':
      return encodeSubscribe(r.topics);
    case 'unsubscribe':
      return encodeUnsubscribe(r.topics);
    case 'repl':
      return Buffer.concat([encodeReplTopic(r.topic), encodeReplBody(r.priority, r.timestampNs, r.payload)]);
  }
}

export interface ControlSession {
  readonly greeting: Buffer;
  readonly login: string;
  readonly password: string;
  readonly requests: readonly Request[];
  /** greeting + login frame + every request, as a client would pipeline them. */
  readonly bytes: Buffer;
}

/** Mostly a plain control greeting; sometimes TLS, data or a bad mode (policy paths). */
const greetingArb = fc.oneof(
  { weight: 24, arbitrary: fc.constant(encodeGreeting('control', false)) },
  { weight: 1, arbitrary: fc.constant(encodeGreeting('control', true)) },
  { weight: 1, arbitrary: fc.constant(encodeGreeting('data', false)) },
  { weight: 1, arbitrary: fc.constantFrom(0x02, 0x7f, 0xff).map((m) => Buffer.from([0xee, 0xaa, m])) },
);

export const controlSessionArb: fc.Arbitrary<ControlSession> = fc
  .record({
    greeting: greetingArb,
    login: unicodeText(0, 12),
    password: unicodeText(0, 12, true),
    requests: fc.array(requestArb, { minLength: 1, maxLength: 12 }),
    bye: fc.boolean(),
  })
  .map(({ greeting, login, password, requests, bye }) => {
    const all: Request[] = bye ? [...requests, { kind: 'bye' }] : requests;
    const bytes = Buffer.concat([greeting, encodeLogin(login, password), ...all.map(encodeRequest)]);
    return { greeting, login, password, requests: all, bytes };
  });

export interface DataStream {
  readonly events: readonly DataEvent[];
  readonly bytes: Buffer;
}

/** What a subscriber reads on its data socket: message frames and `00` pings. */
export const dataStreamArb: fc.Arbitrary<DataStream> = fc
  .array(
    fc.oneof(
      { weight: 1, arbitrary: fc.constant<DataEvent>({ kind: 'ping' }) },
      {
        weight: 5,
        arbitrary: fc
          .tuple(byte, unicodeText(0, 16), payloadArb)
          .map(([priority, topic, payload]): DataEvent => ({ kind: 'message', priority, topic, payload })),
      },
    ),
    { minLength: 1, maxLength: 16 },
  )
  .map((events) => ({
    events,
    bytes: Buffer.concat(
      events.map((e) => (e.kind === 'ping' ? Buffer.from([0]) : encodeDataFrame(e.priority, e.topic, e.payload))),
    ),
  }));

/** Fields of one UDP publish (§8.1/§8.2); op 01 wants an ack, 21 does not. */
export interface UdpFields {
  readonly op: number;
  readonly priority: number;
  readonly login: string;
  readonly password: string;
  readonly topic: string;
  readonly payload: Buffer;
}

export const udpFieldsArb: fc.Arbitrary<UdpFields> = fc.record({
  op: fc.constantFrom(0x01, 0x21, 0x01, 0x00, 0x11),
  priority: fc.oneof(fc.integer({ min: 1, max: 255 }), fc.constant(0)),
  login: fc.oneof(fc.constantFrom('', 'user1', 'nokey'), unicodeText(0, 8)),
  password: unicodeText(0, 8),
  topic: topicArb,
  payload: payloadArb,
});
