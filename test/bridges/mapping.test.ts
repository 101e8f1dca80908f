import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { MsgHdrsImpl } from '@nats-io/transport-node';
import { maskToSubjects, subjectToTopic, topicToSubject } from '../../src/bridges/subject-mapping.js';

/** nats-server's documented MQTT topic ↔ NATS subject table (and what its MQTT clients see). */
const TABLE: readonly (readonly [string, string])[] = [
  ['foo', 'foo'],
  ['foo/bar', 'foo.bar'],
  ['/foo/bar', '/.foo.bar'],
  ['foo/bar/', 'foo.bar./'],
  ['foo//bar', 'foo./.bar'],
  ['//foo/bar', '/./.foo.bar'],
  ['foo.bar', 'foo//bar'],
  ['a/./b', 'a.//.b'],
  ['a./b', 'a//.b'],
  ['/', '/./'],
  ['a//', 'a././'],
  ['x_y-z:1', 'x_y-z:1'],
  ['plant1/boiler/température', 'plant1.boiler.température'],
];

describe('topic ↔ subject mapping (nats-server MQTT rules)', () => {
  for (const [topic, subject] of TABLE) {
    it(`${JSON.stringify(topic)} ↔ ${JSON.stringify(subject)}`, () => {
      assert.equal(topicToSubject(topic), subject);
      assert.equal(subjectToTopic(subject), topic);
    });
  }

  it('refuses what cannot be a NATS subject', () => {
    for (const bad of ['', 'a b', 'a\tb', 'a\nb', 'a\rb', 'a\u007fb', 'a/*', '>', 'a/>/b', 'x\u0000']) {
      assert.equal(topicToSubject(bad), null, JSON.stringify(bad));
    }
  });

  it('keeps + and # literal in topics (PSRT topics may contain them only inside a level)', () => {
    assert.equal(topicToSubject('a+b/c#'), 'a+b.c#');
    assert.equal(topicToSubject('a*b'), 'a*b');
  });

  it('masks: + → *, # → >, and a/# also subscribes a', () => {
    assert.deepEqual(maskToSubjects('#'), ['>']);
    assert.deepEqual(maskToSubjects('a/+/c'), ['a.*.c']);
    assert.deepEqual(maskToSubjects('a/#'), ['a.>', 'a']);
    assert.deepEqual(maskToSubjects('site1/+/#'), ['site1.*.>', 'site1.*']);
    assert.equal(maskToSubjects('a b/#'), null);
  });

  it('round-trips random topics', () => {
    const alphabet = ['a', 'b', '/', '.', '_', 'é', '+', '#'];
    let seed = 12345;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (let i = 0; i < 5000; i++) {
      let t = '';
      const len = 1 + rnd(10);
      for (let j = 0; j < len; j++) t += alphabet[rnd(alphabet.length)] ?? '';
      const s = topicToSubject(t);
      if (s === null) continue;
      assert.equal(subjectToTopic(s), t, `${t} → ${s}`);
      assert.ok(!s.split('.').includes(''), `empty token in ${s} for ${t}`);
    }
  });
});

describe('MQTT properties in NATS headers', () => {
  it('content type and user properties (any characters) survive the headers', async () => {
    const { exportHeaders, metaOf } = await import('../../src/bridges/nats-bridge.js');
    const props: [string, string][] = [['unit', '°C'], ['a=b', 'x\ny:z'], ['unit', 'second value']];
    const h = exportHeaders('edge1', { priority: 9, contentType: 'application/json', userProperties: props });
    assert.equal(h.get('Psrt-Origin'), 'edge1');
    assert.equal(h.get('Psrt-Priority'), '9');
    assert.ok(h instanceof MsgHdrsImpl);
    const meta = metaOf(MsgHdrsImpl.decode(h.encode()), 'a/b'); // as they cross the wire
    assert.ok(meta !== null);
    assert.equal(meta.contentType, 'application/json');
    assert.deepEqual(meta.userProperties, props);
    assert.equal(meta.rawTopic, 'a/b');
    assert.equal(metaOf(exportHeaders('edge1', { priority: 1, contentType: undefined, userProperties: undefined }), 'a'), null);
  });
});
