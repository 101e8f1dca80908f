/**
 * The package as a user gets it: `npm pack` (which builds dist/ through the `prepare` script, as
 * an install from git does), the tarball installed into an empty project, then:
 * - `import … from 'psrt-node'` and `'psrt-node/client'` work, and every value export their
 *   .d.ts files declare exists at run time (and nothing more);
 * - the client entry loads no server code and none of the server's dependencies, and works with
 *   them removed (as after `npm install --omit=optional`);
 * - both bins run: the installed psrtd serves the installed client, psrt-cli prints its version;
 *   psrtd without its optional dependencies says what to do.
 * One install, pulled from the npm cache where possible (`--prefer-offline`).
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import ts from 'typescript';
import { REPO_ROOT } from '../helpers/psrtd.js';

const run = promisify(execFile);
const NPM_TIMEOUT_MS = 300_000;
const SERVER_ONLY = ['zod', 'yaml', '@node-rs/bcrypt', 'chart.js'];

interface PackEntry {
  filename: string;
  files: { path: string }[];
}

let work = '';
let project = '';
let tarball = '';
let packed: string[] = [];

async function node(args: string[], cwd: string): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const r = await run(process.execPath, args, { cwd, timeout: 30_000 });
    return { ...r, code: 0 };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; code?: number };
    return { stdout: e.stdout ?? '', stderr: e.stderr ?? '', code: typeof e.code === 'number' ? e.code : -1 };
  }
}

/** Value (non-type) exports a module's declaration file promises, read with the TS compiler. */
function declaredValueExports(specifier: string): string[] {
  const file = join(project, `probe-${specifier.replace(/\W/g, '_')}.ts`);
  writeFileSync(file, `export * from '${specifier}';\n`);
  const program = ts.createProgram([file], {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    types: [],
    noEmit: true,
    skipLibCheck: true,
  });
  const diagnostics = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
  assert.deepEqual(diagnostics, [], `${specifier} types resolve`);
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(file);
  assert.ok(source);
  const symbol = checker.getSymbolAtLocation(source);
  assert.ok(symbol);
  return checker
    .getExportsOfModule(symbol)
    .filter((s) => {
      const target = s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s;
      return (target.flags & ts.SymbolFlags.Value) !== 0;
    })
    .map((s) => s.name)
    .sort();
}

