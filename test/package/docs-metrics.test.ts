/**
 * docs/stats.md names every metric family `/metrics` serves, and serves every family it names:
 * a dashboard built from the docs finds its series. Families that need a bridge are documented
 * as `psrt_bridge_*` and only checked by prefix.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT, startPsrtd } from '../helpers/psrtd.js';

/** `a_{x,y}_b` → `a_x_b`, `a_y_b`; a trailing `{label,…}` set is dropped. */
function expand(name: string): string[] {
  const m = /^(.*)\{([^}]*)\}(.*)$/.exec(name);
  if (m === null) return [name];
  if (m[3] === '') return expand(m[1] ?? '');
  const [, head = '', alts = '', tail = ''] = m;
  return alts.split(',').flatMap((alt) => expand(`${head}${alt}${tail}`));
}

function documentedFamilies(): { names: Set<string>; prefixes: string[] } {
  const text = readFileSync(join(REPO_ROOT, 'docs/stats.md'), 'utf8');
  const names = new Set<string>();
  const prefixes: string[] = [];
  for (const [, raw = ''] of text.matchAll(/`((?:psrt|nodejs|process)_[a-z0-9_{},*]+)/g)) {
    if (raw.endsWith('_*')) prefixes.push(raw.slice(0, -1));
    else for (const n of expand(raw)) names.add(n);
  }
  return { names, prefixes };
}

test('docs/stats.md and /metrics name the same metric families', async () => {
  const psrtd = await startPsrtd({
    server: { bind_stats: '127.0.0.1:0' },
    udp: true,
    // The persistence families are served only with a persistence file (relative: the temp config dir).
    mqtt: { persistence_file: 'mqtt-state.bin' },
    // An unreachable neighbour: the cluster families are served only when clustered.
    cluster: '- path: 127.0.0.1:9\n  user: repl\n  password: x\n',
  });
  try {
    const url = `http://127.0.0.1:${String(psrtd.statsPort)}/metrics`;
    // The event-loop lag families appear from the second scrape on.
    await (await fetch(url)).text();
    await new Promise((resolve) => setTimeout(resolve, 100));
    const body = await (await fetch(url)).text();
    const served = new Set([...body.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1] ?? ''));
    const { names, prefixes } = documentedFamilies();
    const undocumented = [...served].filter((f) => !names.has(f) && !prefixes.some((p) => f.startsWith(p)));
    const notServed = [...names].filter((f) => !served.has(f));
    assert.deepEqual({ undocumented, notServed }, { undocumented: [], notServed: [] });
  } finally {
    await psrtd.stop();
  }
});
