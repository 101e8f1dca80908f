/**
 * Auth file benchmark (`npm run bench -- --auth-files [options]`): what acl.yml, the password
 * file and keys.yml of a site with N users cost psrtd. For each N it writes the three files
 * (every user with a password, an ACL entry and, with --keys, a UDP key), then
 *   - in a child process with psrtd's runtime settings: the time to parse each file and the
 *     memory (JS heap and buffers) each keeps per user (after a full collection);
 *   - psrtd as shipped on those files: the time from spawn to "starting server", its RSS after
 *     a settle, and a SIGHUP reload: how long it takes ("SIGHUP reload done in …") and the
 *     longest round trip of a client pinging every 5 ms meanwhile (the server keeps serving).
 * Bounded: every wait has a deadline; the files go to a private temporary directory.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PsrtClient } from '../src/client/index.js';
import { REPO_ROOT, SHIPPED_RUNTIME } from './lib/brokers.js';
import { SERVER_CORE, startPinned, type Proc } from './lib/procs.js';
import type { ParseFigures } from './load/auth-parse.js';

/** `test`'s line of the project's htpasswd fixture: password `123`, `$2y$`, cost 5. */
const HASH = readFileSync(join(REPO_ROOT, 'test/fixtures/config/passwd'), 'utf8').split('\n')[0]?.split(':')[1] ?? '';
const PASSWORD = '123';

interface Options {
  users: number[];
  rights: 'own' | 'shared';
  keys: boolean;
  server: boolean;
  settleSeconds: number;
}

const USAGE = `Usage: npm run bench -- --auth-files [options]

  --users LIST        user counts (default 100000,1000000)
  --rights own|shared own: each user its own two topics (sensors/<user>/cmd/#, sensors/<user>/data/#);
                      shared: every user the same lists (default own)
  --keys              also a keys.yml with a UDP key per user
  --no-server         only the in-process parse figures, no psrtd
  --settle-seconds S  wait before reading psrtd's RSS (default 10)
  -h, --help          this help`;

function parseArgs(argv: readonly string[]): Options {
  const o: Options = { users: [100_000, 1_000_000], rights: 'own', keys: false, server: true, settleSeconds: 10 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--help' || a === '-h') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else if (a === '--users') o.users = (argv[++i] ?? '').split(',').map(Number).filter((n) => Number.isInteger(n) && n > 0 && n <= 5_000_000);
    else if (a === '--rights') o.rights = argv[++i] === 'shared' ? 'shared' : 'own';
    else if (a === '--keys') o.keys = true;
    else if (a === '--no-server') o.server = false;
    else if (a === '--settle-seconds') o.settleSeconds = Math.max(0, Math.min(120, Number(argv[++i]) || 0));
    else throw new Error(`unknown option ${String(a)} (see --help)`);
  }
  if (o.users.length === 0) throw new Error('--users: expected a list of counts up to 5,000,000');
  return o;
}

function writeFiles(dir: string, n: number, o: Options): void {
  const acl: string[] = ['_:\n  sub: ["#"]\n  pub: ["#"]\n  admin: true\n'];
  const passwd: string[] = [];
  const keys: string[] = [];
  for (let i = 0; i < n; i++) {
    const user = `sensor${i}`;
    acl.push(
      o.rights === 'own'
        ? `${user}:\n  sub: ["sensors/${user}/cmd/#"]\n  pub: ["sensors/${user}/data/#"]\n`
        : `${user}:\n  sub: ["plant/cmd/#"]\n  pub: ["plant/data/#", "alarms"]\n`,
    );
    passwd.push(`${user}:${HASH}\n`);
    if (o.keys) keys.push(`${user}: ${(i * 2654435761 >>> 0).toString(16).padStart(8, '0').repeat(8)}\n`);
  }
  writeFileSync(join(dir, 'acl.yml'), acl.join(''));
  writeFileSync(join(dir, 'passwd'), passwd.join(''));
  if (o.keys) writeFileSync(join(dir, 'keys.yml'), keys.join(''));
  const keyLines = o.keys ? '  key_file: keys.yml\n' : '';
  writeFileSync(
    join(dir, 'config.yml'),
    `server: {}\nproto:\n  bind: ["127.0.0.1:0"]\n  allow_no_tls: true\n  timeout: 30\nauth:\n  allow_anonymous: false\n  acl: acl.yml\n  password_file: passwd\n${keyLines}`,
  );
}

