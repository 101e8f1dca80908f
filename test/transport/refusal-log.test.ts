/**
 * The refused-connection log, the process-wide connection gate and the default connection limit,
 * without a server: a fake clock runs the one-second timer by hand.
 */
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { EventEmitter } from 'node:events';
import { describe, test } from 'node:test';
import { RefusalLog, type RefusalClock } from '../../src/transport/refusal-log.js';
import { ConnectionGate } from '../../src/transport/connection-gate.js';
import {
  describeConnectionLimits, FALLBACK_MAX_CONNECTIONS, groupThousands, readOpenFilesLimit, resolveConnectionLimits, statsConnectionCap,
} from '../../src/transport/connection-limits.js';

class FakeClock implements RefusalClock {
  t = 0;
  timers: { at: number; fn: () => void; live: boolean }[] = [];
  now(): number {
    return this.t;
  }
  schedule(fn: () => void, ms: number): () => void {
    const timer = { at: this.t + ms, fn, live: true };
    this.timers.push(timer);
    return () => {
      timer.live = false;
    };
  }
  get pending(): number {
    return this.timers.filter((x) => x.live).length;
  }
  advance(ms: number): void {
    this.t += ms;
    for (;;) {
      const due = this.timers.find((x) => x.live && x.at <= this.t);
      if (due === undefined) return;
      due.live = false;
      due.fn();
    }
  }
}

const MAX = { what: 'server.max_connections (20) reached' };

describe('RefusalLog', () => {
  test('first refusal at once, later ones summed once a second, then the timer stops', () => {
    const clock = new FakeClock();
    const lines: string[] = [];
    const log = new RefusalLog('mqtt: ', (l) => lines.push(l), clock);
    log.note(MAX);
    assert.deepEqual(lines, ['mqtt: connection refused: server.max_connections (20) reached']);
    clock.advance(300);
    for (let i = 0; i < 37; i++) log.note(MAX);
    assert.equal(lines.length, 1, 'nothing more within the second');
    clock.advance(700);
    assert.deepEqual(lines.slice(1), ['mqtt: connections refused: server.max_connections (20) reached, 37 refused in the last 1.0 s']);
    assert.equal(clock.pending, 1, 'armed again after a line');
    clock.advance(1000);
    assert.equal(lines.length, 2, 'a quiet second logs nothing');
    assert.equal(clock.pending, 0, 'and leaves no timer');
    clock.advance(5000);
    log.note({ what: 'out of file descriptors (EMFILE)', hint: 'raise LimitNOFILE' });
    assert.equal(lines[2], 'mqtt: connection refused: out of file descriptors (EMFILE); raise LimitNOFILE');
  });

  test('a steady flood gives one line a second with the count of that second', () => {
    const clock = new FakeClock();
    const lines: string[] = [];
    const log = new RefusalLog('', (l) => lines.push(l), clock);
    for (let ms = 0; ms < 3000; ms += 10) {
      log.note(MAX);
      clock.advance(10);
    }
    clock.advance(2000);
    // t=0 at once; the ticks at 1, 2 and 3 s sum what came after the previous line.
    assert.equal(lines.length, 4);
    assert.match(lines[1] ?? '', /^connections refused: server\.max_connections \(20\) reached, 99 refused in the last 1\.0 s$/);
    assert.match(lines[2] ?? '', /, 100 refused in the last 1\.0 s$/);
    assert.match(lines[3] ?? '', /, 100 refused in the last 1\.0 s$/);
    assert.equal(clock.pending, 0);
  });

  test('stop cancels the timer', () => {
    const clock = new FakeClock();
    const lines: string[] = [];
    const log = new RefusalLog('', (l) => lines.push(l), clock);
    log.note(MAX);
    log.note(MAX);
    log.stop();
    assert.equal(clock.pending, 0);
    clock.advance(2000);
    assert.equal(lines.length, 1);
  });
});

/** Enough of a socket for the gate: destroy() and a 'close' event. */
class FakeSocket extends EventEmitter {
  destroyed = false;
  destroy(): void {
    this.destroyed = true;
    this.emit('close');
  }
}
const fake = (): Socket => new FakeSocket() as unknown as Socket;

