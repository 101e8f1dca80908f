/**
 * docs/examples/bridges works: a 3-node NATS cluster from its conf files, two edge psrtd
 * nodes feeding it, the control room's psrtd and a NATS-native consumer reading it, and a
 * command going back to one plant. Copied, ports remapped, started, checked.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { connect } from '@nats-io/transport-node';
import { until } from '../helpers/engines.js';
import { freePort } from '../helpers/ports.js';
import { PSRTD_BIN, REPO_ROOT } from '../helpers/psrtd.js';
import { Collector, publishAll } from './util.js';

const PORTS = ['4222', '4223', '4224', '6222', '6223', '6224', '8222', '8223', '8224', '2873', '2874', '2880', '8880', '8881', '8882'];

async function online(statsPort: string, name: string): Promise<boolean> {
  try {
    const body = (await (await fetch(`http://127.0.0.1:${statsPort}/status`)).json()) as { bridges?: Record<string, { state: string }> };
    return body.bridges?.[name]?.state === 'online';
  } catch {
    return false;
  }
}

test('N edge nodes feed a NATS cluster; the control room reads it and commands one plant', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'psrt-bridges-example-'));
  cpSync(join(REPO_ROOT, 'docs/examples/bridges'), dir, { recursive: true });
  const map = new Map<string, string>();
  for (const p of PORTS) map.set(p, String(await freePort()));
  const re = new RegExp(`\\b(${PORTS.join('|')})\\b`, 'g');
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.yml') || n.endsWith('.conf'))) {
    writeFileSync(join(dir, f), readFileSync(join(dir, f), 'utf8').replace(re, (p) => map.get(p) ?? p));
  }
  const port = (p: string): number => Number(map.get(p));
  const procs: ChildProcess[] = [];
  const closers: (() => void)[] = [];
  try {
    for (const n of [1, 2, 3]) procs.push(spawn('nats-server', ['-c', join(dir, `nats${n}.conf`)], { stdio: 'ignore' }));
    for (const f of ['edge1', 'edge2', 'control']) procs.push(spawn(process.execPath, [PSRTD_BIN, '-C', join(dir, `${f}.yml`)], { stdio: 'ignore' }));
    await until(async () => (await online(map.get('8881') ?? '', 'control-room')) && (await online(map.get('8882') ?? '', 'control-room'))
      && (await online(map.get('8880') ?? '', 'plants')), 30_000, 'all bridges online');
    const room = await Collector.open(port('2880'), ['#']);
    const plant1 = await Collector.open(port('2873'), ['cmd/#']);
    closers.push(() => { room.close(); plant1.close(); });
    const nc = await connect({ servers: `nats://127.0.0.1:${port('4223')}` });
    closers.push(() => { void nc.close(); });
    const subjects: string[] = [];
    nc.subscribe('plant1.>', { callback: (_e, m) => { subjects.push(m.subject); } });
    nc.subscribe('plant2.>', { callback: (_e, m) => { subjects.push(m.subject); } });
    await nc.flush();
    await new Promise((r) => setTimeout(r, 300)); // interest crosses the cluster routes

    await publishAll(port('2873'), 'boiler/temp', ['81.5']);
    await publishAll(port('2874'), 'press/force', ['12']);
    await room.waitFor(2);
    assert.deepEqual(room.messages.map((m) => [m.topic, m.payload.toString()]).sort(), [['plant1/boiler/temp', '81.5'], ['plant2/press/force', '12']]);
    await until(() => subjects.length >= 2, 10_000, 'the NATS consumer');
    assert.deepEqual([...subjects].sort(), ['plant1.boiler.temp', 'plant2.press.force']);

    await publishAll(port('2880'), 'plant1/cmd/stop', ['now']);
    await plant1.waitFor(1);
    assert.deepEqual(plant1.messages.map((m) => [m.topic, m.payload.toString()]), [['cmd/stop', 'now']]);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(room.messages.length, 3, 'the room sees its own command once (local delivery), never again through NATS');
  } finally {
    for (const c of closers) c();
    for (const p of procs) if (p.pid !== undefined && p.exitCode === null) process.kill(p.pid, 'SIGTERM');
    await Promise.all(procs.map((p) => (p.exitCode !== null || p.signalCode !== null ? Promise.resolve() : new Promise((r) => p.once('exit', r)))));
    rmSync(dir, { recursive: true, force: true });
  }
});
