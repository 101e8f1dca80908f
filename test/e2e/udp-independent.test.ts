/**
 * UDP checked by an implementation we did not write: Debian's Python 3 with python3-cryptography
 * (test/helpers/udp-python.ts, written from PROTOCOL.md §8 alone) builds every datagram kind and
 * reads the acks of a real psrtd; a PSRT subscriber and mosquitto_sub (MQTT) must receive exactly
 * the valid messages, byte for byte, and nothing else. The other way round, what psrt-cli --udp
 * sends must decode in the Python receiver.
 *
 * Pass criteria: the Python datagrams equal the §9.13/§9.14 vectors; every case gets the ack
 * §8.3/§8.4 (and docs/security.md for replays) give it, or silence; both subscribers see the
 * expected deliveries in order and no other; psrt-cli's plain, AES-256 and AES-128 datagrams
 * decode to the topic, payload, login, password and priority it was given.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AES, SPEC } from '../fixtures/vectors/spec-examples.js';
import { runCli } from '../cli/run-cli.js';
import { MosquittoSub, requireMosquittoClients } from '../helpers/mqtt-tools.js';
import { startPsrtd, type Psrtd } from '../helpers/psrtd.js';
import { Subscriber, UDP_ACL, USER1_KEY, udpPasswd } from '../helpers/udp-fixture.js';
import { requirePythonCryptography, runPyUdp, startPyReceiver, type PyCase } from '../helpers/udp-python.js';

const FRAME_SIZE = 512;
const LIMITED_KEY = 'cd'.repeat(32);
const ANON_KEY = 'ef'.repeat(32);
const OK = 'eeaa010001';
const FE = 'eeaa0100fe';
const FF = 'eeaa0100ff';

const h = (s: string | Buffer): string => (typeof s === 'string' ? Buffer.from(s) : s).toString('hex');
const noSpace = (s: string): string => s.replace(/ /g, '').toLowerCase();

interface Expected extends PyCase {
  /** The replies to each send of the case. */
  readonly acks: readonly (readonly string[])[];
  /** Delivered once as (topic, payload hex, priority) when set. */
  readonly delivered?: { topic: string; payload: string; prio: number };
}

const u1 = { login: 'user1', password: 'secret', op: 1, prio: 0x7f } as const;
const enc = (type: 2 | 3, key: string = USER1_KEY, login = 'user1') => ({ type, key, login, op: 1, prio: 0x7f }) as const;
const allBytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
/** Plain header + `user1 00 secret 00` + op, prio + `ind/cut 00`: what is left of 512 for the payload. */
const cutHead = 5 + 13 + 2 + 8;
const longPayload = Buffer.alloc(FRAME_SIZE * 2, 0x61);
const hugeTopic = `ind/${'t'.repeat(400)}`;

function plainCase(name: string, topic: string, payload: Buffer | string, acks: string[][], more: Partial<Expected> = {}): Expected {
  return { name, want: acks[0]?.length === 1 ? 1 : 0, type: 0, ...u1, topic: h(topic), payload: h(payload), acks, ...more };
}

