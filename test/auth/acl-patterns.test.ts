/**
 * `%u` and `%c` mask levels (psrt-node extension, Mosquitto's `pattern`): an entry's masks stand
 * for the client's own login and MQTT client id once bound with forClient; values that would
 * widen a mask grant nothing; entries without placeholders are returned as they are.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { makeAclEntry, parseAclText } from '../../src/auth/index.js';

const acl = parseAclText(
  [
    'sensor1:',
    '  sub: ["sensors/%u/cmd/#", "alarms"]',
    '  pub: ["sensors/%u/data/#", "devices/%c/+"]',
    'sensor2:',
    '  sub: ["sensors/%u/cmd/#", "alarms"]',
    '  pub: ["sensors/%u/data/#", "devices/%c/+"]',
    '_:',
    '  pub: ["anon/%u/x", "anon/open"]',
    'plain:',
    '  pub: ["a/#"]',
    '',
  ].join('\n'),
  'acl.yml',
);

describe('ACL %u / %c levels', () => {
  it('users with the same pattern lines share one entry, bound per client', () => {
    const shared = acl.get('sensor1');
    assert.ok(shared !== undefined);
    assert.equal(acl.get('sensor2'), shared);
    const one = shared.forClient('sensor1', 'dev-1');
    const two = shared.forClient('sensor2');
    assert.equal(one.canPublish('sensors/sensor1/data/t'), true);
    assert.equal(one.canPublish('sensors/sensor2/data/t'), false);
    assert.equal(two.canPublish('sensors/sensor2/data/t'), true);
    assert.equal(two.canPublish('sensors/sensor1/data/t'), false);
    assert.equal(one.canPublish('devices/dev-1/state'), true);
    assert.equal(one.canPublish('devices/dev-2/state'), false);
    assert.equal(two.canPublish('devices/dev-1/state'), false, 'no client id (PSRT, UDP): %c grants nothing');
    assert.equal(one.canSubscribe('sensors/sensor1/cmd/#'), true);
    assert.equal(one.canSubscribe('sensors/+/cmd/#'), false, 'a wildcard is not covered by %u');
    assert.equal(one.canSubscribe('sensors/sensor2/cmd/x'), false);
    assert.equal(one.canSubscribe('alarms'), true, 'masks without placeholders stay');
  });

  it('an unbound entry treats the placeholder as a literal level (never another user)', () => {
    const unbound = acl.get('sensor1');
    assert.ok(unbound !== undefined);
    assert.equal(unbound.canPublish('sensors/sensor1/data/t'), false);
    assert.equal(unbound.canSubscribe('sensors/sensor1/cmd/#'), false);
  });

  it('a login or client id that would widen the mask grants nothing', () => {
    const entry = acl.get('sensor1');
    assert.ok(entry !== undefined);
    for (const bad of ['a/b', '+', '#', 'x+', 'a#', '', 'n\u0000ul']) {
      const bound = entry.forClient(bad, bad);
      assert.equal(bound.canPublish('sensors/a/data/t'), false, JSON.stringify(bad));
      assert.equal(bound.canPublish('sensors/x/data/t'), false, JSON.stringify(bad));
      assert.equal(bound.canSubscribe('sensors/#'), false, JSON.stringify(bad));
      assert.equal(bound.canPublish('devices/a/b'), false, JSON.stringify(bad));
      assert.equal(bound.canSubscribe('alarms'), true, 'the other masks stay');
    }
  });

  it('the anonymous user has no login for %u', () => {
    const anon = acl.get('_')?.forClient('_', 'c1');
    assert.ok(anon !== undefined);
    assert.equal(anon.canPublish('anon/_/x'), false);
    assert.equal(anon.canPublish('anon/open'), true);
  });

  it('entries without placeholders are returned as they are; a bound entry is reused for the same client', () => {
    const plain = acl.get('plain');
    assert.equal(plain?.forClient('plain', 'c'), plain);
    const full = makeAclEntry({ pub: ['#'] });
    assert.equal(full.forClient('x'), full);
    const shared = acl.get('sensor1');
    assert.equal(shared?.forClient('sensor1', 'd'), shared?.forClient('sensor1', 'd'));
    assert.notEqual(shared?.forClient('sensor1', 'd'), shared?.forClient('sensor1', 'e'));
  });

  it('a client id is the client\'s word: only %u before %c keeps users apart (as the docs advise)', () => {
    const shared = parseAclText('a:\n  pub: ["c/%c", "uc/%u/%c"]\nb:\n  pub: ["c/%c", "uc/%u/%c"]\n', 'acl.yml');
    const intruder = shared.get('b')?.forClient('b', 'a-dev');
    assert.ok(intruder !== undefined);
    assert.equal(intruder.canPublish('c/a-dev'), true, '%c alone: any id the client connects with');
    assert.equal(intruder.canPublish('uc/a/a-dev'), false);
    assert.equal(intruder.canPublish('uc/b/a-dev'), true);
    const owner = shared.get('a')?.forClient('a', 'a-dev');
    assert.ok(owner !== undefined);
    assert.equal(owner.canPublish('uc/a/a-dev'), true);
    assert.equal(owner.canPublish('uc/%u/a-dev'), false);
  });

  it('only a whole level is a placeholder', () => {
    const entry = parseAclText('u:\n  pub: ["a/x%u/#", "b/%uc", "c/%u"]\n', 'acl.yml').get('u')?.forClient('bob');
    assert.ok(entry !== undefined);
    assert.equal(entry.canPublish('a/x%u/t'), true);
    assert.equal(entry.canPublish('a/xbob/t'), false);
    assert.equal(entry.canPublish('b/%uc'), true);
    assert.equal(entry.canPublish('c/bob'), true);
  });
});