describe('ConnectionGate', () => {
  test('explicit max_connections counts every listener together', () => {
    const clock = new FakeClock();
    const warns: string[] = [];
    const gate = new ConnectionGate(resolveConnectionLimits(3, 20_000), { warn: (l) => warns.push(l) }, clock);
    const socks = [fake(), fake(), fake()];
    assert.ok(gate.admit(socks[0] as Socket, 'PSRT'));
    assert.ok(gate.admit(socks[1] as Socket, 'MQTT'));
    assert.ok(gate.admit(socks[2] as Socket, 'MQTT WebSocket'));
    const refused = fake();
    assert.equal(gate.admit(refused, 'PSRT'), false);
    assert.ok(refused.destroyed);
    assert.equal(gate.admit(fake(), 'MQTT'), false);
    assert.deepEqual(gate.refused, { maxConnections: 2, fdExhausted: 0 });
    assert.deepEqual(warns, [
      'connection refused: server.max_connections (3) reached',
      'mqtt: connection refused: server.max_connections (3) reached',
    ]);
    socks[0]?.destroy();
    assert.equal(gate.open, 2);
    assert.ok(gate.admit(fake(), 'PSRT'), 'room again after a close');
    gate.stop();
    assert.equal(clock.pending, 0);
  });

  test('without max_connections the descriptor budget refuses as fd_exhausted', () => {
    const clock = new FakeClock();
    const warns: string[] = [];
    const gate = new ConnectionGate(resolveConnectionLimits(undefined, 66), { warn: (l) => warns.push(l) }, clock);
    for (let i = 0; i < 33; i++) assert.ok(gate.admit(fake(), 'PSRT'));
    assert.equal(gate.admit(fake(), 'PSRT'), false);
    assert.deepEqual(gate.refused, { maxConnections: 0, fdExhausted: 1 });
    assert.equal(warns[0], 'connection refused: out of file descriptors (open-files limit 66, 33 kept in reserve); raise LimitNOFILE / ulimit -n (see docs/operations.md)');
    gate.stop();
  });

  test('EMFILE from accept() is counted and logged, other listener errors only logged; the server keeps listening', async () => {
    const clock = new FakeClock();
    const warns: string[] = [];
    const gate = new ConnectionGate(resolveConnectionLimits(100, null), { warn: (l) => warns.push(l) }, clock);
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    gate.watch(server, 'MQTT');
    const emfile = Object.assign(new Error('accept EMFILE'), { code: 'EMFILE', errno: -24, syscall: 'accept' });
    server.emit('error', emfile);
    server.emit('error', emfile);
    server.emit('error', Object.assign(new Error('accept ENFILE'), { code: 'ENFILE', syscall: 'accept' }));
    server.emit('error', Object.assign(new Error('something else'), { code: 'EIO' }));
    assert.ok(server.listening);
    assert.deepEqual(gate.refused, { maxConnections: 0, fdExhausted: 3 });
    assert.deepEqual(warns, [
      'mqtt: connection refused: out of file descriptors (EMFILE); raise LimitNOFILE / ulimit -n (see docs/operations.md)',
      'mqtt: listener error: something else',
    ]);
    clock.advance(1000);
    assert.match(warns[2] ?? '', /^mqtt: connections refused: system out of file descriptors \(ENFILE\), 2 refused in the last 1\.0 s; raise fs\.file-max/);
    gate.stop();
    await new Promise<void>((resolve) => server.close(() => { resolve(); }));
  });
});

describe('default max_connections', () => {
  test('read from /proc/self/limits text', () => {
    const text = 'Limit                     Soft Limit           Hard Limit           Units\nMax open files            20000                524288               files\n';
    assert.equal(readOpenFilesLimit(text), 20_000);
    assert.equal(readOpenFilesLimit('Max open files            unlimited            unlimited            files\n'), null);
    assert.equal(readOpenFilesLimit(''), null);
  });

  test('derived from the open-files limit, explicit wins, warning above the limit', () => {
    const derived = resolveConnectionLimits(undefined, 20_000);
    assert.equal(derived.maxConnections, 19_936);
    assert.equal(describeConnectionLimits(derived).info, 'max_connections: 19,936 (from the open-files limit 20,000, 64 kept in reserve; set server.max_connections to override)');
    assert.equal(resolveConnectionLimits(undefined, null).maxConnections, FALLBACK_MAX_CONNECTIONS);
    const explicit = resolveConnectionLimits(5000, 20_000);
    assert.equal(explicit.maxConnections, 5000);
    assert.equal(describeConnectionLimits(explicit).warning, null);
    const above = describeConnectionLimits(resolveConnectionLimits(100_000, 20_000));
    assert.match(above.warning ?? '', /^server\.max_connections \(100,000\) is above what the open-files limit 20,000 allows \(19,936 connections/);
  });

  test('the stats server\'s descriptors are kept out of the client budget', () => {
    const table: [number | null, number][] = [[null, 4096], [128, 16], [1024, 64], [20_000, 1250], [65_536, 4096], [1_048_576, 4096]];
    for (const [fd, cap] of table) assert.equal(statsConnectionCap(fd), cap, String(fd));
    const withStats = resolveConnectionLimits(undefined, 20_000, statsConnectionCap(20_000));
    assert.equal(withStats.maxConnections, 20_000 - 64 - 1250);
    assert.equal(describeConnectionLimits(withStats).info, 'max_connections: 18,686 (from the open-files limit 20,000, 64 kept in reserve, 1,250 for the stats server; set server.max_connections to override)');
    const explicit = describeConnectionLimits(resolveConnectionLimits(19_000, 20_000, 1250));
    assert.match(explicit.warning ?? '', /allows \(18,686 connections, 64 kept in reserve, 1,250 for the stats server\)/);
  });
});

describe('groupThousands (start-up log numbers without ICU)', () => {
  test('groups digits by three with commas', () => {
    const table: [number, string][] = [
      [0, '0'], [7, '7'], [999, '999'], [1000, '1,000'], [19_936, '19,936'],
      [1_000_000, '1,000,000'], [1_234_567_890, '1,234,567,890'],
    ];
    for (const [n, text] of table) assert.equal(groupThousands(n), text, String(n));
  });
});
