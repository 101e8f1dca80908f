/** psrt-cli end to end against a spawned psrtd: every mode, options and error exits. */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startPsrtd, TEST_KEY_HEX, type Psrtd } from '../client/helpers.js';
import { freePort, waitFor } from '../client/util.js';
import { runCli, spawnCli, spawnSubscriber, type RunningCli } from './run-cli.js';

/** Starts a subscriber and waits until psrtd has processed its SUBSCRIBE. */
function subscriber(server: Psrtd, args: string[]): Promise<RunningCli> {
  return spawnSubscriber(args, server.statsPort);
}

describe('psrt-cli against psrtd', () => {
  let d: Psrtd;
  before(async () => {
    d = await startPsrtd({ stats: true });
  });
  after(async () => {
    await d.stop();
  });

  it('prints the version and documents exit codes in --help', async () => {
    const v = await runCli(['-V']);
    assert.equal(v.stdout.trim(), 'psrt-cli 0.3.6');
    assert.equal(v.code, 0);
    const h = await runCli(['--help']);
    assert.equal(h.code, 0);
    assert.match(h.stdout, /Exit status:/);
    assert.match(h.stdout, /4 {2}login failed/);
  });

  it('bad arguments exit 2 with a clear message', async () => {
    const noTopic = await runCli([d.tcp]);
    assert.equal(noTopic.code, 2);
    assert.match(noTopic.stderr, /Topic not specified/);
    const badSize = await runCli([d.tcp, '-t', 'x', '-m', '==12zb']);
    assert.equal(badSize.code, 2);
    assert.match(badSize.stderr, /invalid size "12zb"/);
    // Without an address psrt-cli uses localhost:2873 (see cli-habits.test.ts).
  });

  it('connection refused → 3, login failed → 4, access denied → 5', async () => {
    const refused = await runCli([`127.0.0.1:${await freePort()}`, '-t', 'x', '-m', 'y']);
    assert.equal(refused.code, 3);
    assert.match(refused.stderr, /cannot connect: connection refused by 127\.0\.0\.1:\d+/);
    const login = await runCli([d.tcp, '-u', 'user1', '-p', 'nope', '-t', 'x', '-m', 'y']);
    assert.equal(login.code, 4);
    assert.match(login.stderr, /Login failed \(user "user1"\)/);
    const denied = await runCli([d.tcp, '-u', 'reader', '-p', '123', '-t', 'x', '-m', 'y']);
    assert.equal(denied.code, 5);
    assert.match(denied.stderr, /access denied: publish x/);
  });

  it('subscribe (comma list) prints topic / --- / "payload"; publish -m text and ==SIZE', async () => {
    const sub = await subscriber(d, [d.tcp, '-t', 'cli/a,cli/b']);
    assert.match(sub.stderr(), /Listening to cli\/a, cli\/b\.\.\./);
    assert.equal((await runCli([d.tcp, '-t', 'cli/a', '-m', 'hello'])).code, 0);
    const gen = await runCli([d.tcp, '-t', 'cli/b', '-m', '==3']);
    assert.equal(gen.code, 0);
    assert.match(gen.stderr, /msg\.len = 3/);
    assert.equal((await runCli([d.tcp, '-t', 'cli/b', '-m', '==300'])).code, 0);
    await waitFor(() => sub.stdout().split('---').length >= 4, 5000, 'three messages');
    const r = await sub.interrupt();
    assert.equal(r.code, 0);
    assert.match(r.stderr, /terminating/);
    const lines = r.stdout.split('\n');
    assert.deepEqual(lines.slice(0, 6), ['cli/a', '---', '"hello"', 'cli/b', '---', '"\u0000\u0001\u0002"']);
    const hexList = Array.from({ length: 300 }, (_, i) => (i % 256).toString(16)).join(', ');
    assert.equal(lines[8], `"[${hexList}]"`, 'non-UTF-8 payload as a hex list');
  });

  it('--output json and raw; --stdin lines and --stdin-raw', async () => {
    const json = await subscriber(d, [d.tcp, '-t', 'j', '--output', 'json']);
    const raw = await subscriber(d, [d.tcp, '-t', 'j', '--output', 'raw']);
    const lines = await runCli([d.tcp, '-t', 'j', '--stdin'], 'one\ntwo\n');
    assert.equal(lines.code, 0);
    const whole = await runCli([d.tcp, '-t', 'j', '--stdin-raw'], Buffer.from([0xff, 10, 0]));
    assert.equal(whole.code, 0);
    await waitFor(() => json.stdout().split('\n').length >= 4, 5000, 'json lines');
    const j = (await json.interrupt()).stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(j, [
      { topic: 'j', encoding: 'utf8', payload: 'one', priority: 127 },
      { topic: 'j', encoding: 'utf8', payload: 'two', priority: 127 },
      { topic: 'j', encoding: 'base64', payload: '/woA', priority: 127 },
    ]);
    await waitFor(() => raw.stdout().length >= 12, 5000, 'raw output');
    const r = await raw.interrupt();
    assert.deepEqual(r.stdoutBytes, Buffer.from('one\ntwo\n\xff\n\0\n', 'latin1'));
  });

  it('unix socket path and STARTTLS with --tls-ca', async () => {
    const sub = await subscriber(d, [d.unix, '-t', 'sec']);
    const tls = await runCli([d.tcpName, '--tls', '--tls-ca', d.caFile, '-t', 'sec', '-m', 'over tls']);
    assert.equal(tls.code, 0, tls.stderr);
    await waitFor(() => sub.stdout().includes('over tls'), 5000);
    assert.equal((await sub.interrupt()).code, 0);
    const untrusted = await runCli([d.tcpName, '--tls', '-t', 'sec', '-m', 'x']);
    assert.equal(untrusted.code, 3);
    assert.match(untrusted.stderr, /TLS handshake failed/);
    // The certificate is not trusted: say which option fixes it.
    assert.match(untrusted.stderr, /--tls-ca <file>/);
  });

  it('--udp publish: plain with ack, encrypted with a key file, no-ack; a wildcard topic is refused (2)', async () => {
    const keyFile = join(d.dir, 'cli.key');
    writeFileSync(keyFile, `${TEST_KEY_HEX}\n`);
    // psrtd would drop it unseen (no ack) or answer FF: refused before sending, as over TCP.
    const wildcard = await runCli([d.udp, '--udp', '--udp-no-ack', '-t', 'udp/#', '-m', 'w']);
    assert.equal(wildcard.code, 2, wildcard.stderr);
    assert.match(wildcard.stderr, /wildcards are not allowed in a publish topic: udp\/#/);
    const sub = await subscriber(d, [d.tcp, '-t', 'udp/#']);
    const plain = await runCli([d.udp, '--udp', '-t', 'udp/1', '-m', 'p', '-u', 'user1', '-p', '123']);
    assert.equal(plain.code, 0, plain.stderr);
    const enc = await runCli([d.udp, '--udp', '--udp-key-file', keyFile, '--udp-encryption', 'aes128', '-u', 'user1', '-t', 'udp/2', '-m', 'e']);
    assert.equal(enc.code, 0, enc.stderr);
    const noAck = await runCli([d.udp, '--udp', '--udp-no-ack', '-t', 'udp/3', '-m', 'n']);
    assert.equal(noAck.code, 0, noAck.stderr);
    await waitFor(() => sub.stdout().includes('udp/3'), 5000);
    await sub.interrupt();
  });

  it('--udp FE ack: the message names every cause the server folds into it, not only the ACL', async () => {
    // A wrong password gets the same FE ack as a publish the ACL refuses (PROTOCOL.md §8.3).
    const badPassword = await runCli([d.udp, '--udp', '-t', 'udp/x', '-m', 'p', '-u', 'user1', '-p', 'nope']);
    assert.equal(badPassword.code, 5);
    assert.match(badPassword.stderr, /UDP publish udp\/x denied \(FE\)/);
    assert.match(badPassword.stderr, /wrong user or password/);
    assert.match(badPassword.stderr, /no ACL entry for the user/);
    assert.match(badPassword.stderr, /the ACL does not allow publishing to udp\/x/);
    assert.doesNotMatch(badPassword.stderr, /not allowed by the server's ACL\)/);
  });

  it('--benchmark prints the stages and the sorted result table', async () => {
    const r = await runCli([d.tcp, '--benchmark', '--benchmark-iterations', '200', '--benchmark-workers', '2', '--no-progress']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /Benchmarking, 2 workers, 200 iterations per worker\.\.\./);
    assert.match(r.stdout, /!!! stage started: pub-10b\n\*\*\* stage completed: pub-10b \(400 iters, \d+\.\d{3} secs\)/);
    const table = r.stdout.slice(r.stdout.indexOf('--- Benchmark results'));
    const rows = table.split('\n').slice(3).filter((l) => l !== '').map((l) => l.split(/ +/));
    assert.deepEqual(rows.map((c) => c[0]), [
      'pub-100kb', 'pub-10b', 'pub-10kb', 'pub-1kb', 'pub-1mb',
      'pub-read-100kb', 'pub-read-10b', 'pub-read-10kb', 'pub-read-1kb', 'pub-read-1mb',
      'subscribe', 'unsubscribe',
    ]);
    assert.match(table.split('\n')[1]!, /^stage +iters +secs +msecs +iters\/s$/);
    const subscribe = rows.find((c) => c[0] === 'subscribe')!;
    assert.equal(subscribe[1], '400');
    assert.equal(rows.find((c) => c[0] === 'pub-1mb')![1], '4');
  });

  it('--benchmark-cluster-sub reads through a second connection', async () => {
    const r = await runCli([d.tcp, '--benchmark', '--benchmark-iterations', '100', '--benchmark-workers', '1', '--benchmark-cluster-sub', d.unix, '--no-progress']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /pub-read-10b +100 /);
  });

  it('--top without a terminal prints plain table snapshots', async () => {
    const top = spawnCli([d.tcp, '-t', '#', '--top']);
    await waitFor(() => top.stdout().includes('topic'), 10_000, 'first table');
    for (const [topic, n] of [['top/a', 3], ['top/b', 1]] as const) {
      for (let i = 0; i < n; i++) assert.equal((await runCli([d.tcp, '-t', topic, '-m', 'xyz'])).code, 0);
    }
    await waitFor(() => /top\/a +3 +9 B/.test(top.stdout()), 5000, 'counted table');
    const r = await top.interrupt();
    assert.equal(r.code, 0);
    assert.ok(!r.stdout.includes('\x1b['), 'no escape codes when not a terminal');
    const last = r.stdout.trimEnd().split('\n\n').at(-1)!;
    assert.match(last, /^topic +count bytes\n-+\ntop\/a +3 +9 B\ntop\/b +1 +3 B$/);
  });

  it('subscriber whose server goes away exits 7 with --no-reconnect with "connection lost"', async () => {
    const own = await startPsrtd({ stats: true });
    try {
      const sub = await subscriber(own, [own.tcp, '-t', 'gone', '--no-reconnect']);
      await own.stop();
      const r = await sub.wait();
      assert.equal(r.code, 7);
      assert.match(r.stderr, /connection lost: .*closed by the server/);
    } finally {
      await own.stop();
    }
  });
});
