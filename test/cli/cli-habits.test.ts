/**
 * What a mosquitto_sub/pub user expects of psrt-cli: a default address, -C/-W, -f/-s/-l,
 * --priority, -v and -N output, --json; a subscriber that survives a server restart (with a
 * notice) unless --no-reconnect; a message over the server's size limit explained.
 */
import assert from 'node:assert/strict';
import { hashSync } from '@node-rs/bcrypt';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_ADDRESS, parseArgs } from '../../src/cli/args.js';
import { startPsrtd, type Psrtd } from '../helpers/psrtd.js';
import { FakeServer } from '../client/fake-server.js';
import { freePort, tempDir, waitFor } from '../client/util.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { runCli, spawnCli, spawnSubscriber, type RunningCli } from './run-cli.js';

/** Starts a subscriber and waits until psrtd has processed its SUBSCRIBE. */
function subscriber(server: Psrtd, args: string[]): Promise<RunningCli> {
  return spawnSubscriber(args, server.statsPort ?? 0);
}

/** Every psrtd here serves /status, which tells when a subscriber's SUBSCRIBE was processed. */
const STATS = { bind_stats: '127.0.0.1:0' };

describe('psrt-cli: options of mosquitto_sub/pub users', () => {
  let d: Psrtd;
  let addr = '';
  const files = tempDir('psrt-cli-habits-');
  before(async () => {
    d = await startPsrtd({ server: STATS });
    addr = `127.0.0.1:${d.port}`;
  });
  after(async () => {
    await d.stop();
    files.remove();
  });

  it('the address defaults to localhost:2873; shorthands map to output formats', () => {
    assert.equal(DEFAULT_ADDRESS, 'localhost:2873');
    assert.equal(parseArgs(['-t', 'x']).address, 'localhost:2873');
    assert.equal(parseArgs(['-t', 'x', '-v']).output, 'line');
    assert.equal(parseArgs(['-t', 'x', '-N']).output, 'raw-no-eol');
    assert.equal(parseArgs(['-t', 'x', '-v', '-N']).output, 'line-no-eol');
    assert.equal(parseArgs(['-t', 'x', '--json']).output, 'json');
    assert.equal(parseArgs(['-t', 'x']).reconnect, true);
    assert.equal(parseArgs(['-t', 'x', '--no-reconnect']).reconnect, false);
    assert.equal(parseArgs(['-t', 'x', '-f', 'file']).mode, 'publish');
    assert.equal(parseArgs(['-t', 'x', '-s']).stdin, 'raw');
    assert.equal(parseArgs(['-t', 'x', '-l']).stdin, 'lines');
    assert.throws(() => parseArgs(['-t', 'x', '-m', 'a', '-f', 'b']), /exclude each other/);
    assert.throws(() => parseArgs(['-t', 'x', '-s', '-l']), /-s and -l .* exclude each other/, 'not silently one of them');
    assert.throws(() => parseArgs(['-t', 'x', '-m', 'a', '-C', '1']), /only when subscribing/);
  });

  it('-v -C 2: one "topic payload" line per message, exits after two; -f and -s publish', async () => {
    const sub = await subscriber(d, [addr, '-t', 'a/#', '-v', '-C', '2']);
    const file = join(files.path, 'payload.bin');
    writeFileSync(file, 'from a file');
    assert.equal((await runCli([addr, '-t', 'a/1', '-f', file, '-q'])).code, 0);
    assert.equal((await runCli([addr, '-t', 'a/2', '-s', '-q'], 'from stdin\nline 2')).code, 0);
    const r = await sub.wait();
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'a/1 from a file\na/2 from stdin\nline 2\n');
  });

  it('--json shows --priority; -N prints payloads back to back', async () => {
    const json = await subscriber(d, [addr, '-t', 'p', '--json', '-C', '1']);
    const raw = await subscriber(d, [addr, '-t', 'p', '-N', '-C', '2']);
    assert.equal((await runCli([addr, '-t', 'p', '-m', 'hi', '--priority', '200', '-q'])).code, 0);
    assert.equal((await runCli([addr, '-t', 'p', '-m', 'yo', '-q'])).code, 0);
    const j = await json.wait();
    assert.deepEqual(JSON.parse(j.stdout), { topic: 'p', encoding: 'utf8', payload: 'hi', priority: 200 });
    assert.equal((await raw.wait()).stdout, 'hiyo');
    const bad = await runCli([addr, '-t', 'p', '-m', 'x', '--priority', '256']);
    assert.equal(bad.code, 2);
  });

  it('-t with empty pieces (a trailing comma) subscribes to the others; only commas is "Topic not specified"', async () => {
    const sub = await subscriber(d, [addr, '-t', 'tc/a,,tc/b,', '-v', '-C', '2']);
    assert.equal((await runCli([addr, '-t', 'tc/a', '-m', 'one', '-q'])).code, 0);
    assert.equal((await runCli([addr, '-t', 'tc/b', '-m', 'two', '-q'])).code, 0);
    const r = await sub.wait();
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'tc/a one\ntc/b two\n');
    const none = await runCli([addr, '-t', ',', '-W', '1']);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /Topic not specified/);
    assert.doesNotMatch(none.stderr, /Listening/, 'refused before connecting');
  });

  it('stderr closed by the reader (2>&1 | head): Ctrl-C still exits 0, no crash on the log line', async () => {
    const sub = await subscriber(d, [addr, '-t', 'ep']);
    sub.child.stderr?.destroy(); // the pipe's reader is gone: the next log line gets EPIPE
    const r = await sub.interrupt(); // logs "terminating" to the closed stderr
    assert.equal(r.code, 0);
  });

  it('stdout closed by the reader (| head -1): the next message ends it quietly with status 0', async () => {
    const sub = await subscriber(d, [addr, '-t', 'hd']);
    sub.child.stdout?.destroy(); // the pipe's reader is gone: the next message gets EPIPE
    assert.equal((await runCli([addr, '-t', 'hd', '-m', 'one', '-q'])).code, 0);
    const r = await sub.wait();
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /EPIPE|\n\s+at /, 'no error, no stack trace');
  });

  it('SIGTERM (systemd stop, kill) ends a subscriber like Ctrl-C: BYE, status 0', async () => {
    const sub = await subscriber(d, [addr, '-t', 'term']);
    const exited = new Promise<number | null>((resolve) => sub.child.once('exit', resolve));
    sub.child.kill('SIGTERM');
    assert.equal(await exited, 0, sub.stderr());
    assert.match(sub.stderr(), /terminating/);
  });

  it('-W: exits with status 6 when the time is up before -C is reached', async () => {
    const started = Date.now();
    const r = await runCli([addr, '-t', 'nothing/here', '-W', '0.5', '-C', '1']);
    assert.equal(r.code, 6, r.stderr);
    assert.match(r.stderr, /-W 0\.5: timed out before 1 messages arrived/);
    assert.ok(Date.now() - started < 10_000);
  });

  it('-W that runs out while the SUBSCRIBE reply is pending: status 6 and one line, no crash', async () => {
    const slow = await FakeServer.start({ reply: (req) => (req.kind === 'subscribe' ? 'silent' : 1) });
    try {
      const r = await runCli([slow.address, '-t', 'w', '-W', '0.3']);
      assert.equal(r.code, 6, r.stderr);
      assert.match(r.stderr, /^psrt-cli: -W 0\.3: timed out$/m);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    } finally {
      await slow.close();
    }
  });

  it('-t=topic, -m=text, -u=user: the "=" of the reference\'s short options is not part of the value', async () => {
    const o = parseArgs(['-t=x', '-m=y', '-u=me', '-p=pw']);
    assert.deepEqual([o.topic, o.message, o.user, o.password], ['x', 'y', 'me', 'pw']);
    const s = parseArgs(['-t=x', '-C=2', '-W=3']);
    assert.deepEqual([s.count, s.wait], [2, 3]);
    assert.equal(parseArgs(['-t=a=b']).topic, 'a=b', 'only the first "="');
    assert.equal(parseArgs(['-t', 'x', '-m', '-t=y']).message, '-t=y', 'a value stays as it is');
    assert.equal(parseArgs(['-t', 'x', '--', '-m=y']).address, '-m=y', 'after --: positional');
    const sub = await subscriber(d, [addr, '-t=eq/a', '-v', '-C', '1']);
    assert.equal((await runCli([addr, '-t=eq/a', '-m=hello', '-q'])).code, 0);
    const r = await sub.wait();
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'eq/a hello\n');
  });

  it('--timeout and -W longer than a Node timer holds are refused (they would fire at once)', async () => {
    assert.throws(() => parseArgs(['-t', 'x', '--timeout', '3000000']), /at most 2147483/);
    assert.throws(() => parseArgs(['-t', 'x', '-W', '2147484']), /at most 2147483/);
    assert.equal(parseArgs(['-t', 'x', '-W', '2147483']).wait, 2147483);
    const r = await runCli([addr, '-t', 'x', '-m', 'y', '--timeout', '3000000']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--timeout <seconds>.* at most 2147483 \(24 days\)/);
  });

  it('a message over max_pub_size: the error names the limit and the setting; others unaffected', async () => {
    const watcher = await subscriber(d, [addr, '-t', 'big,after', '-v', '-C', '1']);
    const r = await runCli([addr, '-t', 'big', '-m', '==1.5mb']);
    assert.equal(r.code, 7);
    assert.match(r.stderr, /the server closed the connection: the message is 1,500,004 bytes \(topic \+ 1 \+ payload\), more than psrtd accepts by default \(server\.max_pub_size/);
    assert.equal((await runCli([addr, '-t', 'after', '-m', 'ok', '-q'])).code, 0);
    assert.equal((await watcher.wait()).stdout, 'after ok\n');
  });
});