describe('npm pack, install into an empty project', { timeout: 2 * NPM_TIMEOUT_MS }, () => {
  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'psrt-pack-'));
    const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', work], {
      cwd: REPO_ROOT,
      timeout: NPM_TIMEOUT_MS,
      maxBuffer: 16 << 20,
    });
    const entry = (JSON.parse(stdout.slice(stdout.indexOf('['))) as PackEntry[])[0];
    assert.ok(entry);
    tarball = join(work, entry.filename);
    packed = entry.files.map((f) => f.path);
    project = join(work, 'app');
    await run('mkdir', ['-p', project]);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball], {
      cwd: project,
      timeout: NPM_TIMEOUT_MS,
    });
  });

  after(() => {
    if (work !== '') rmSync(work, { recursive: true, force: true });
  });

  test('the tarball holds the build, the bins, the licence and the page, no tests or maps', () => {
    for (const f of ['dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/client/index.js', 'dist/src/client/index.d.ts',
      'dist/src/bin/psrtd.js', 'bin/psrtd.js', 'bin/psrt-cli.js', 'bin/launcher-errors.js', 'LICENSE',
      'src/stats/assets/index.html', 'packaging/psrtd.service']) {
      assert.ok(packed.includes(f), `${f} in the tarball`);
    }
    assert.deepEqual(packed.filter((f) => f.startsWith('dist/test') || f.endsWith('.map') || f.endsWith('.ts') && !f.endsWith('.d.ts')), []);
  });

  test('both entries import, and their declarations match what exists', async () => {
    const script = `
      const root = await import('psrt-node');
      const client = await import('psrt-node/client');
      console.log(JSON.stringify({ root: Object.keys(root).sort(), client: Object.keys(client).sort(), same: root.PsrtClient === client.PsrtClient }));`;
    const r = await node(['--input-type=module', '-e', script], project);
    assert.equal(r.code, 0, r.stderr);
    const got = JSON.parse(r.stdout) as { root: string[]; client: string[]; same: boolean };
    assert.ok(got.same);
    assert.ok(got.client.includes('PsrtClient') && got.client.includes('PsrtUdpClient') && got.client.includes('ErrorCode'));
    assert.deepEqual(declaredValueExports('psrt-node/client'), got.client);
    assert.deepEqual(declaredValueExports('psrt-node'), got.root);
  });

  test('the client entry loads no server module; it works without the server dependencies', async () => {
    const hooks = `export async function resolve(s, c, next) { const r = await next(s, c); console.error('LOADED ' + r.url); return r; }`;
    writeFileSync(join(project, 'hooks.mjs'), hooks);
    writeFileSync(join(project, 'register.mjs'), `import { register } from 'node:module';\nregister('./hooks.mjs', import.meta.url);\n`);
    const r = await node(['--import', './register.mjs', '--input-type=module', '-e', "await import('psrt-node/client')"], project);
    assert.equal(r.code, 0, r.stderr);
    const loaded = r.stderr.split('\n').filter((l) => l.startsWith('LOADED ')).map((l) => l.slice(7));
    assert.ok(loaded.some((u) => u.includes('/dist/src/client/')), 'the hook saw the client modules');
    const server = loaded.filter((u) => /\/dist\/src\/(broker|transport|auth|config|stats|cluster|bin|log|cli)\//.test(u) || SERVER_ONLY.some((p) => u.includes(`/node_modules/${p}/`)));
    assert.deepEqual(server, []);

    // As after `npm install --omit=optional`: the client and psrt-cli work, psrtd explains.
    const modules = join(project, 'node_modules');
    for (const p of SERVER_ONLY) if (existsSync(join(modules, p))) renameSync(join(modules, p), join(modules, `${p}.off`));
    try {
      const client = await node(['--input-type=module', '-e', "const { PsrtClient } = await import('psrt-node/client'); console.log(typeof PsrtClient)"], project);
      assert.equal(client.stdout.trim(), 'function', client.stderr);
      const cli = await node([join(modules, '.bin', 'psrt-cli'), '--version'], project);
      assert.equal(cli.stdout.trim(), 'psrt-cli 0.3.6', cli.stderr);
      const psrtd = await node([join(modules, '.bin', 'psrtd'), '-V'], project);
      assert.equal(psrtd.code, 1);
      assert.match(psrtd.stderr, /^psrtd: the server dependency \S+ is not installed .*without --omit=optional/);
    } finally {
      for (const p of SERVER_ONLY) if (existsSync(join(modules, `${p}.off`))) renameSync(join(modules, `${p}.off`), join(modules, p));
    }
  });

  test('the installed psrtd serves the installed client; psrt-cli runs', async () => {
    const bin = join(project, 'node_modules', '.bin');
    writeFileSync(join(project, 'acl.yml'), '_:\n  sub: ["#"]\n  pub: ["#"]\n');
    writeFileSync(
      join(project, 'config.yml'),
      'server: {}\nproto:\n  bind: 127.0.0.1:0\n  allow_no_tls: true\nauth:\n  allow_anonymous: true\n  acl: acl.yml\n',
    );
    const psrtd = spawn(join(bin, 'psrtd'), ['-C', join(project, 'config.yml')], { cwd: project, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const port = await new Promise<number>((resolve, reject) => {
        let text = '';
        const timer = setTimeout(() => { reject(new Error(`psrtd did not start:\n${text}`)); }, 30_000);
        const onData = (d: Buffer): void => {
          text += d.toString();
          const m = /listening on TCP 127\.0\.0\.1:(\d+)/.exec(text);
          if (m?.[1] !== undefined && text.includes('starting server')) {
            clearTimeout(timer);
            resolve(Number(m[1]));
          }
        };
        psrtd.stdout.on('data', onData);
        psrtd.stderr.on('data', onData);
      });
      const script = `
        import { PsrtClient } from 'psrt-node';
        const c = await PsrtClient.connect({ path: '127.0.0.1:${port}', timeout: 5 });
        await c.subscribe('t/#');
        const got = new Promise((r) => c.once('message', (m) => r(m.topic + '=' + m.payload.toString())));
        await c.publish('t/1', 'hi');
        console.log(await got);
        await c.bye();`;
      const r = await node(['--input-type=module', '-e', script], project);
      assert.equal(r.stdout.trim(), 't/1=hi', r.stderr);
      const cli = await node([join(bin, 'psrt-cli'), `127.0.0.1:${port}`, '-t', 't/2', '-m', 'x', '-q'], project);
      assert.equal(cli.code, 0, cli.stderr);
    } finally {
      psrtd.kill('SIGTERM');
      if (psrtd.exitCode === null) await new Promise((r) => psrtd.once('exit', r));
    }
  });
});
