/** The `$SYS/broker/load/...` averages: Mosquitto's exponentially weighted per-minute rates. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LOAD_WINDOWS, LoadAverage } from '../../src/mqtt/sys-load.js';

const close = (a: number | undefined, b: number, what: string, tolerance = 1e-9): void => {
  assert.ok(a !== undefined && Math.abs(a - b) < tolerance, `${what}: ${a} != ${b}`);
};

test('windows are 1, 5 and 15 minutes', () => {
  assert.deepEqual(LOAD_WINDOWS.map(([name, seconds]) => [name, seconds]), [['1min', 60], ['5min', 300], ['15min', 900]]);
});

test('one step: rate r per minute moves each average to r × (1 − e^(−t/T))', () => {
  const load = new LoadAverage(1000); // counts before the start are not a rate
  load.update(1060, 60); // 60 events in 60 s: 60 per minute
  close(load.averages[0], 60 * (1 - Math.exp(-1)), '1min');
  close(load.averages[1], 60 * (1 - Math.exp(-60 / 300)), '5min');
  close(load.averages[2], 60 * (1 - Math.exp(-60 / 900)), '15min');
});

test('a steady rate is approached; silence decays towards 0; no time passed changes nothing', () => {
  const load = new LoadAverage(0);
  let counter = 0;
  for (let i = 0; i < 2000; i++) load.update((counter += 20), 10); // 120 per minute
  for (const a of load.averages) close(a, 120, 'steady', 1e-6);
  const steady = [...load.averages];
  load.update(counter, 0);
  assert.deepEqual(load.averages, steady, 'no time');
  load.update(counter, 60);
  close(load.averages[0], (steady[0] ?? 0) * Math.exp(-1), 'decay 1min');
  assert.ok((load.averages[2] ?? 0) > (load.averages[1] ?? 0) && (load.averages[1] ?? 0) > (load.averages[0] ?? 0), 'longer windows decay slower');
});

test('a counter that went down (never, but) is no negative rate', () => {
  const load = new LoadAverage(100);
  load.update(50, 10);
  assert.deepEqual(load.averages, [0, 0, 0]);
});