function parseInChild(dir: string, keys: boolean): ParseFigures {
  const out = execFileSync(
    process.execPath,
    [...SHIPPED_RUNTIME.nodeArgs, '--expose-gc', join(REPO_ROOT, 'dist/bench/load/auth-parse.js'), dir, keys ? 'keys' : ''],
    { env: { ...process.env, ...SHIPPED_RUNTIME.env }, encoding: 'utf8', timeout: 600_000, maxBuffer: 1 << 20 },
  );
  return JSON.parse(out) as ParseFigures;
}

function rssMb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
  return Number(/\d+/.exec(line ?? '')?.[0] ?? NaN) / 1024;
}

interface ServerFigures {
  startSeconds: number;
  rssMb: number;
  reloadSeconds: number;
  longestPingMs: number;
  pingsOver50ms: number;
  rssAfterReloadMb: number;
}

async function measureServer(dir: string, o: Options): Promise<ServerFigures> {
  const started = performance.now();
  const proc: Proc = startPinned(SERVER_CORE, process.execPath, [...SHIPPED_RUNTIME.nodeArgs, join(REPO_ROOT, 'bin/psrtd.js'), '-C', join(dir, 'config.yml')], 'pipe', SHIPPED_RUNTIME.env);
  try {
    const port = Number((await proc.waitFor(/listening on TCP 127\.0\.0\.1:(\d+)/, 300_000))[1]);
    await proc.waitFor(/starting server/, 60_000);
    const startSeconds = (performance.now() - started) / 1000;
    await sleep(o.settleSeconds * 1000);
    const rss = rssMb(proc.pid);
    const client = await PsrtClient.connect({ path: `127.0.0.1:${port}`, user: 'sensor0', password: PASSWORD, timeout: 30 });
    let longest = 0;
    let over = 0;
    const pinger = { running: true };
    const pinging = (async () => {
      while (pinger.running) {
        const t = performance.now();
        await client.ping();
        const d = performance.now() - t;
        longest = Math.max(longest, d);
        if (d > 50) over++;
        await sleep(5);
      }
    })();
    await sleep(500);
    proc.child.kill('SIGHUP');
    const done = await proc.waitFor(/SIGHUP reload done(?: with errors \(see above\))? in (\d+\.\d+) s/, 300_000);
    await sleep(500);
    pinger.running = false;
    await pinging;
    await client.bye();
    await sleep(o.settleSeconds * 1000);
    return { startSeconds, rssMb: rss, reloadSeconds: Number(done[1]), longestPingMs: longest, pingsOver50ms: over, rssAfterReloadMb: rssMb(proc.pid) };
  } finally {
    await proc.stop();
  }
}

const f1 = (x: number): string => (Number.isFinite(x) ? x.toFixed(x < 10 ? 2 : 1) : "—");
const f0 = (x: number): string => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '—');

export async function runAuthFilesBench(argv: readonly string[]): Promise<void> {
  const o = parseArgs(argv);
  const rows: string[] = [];
  for (const n of o.users) {
    const dir = mkdtempSync(join(tmpdir(), 'psrt-auth-bench-'));
    try {
      process.stderr.write(`${n.toLocaleString('en-US')} users: writing files…\n`);
      writeFiles(dir, n, o);
      const p = parseInChild(dir, o.keys);
      process.stderr.write(`  parsed: ${JSON.stringify(p)}\n`);
      const s = o.server ? await measureServer(dir, o) : null;
      if (s !== null) process.stderr.write(`  psrtd: ${JSON.stringify(s)}\n`);
      rows.push(
        `| ${f0(n)} | ${f1(p.aclMb)} MB, ${f1(p.aclSeconds)} s, ${f0(p.aclBytesPerUser)} B | ${f1(p.passwdMb)} MB, ${f1(p.passwdSeconds)} s, ${f0(p.passwdBytesPerUser)} B | ` +
          `${p.keysSeconds === null ? '—' : `${f1(p.keysSeconds)} s, ${f0(p.keysBytesPerUser ?? NaN)} B`} | ` +
          (s === null ? '— | — | — |' : `${f1(s.startSeconds)} s, ${f0(s.rssMb)} MB | ${f1(s.reloadSeconds)} s, longest ping ${f0(s.longestPingMs)} ms (${s.pingsOver50ms} over 50 ms) | ${f0(s.rssAfterReloadMb)} MB |`),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  process.stdout.write(
    `\nrights: ${o.rights}${o.keys ? ', with keys.yml' : ''}; parse figures: file size, time, memory kept per user (JS heap and buffers)\n\n` +
      '| users | acl.yml | password file | keys.yml | psrtd start, RSS | SIGHUP reload | RSS after reload |\n|---|---|---|---|---|---|---|\n' +
      `${rows.join('\n')}\n`,
  );
}

if (import.meta.url === `file://${process.argv[1] ?? ''}`) await runAuthFilesBench(process.argv.slice(2));