const CASES: Expected[] = [
  plainCase('plain, ack', 'ind/plain', allBytes, [[OK]], { delivered: { topic: 'ind/plain', payload: h(allBytes), prio: 0x7f } }),
  plainCase('plain, no ack, NUL in payload', 'ind/noack', 'a\0b', [[]], { op: 0x21, delivered: { topic: 'ind/noack', payload: h('a\0b'), prio: 0x7f } }),
  plainCase('wrong password', 'ind/x', 'x', [[FE]], { password: 'wrong' }),
  plainCase('wrong password, no ack', 'ind/x', 'x', [[]], { password: 'wrong', op: 0x21 }),
  plainCase('unknown user', 'ind/x', 'x', [[FE]], { login: 'nobody' }),
  plainCase('anonymous', 'ind/anon', 'an', [[OK]], { login: '', password: '', delivered: { topic: 'ind/anon', payload: h('an'), prio: 0x7f } }),
  plainCase('zero-length payload', 'ind/empty', '', [[OK]], { delivered: { topic: 'ind/empty', payload: '', prio: 0x7f } }),
  plainCase('huge topic', hugeTopic, 'h', [[OK]], { delivered: { topic: hugeTopic, payload: h('h'), prio: 0x7f } }),
  plainCase('too deep', 'a/b/c/d/e/f/g/h/i/j/k', 'x', [[FF]]),
  plainCase('wildcard +', 'ind/+', 'x', [[FF]]),
  plainCase('wildcard # inside a level', 'ind/a#', 'x', [[FF]]),
  { name: 'topic not UTF-8', want: 1, type: 0, ...u1, topic: '696e642fff', payload: '78', acks: [[FF]] },
  { name: 'topic not UTF-8, no ack', want: 0, type: 0, ...u1, op: 0x21, topic: '696e642fc3', payload: '78', acks: [[]] },
  plainCase('priority 00', 'ind/p0', 'x', [[]], { prio: 0 }),
  plainCase('priority ff', 'ind/pff', 'x', [[OK]], { prio: 0xff, delivered: { topic: 'ind/pff', payload: h('x'), prio: 0xff } }),
  plainCase('longer than udp_frame_size: cut', 'ind/cut', longPayload, [[OK]], {
    delivered: { topic: 'ind/cut', payload: h(longPayload.subarray(0, FRAME_SIZE - cutHead)), prio: 0x7f },
  }),
  { name: 'AES-256', want: 1, ...enc(3), topic: h('ind/e256'), payload: h(allBytes), acks: [[OK]], delivered: { topic: 'ind/e256', payload: h(allBytes), prio: 0x7f } },
  { name: 'AES-128, priority 05', want: 1, ...enc(2), prio: 5, topic: h('ind/e128'), payload: h('b'), acks: [[OK]], delivered: { topic: 'ind/e128', payload: h('b'), prio: 5 } },
  { name: 'AES-256, no ack, empty payload', want: 0, ...enc(3), op: 0x21, topic: h('ind/e0'), payload: '', acks: [[]], delivered: { topic: 'ind/e0', payload: '', prio: 0x7f } },
  { name: 'AES, wrong key', want: 0, ...enc(3, LIMITED_KEY), topic: h('ind/x'), payload: h('x'), acks: [[]] },
  { name: 'AES-128 under the second key half', want: 0, ...enc(2, USER1_KEY.slice(32) + USER1_KEY.slice(0, 32)), topic: h('ind/x'), payload: h('x'), acks: [[]] },
  { name: 'AES, tag cut by one byte', want: 0, ...enc(3), topic: h('ind/x'), payload: h('x'), mutate: 'cut-tag-byte', acks: [[]] },
  { name: 'AES, ciphertext bit flipped', want: 0, ...enc(3), topic: h('ind/x'), payload: h('x'), mutate: 'flip-ciphertext', acks: [[]] },
  { name: 'AES, tag bit flipped', want: 0, ...enc(2), topic: h('ind/x'), payload: h('x'), mutate: 'flip-tag', acks: [[]] },
  { name: 'AES, replayed', want: 1, ...enc(3), topic: h('ind/replay'), payload: h('r'), times: 2, acks: [[OK], [OK]], delivered: { topic: 'ind/replay', payload: h('r'), prio: 0x7f } },
  { name: 'AES, denied by the ACL, sent twice', want: 1, ...enc(3, LIMITED_KEY, 'limited'), topic: h('ind/denied'), payload: h('x'), times: 2, acks: [[FE], [FE]] },
  { name: 'AES, wildcard, sent twice', want: 1, ...enc(3), topic: h('ind/#'), payload: h('x'), times: 2, acks: [[FF], [FF]] },
  { name: 'AES, topic not UTF-8', want: 1, ...enc(3), topic: '696e642fc3', payload: h('x'), acks: [[FF]] },
  { name: 'AES, longer than udp_frame_size', want: 0, ...enc(3), topic: h('ind/x'), payload: h(longPayload), acks: [[]] },
  { name: 'AES, empty login: key of _', want: 1, ...enc(3, ANON_KEY, ''), topic: h('ind/anonkey'), payload: h('k'), acks: [[OK]], delivered: { topic: 'ind/anonkey', payload: h('k'), prio: 0x7f } },
  { name: 'type 01 (reserved)', want: 0, raw: `eeaa010001${h('user1\0secret\0')}017f${h('ind/x\0x')}`, acks: [[]] },
  { name: 'version 2', want: 0, raw: `eeaa020000${h('user1\0secret\0')}017f${h('ind/x\0x')}`, acks: [[]] },
  { name: 'op 02', want: 0, raw: `eeaa010000${h('user1\0secret\0')}027f${h('ind/x\0x')}`, acks: [[]] },
  { name: 'no message part', want: 1, raw: `eeaa010000${h('user1\0secret\0')}017f${h('ind/x')}`, acks: [[FF]] },
];

