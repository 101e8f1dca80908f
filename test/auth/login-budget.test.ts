/**
 * LoginBudget: per-address fairness of password verification. Pass criteria: one address gets
 * at most one verification running and 8 waiting (more are refused at once); a second address
 * starts at once while the first floods; waiting addresses are served round-robin; a failing
 * task rejects its caller and frees its slot.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LOGIN_REFUSED, LoginBudget } from '../../src/auth/login-budget.js';

function gate(): { promise: Promise<boolean>; open(): void } {
  let open = (): void => undefined;
  const promise = new Promise<boolean>((r) => {
    open = () => { r(true); };
  });
  return { promise, open };
}

describe('LoginBudget', () => {
  it('caps one address and lets another start at once', async () => {
    const budget = new LoginBudget();
    const gates = Array.from({ length: 12 }, gate);
    const started: number[] = [];
    const flood = gates.map((g, i) => budget.run('10.0.0.1', () => { started.push(i); return g.promise; }));
    assert.deepEqual(started, [0], 'one running for the flooding address');
    const refused = await Promise.all(flood.slice(9));
    assert.deepEqual(refused, [LOGIN_REFUSED, LOGIN_REFUSED, LOGIN_REFUSED], '8 waiting, the rest refused');
    let other = false;
    const legit = budget.run('10.0.0.2', () => { other = true; return Promise.resolve(true); });
    assert.equal(other, true, 'another address is not queued behind the flood');
    assert.equal(await legit, true);
    for (const g of gates) g.open();
    assert.deepEqual(await Promise.all(flood.slice(0, 9)), Array<boolean>(9).fill(true));
    assert.deepEqual(budget.load, { running: 0, queued: 0, addresses: 0 });
  });

  it('serves waiting addresses round-robin and survives failing tasks', async () => {
    const budget = new LoginBudget({ maxInFlight: 1 });
    const order: string[] = [];
    const hold = gate();
    const first = budget.run('a', () => hold.promise);
    const runs = ['a', 'a', 'b', 'b', 'c'].map((addr, i) =>
      budget.run(addr, () => {
        order.push(`${addr}${i}`);
        return i === 2 ? Promise.reject(new Error('boom')) : Promise.resolve(true);
      }),
    );
    hold.open();
    await first;
    const results = await Promise.allSettled(runs);
    assert.deepEqual(order, ['a0', 'b2', 'c4', 'a1', 'b3']);
    assert.equal(results[2]?.status, 'rejected');
  });
});
