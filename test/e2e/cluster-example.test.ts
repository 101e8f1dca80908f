/** docs/examples/cluster is a working 3-node cluster: copied, ports remapped, started, checked. */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { freePort } from '../helpers/ports.js';
import { PSRTD_BIN, REPO_ROOT } from '../helpers/psrtd.js';
import { attachData, login, publishFrame, topicsFrame } from '../helpers/raw.js';

test('the documented 3-node cluster example replicates between all nodes', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'psrt-cluster-example-'));
  cpSync(join(REPO_ROOT, 'docs/examples/cluster'), dir, { recursive: true });
  const map = new Map<string, string>();
  for (const p of ['2873', '2874', '2875', '8881', '8882', '8883']) map.set(p, String(await freePort()));
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.yml'))) {
    const text = readFileSync(join(dir, f), 'utf8').replace(/\b(2873|2874|2875|8881|8882|8883)\b/g, (p) => map.get(p) ?? p);
    writeFileSync(join(dir, f), text);
  }
  const procs: ChildProcess[] = [];
  try {
    for (const n of [1, 2, 3]) {
      const proc = spawn(process.execPath, [PSRTD_BIN, '-C', join(dir, `node${n}.yml`)], { stdio: 'ignore' });
      procs.push(proc);
    }
    const ports = ['2873', '2874', '2875'].map((p) => Number(map.get(p)));
    for (const port of ports) {
      for (let i = 0; i < 100; i++) {
        const ok = await login(port).then((l) => { l.ctl.destroy(); return true; }, () => false);
        if (ok) break;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    const subs = await Promise.all(ports.map(async (port) => {
      const { ctl, token } = await login(port);
      const data = await attachData(port, token, 255);
      ctl.send(topicsFrame(2, ['plant/#']));
      await ctl.read(1);
      return { ctl, data };
    }));
    const pub = (await login(ports[0] ?? 0)).ctl;
    pub.send(publishFrame('plant/boiler/temp', '81.5'));
    assert.equal((await pub.read(1))[0], 1);
    const expected = Buffer.concat([Buffer.from([1, 0x7f]), Buffer.alloc(4), Buffer.from('plant/boiler/temp\u000081.5')]);
    expected.writeUInt32LE(expected.length - 6, 2);
    for (const s of subs) assert.deepEqual(await s.data.read(expected.length, 10000), expected);
    const status = (await (await fetch(`http://127.0.0.1:${map.get('8881') ?? ''}/status`)).json()) as { cluster: Record<string, string> };
    assert.equal(status.cluster[`127.0.0.1:${map.get('2874') ?? ''}`], 'online');
    pub.destroy();
    for (const s of subs) { s.ctl.destroy(); s.data.destroy(); }
  } finally {
    for (const p of procs) p.kill('SIGTERM');
    await Promise.all(procs.map((p) => new Promise((r) => { if (p.exitCode !== null) r(null); else p.once('exit', r); })));
    rmSync(dir, { recursive: true, force: true });
  }
});