describe('psrt-cli: subscriber across a server restart', () => {
  it('reconnects with a notice and receives again; --no-reconnect exits 7', async () => {
    const port = await freePort();
    const opts = { proto: { bind: [`127.0.0.1:${port}`] }, server: STATS };
    let d = await startPsrtd(opts);
    const addr = `127.0.0.1:${port}`;
    const sub = await subscriber(d, [addr, '-t', 'r', '-v', '-C', '2']);
    const once = await subscriber(d, [addr, '-t', 'r', '--no-reconnect']);
    try {
      assert.equal((await runCli([addr, '-t', 'r', '-m', 'before', '-q'])).code, 0);
      await waitFor(() => sub.stdout().includes('r before'), 10_000, 'first message');
      await d.stop();
      const gone = await once.wait();
      assert.equal(gone.code, 7, gone.stderr);
      await waitFor(() => sub.stderr().includes('connection lost'), 10_000, 'the disconnect notice');
      d = await startPsrtd(opts);
      await waitFor(() => sub.stderr().includes('reconnected; subscribed again to 1 topic'), 20_000, 'the reconnect notice');
      assert.equal((await runCli([addr, '-t', 'r', '-m', 'after', '-q'])).code, 0);
      const r = await sub.wait();
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'r before\nr after\n');
      assert.match(r.stderr, /WARN {2}psrt_cli\] connection lost \(.*\); reconnecting\.\.\./);
      // Refused while the server was down (unless the first retry already found it back): said
      // at most once, not on every attempt.
      assert.ok((r.stderr.match(/reconnect failed \(/g)?.length ?? 0) <= 1, r.stderr);
    } finally {
      for (const c of [sub, once]) if (c.child.exitCode === null) c.child.kill('SIGKILL');
      await d.stop();
    }
  });

  it('topics refused after the restart (ACL changed): exits 5 saying so, not "subscribed again"', async () => {
    const port = await freePort();
    const opts = { proto: { bind: [`127.0.0.1:${port}`] }, server: STATS };
    let d = await startPsrtd(opts);
    const addr = `127.0.0.1:${port}`;
    const sub = await subscriber(d, [addr, '-t', 'acl/a', '-v']);
    try {
      await d.stop();
      await waitFor(() => sub.stderr().includes('connection lost'), 10_000, 'the disconnect notice');
      d = await startPsrtd({ ...opts, acl: '_:\n  sub: ["other/#"]\n  pub: ["#"]\n' });
      const r = await sub.wait();
      assert.equal(r.code, 5, r.stderr);
      assert.match(r.stderr, /psrt-cli: reconnected, but access denied: subscribe acl\/a \(not allowed by the server's ACL\)/);
      assert.doesNotMatch(r.stderr, /subscribed again/);
    } finally {
      if (sub.child.exitCode === null) sub.child.kill('SIGKILL');
      await d.stop();
    }
  });

  it('a login refused after the restart is said (once per reason), not retried silently', async () => {
    const port = await freePort();
    const bind = { bind: [`127.0.0.1:${port}`] };
    const acl = 'sensor:\n  sub: ["#"]\n  pub: ["#"]\n';
    const withUser = { proto: bind, acl, passwd: `sensor:${hashSync('pw', 4)}\n`, auth: { allow_anonymous: false } };
    let d = await startPsrtd(withUser);
    const addr = `127.0.0.1:${port}`;
    // No publish follows, so the log line is enough (the stats need a login here).
    const sub = spawnCli([addr, '-u', 'sensor', '-p', 'pw', '-t', 'l', '-v', '-C', '1']);
    try {
      await waitFor(() => sub.stderr().includes('Listening to'), 10_000, 'subscriber start-up');
      await sleep(300);
      await d.stop();
      await waitFor(() => sub.stderr().includes('connection lost'), 10_000, 'the disconnect notice');
      d = await startPsrtd({ ...withUser, passwd: `sensor:${hashSync('changed', 4)}\n` });
      await waitFor(() => /reconnect failed \(.*login.*\); retrying\.\.\./i.test(sub.stderr()), 20_000, 'the login failure notice');
      await sleep(2500); // more attempts, same reason
      assert.equal(sub.stderr().match(/reconnect failed \(.*login/gi)?.length, 1, sub.stderr());
    } finally {
      if (sub.child.exitCode === null) sub.child.kill('SIGKILL');
      await d.stop();
    }
  });
});
