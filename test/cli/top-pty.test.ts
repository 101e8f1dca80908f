/** --top in a real pseudo-terminal (util-linux `script`), driven with the s and q keys. */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { startPsrtd, type Psrtd } from '../client/helpers.js';
import { waitFor, within } from '../client/util.js';
import { CLI, runCli } from './run-cli.js';

const hasScript = spawnSync('script', ['--version'], { stdio: 'ignore' }).status === 0;

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

describe('psrt-cli --top under a pseudo-terminal', { skip: hasScript ? false : 'script(1) not available' }, () => {
  let d: Psrtd;
  before(async () => {
    d = await startPsrtd();
  });
  after(async () => {
    await d.stop();
  });

  it('draws the table, s switches the sort, q quits cleanly', async () => {
    const cmd = `stty rows 24 cols 100; exec ${shellQuote(process.execPath)} ${shellQuote(CLI)} ${d.tcp} -t '#' --top`;
    const child = spawn('script', ['-qfec', cmd, '/dev/null'], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, TERM: 'xterm', NO_COLOR: '' },
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    const exited = once(child, 'exit');
    try {
      await waitFor(() => out.includes('\x1b[2J\x1b[1;1H') && out.includes('topic'), 10_000, 'first draw');
      assert.ok(out.includes('\x1b[34mtopic'), 'blue header on a terminal');
      for (let i = 0; i < 3; i++) await runCli([d.tcp, '-t', 'pty/many', '-m', 'x']);
      await runCli([d.tcp, '-t', 'pty/big', '-m', '==5000']);
      await waitFor(() => out.includes('5.00 KB'), 5000, 'table with both topics');
      const countOrder = out.slice(out.lastIndexOf('\x1b[2J'));
      assert.ok(countOrder.indexOf('pty/many') < countOrder.indexOf('pty/big'), 'sorted by count');
      const before = out.length;
      child.stdin.write('s');
      await waitFor(() => out.length > before && out.slice(before).includes('pty/big'), 5000, 'redraw after s');
      const byBytes = out.slice(out.lastIndexOf('\x1b[2J\x1b[1;1H'));
      assert.ok(byBytes.indexOf('pty/big') < byBytes.indexOf('pty/many'), 'sorted by bytes');
      child.stdin.write('q');
      const [code] = (await within(10_000, exited, 'exit after q')) as [number | null];
      assert.equal(code, 0);
      assert.ok(out.includes('\x1b[?25h'), 'cursor shown again');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