describe('UDP against an independent Python implementation (python3-cryptography)', () => {
  let server: Psrtd;
  let psrt: Subscriber;
  let mqtt: MosquittoSub;
  before(async () => {
    requirePythonCryptography();
    requireMosquittoClients();
    server = await startPsrtd({
      udp: true,
      acl: UDP_ACL,
      passwd: udpPasswd(),
      keys: `user1: ${USER1_KEY}\nlimited: ${LIMITED_KEY}\n_: ${ANON_KEY}\n`,
      proto: { udp_frame_size: FRAME_SIZE, timeout: 10 },
      mqtt: {},
    });
    psrt = await Subscriber.create(server.port);
    mqtt = await MosquittoSub.start(server.mqttPort, ['-V', 'mqttv311', '-t', '#']);
  });
  after(async () => {
    psrt.close();
    await mqtt.stop();
    assert.equal(await server.stop(), 0);
  });

  test('the Python datagrams are the §9.13 and §9.14 vectors', async () => {
    const [v] = (await runPyUdp(['vectors'])) as { aes256: string; aes128: string; plain: string }[];
    assert.ok(v);
    assert.equal(v.aes256, noSpace(AES.aes256.datagram));
    assert.equal(v.aes128, noSpace(AES.aes128.datagram));
    assert.equal(v.plain, noSpace(SPEC.udpPlainNoAck));
  });

  test('every datagram kind gets its ack or silence; subscribers get exactly the valid ones', async () => {
    const lines = (await runPyUdp(['send', String(server.udpPort), JSON.stringify(CASES)])) as { name: string; replies: string[] }[];
    const want = CASES.flatMap((c) => c.acks.map((acks) => ({ name: c.name, replies: [...acks] })));
    assert.deepEqual(lines, want);
    const delivered = CASES.flatMap((c) => (c.delivered === undefined ? [] : [c.delivered]));
    // A last datagram marks the end: nothing may come between the expected ones and it.
    const end = { topic: 'ind/end', payload: h('end'), prio: 0x7f };
    await runPyUdp(['send', String(server.udpPort), JSON.stringify([plainCase('end', 'ind/end', 'end', [[OK]])])]);
    for (const d of [...delivered, end]) {
      const f = await psrt.nextFrame();
      assert.deepEqual({ topic: f.topic, payload: f.payload.toString('hex'), prio: f.priority }, d, `PSRT delivery of ${d.topic.slice(0, 40)}`);
    }
    await mqtt.waitMessages(delivered.length + 1);
    assert.deepEqual(
      mqtt.messages.map((m) => ({ topic: m.topic, payload: m.payload.toString('hex') })),
      [...delivered, end].map((d) => ({ topic: d.topic, payload: d.payload })),
    );
  });

  test('psrt-cli --udp datagrams decode in the Python receiver', async () => {
    const keyFile = join(server.dir, 'user1.key');
    writeFileSync(keyFile, `${USER1_KEY}\n`);
    const rx = await startPyReceiver(3, { user1: USER1_KEY });
    const to = `127.0.0.1:${rx.port}`;
    const runs = [
      ['-u', 'user1', '-p', 'secret', '-t', 'cli/plain', '-m', 'plain'],
      ['-u', 'user1', '--udp-key-file', keyFile, '-t', 'cli/aes256', '-m', 'aes256'],
      ['-u', 'user1', '--udp-key-file', keyFile, '--udp-encryption', 'aes128', '--priority', '9', '-t', 'cli/aes128', '-m', ''],
    ];
    for (const args of runs) assert.equal((await runCli([to, '--udp', '--timeout', '5', '-q', ...args])).code, 0, args.join(' '));
    const got = await rx.done;
    assert.deepEqual(got, [
      { type: 0, login: 'user1', password: 'secret', op: 1, prio: 0x7f, topic: h('cli/plain'), payload: h('plain') },
      { type: 3, login: 'user1', password: null, op: 1, prio: 0x7f, topic: h('cli/aes256'), payload: h('aes256') },
      { type: 2, login: 'user1', password: null, op: 1, prio: 9, topic: h('cli/aes128'), payload: '' },
    ]);
  });
});
