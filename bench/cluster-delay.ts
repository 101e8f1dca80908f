/**
 * Replication throughput to a neighbour 5 ms away (issue 8 item 3). Node A replicates to node B
 * through a proxy that delays every chunk by 2.5 ms in each direction (5 ms round trip).
 * A subscriber on B counts what arrives; a publisher on A drives pipelined publishes.
 *
 *   node dist/bench/cluster-delay.js [messages=50000] [delayMs=2.5] [--classic]
 *
 * `--classic` forces the PUBLISH_REPL fallback (by making the proxy close on op 12 the way a
 * reference server does), to show what the extension buys. Bounded: gives up after 60 s.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { ByteQueue, DataDecoder } from '../src/protocol/index.js';
import { freePort } from '../test/helpers/ports.js';
import { startPsrtd, type Psrtd } from '../test/helpers/psrtd.js';
import { attachData, login, publishFrame, topicsFrame } from '../test/helpers/raw.js';
import { PASSWORD, makePasswd } from '../test/helpers/users.js';

const PROBE = Buffer.from([0x12, 0, 0, 0, 0]);
const ACL = '_:\n  sub: ["#"]\n  pub: ["#"]\nrepl:\n  replicator: true\n';

/** Forwards bytes both ways, each chunk released `delayMs` after it arrived (order kept). */
function delayProxy(targetPort: number, delayMs: number, classic: boolean): Promise<{ server: Server; port: number }> {
  const pipe = (from: Socket, to: Socket, inspect: boolean): void => {
    from.on('data', (chunk: Buffer) => {
      // The probe is an empty-topic interest query, `12 00 00 00 00`; a reference server closes.
      if (inspect && classic && chunk.equals(PROBE)) {
        setTimeout(() => { from.destroy(); to.destroy(); }, delayMs);
        return;
      }
      setTimeout(() => { if (!to.destroyed) to.write(chunk); }, delayMs);
    });
    from.on('close', () => setTimeout(() => to.destroy(), delayMs));
    from.on('error', () => undefined);
  };
  return new Promise((resolve) => {
    const server = createServer((client) => {
      const upstream = connect(targetPort, '127.0.0.1');
      upstream.setNoDelay(true);
      client.setNoDelay(true);
      pipe(client, upstream, true);
      pipe(upstream, client, false);
    });
    server.listen(0, '127.0.0.1', () => {
      const a = server.address();
      resolve({ server, port: typeof a === 'object' && a !== null ? a.port : 0 });
    });
  });
}

async function main(): Promise<void> {
  const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  const classic = process.argv.includes('--classic');
  const total = Number(args[0] ?? 50_000);
  const delayMs = Number(args[1] ?? 2.5);
  const nodes: Psrtd[] = [];
  const b = await startPsrtd({ acl: ACL, passwd: makePasswd(), proto: { timeout: 10 }, server: { data_queue: 100_000 } });
  nodes.push(b);
  const proxy = await delayProxy(b.port, delayMs, classic);
  const a = await startPsrtd({
    acl: ACL,
    proto: { bind: [`127.0.0.1:${await freePort()}`], timeout: 10 },
    server: { data_queue: 100_000 },
    cluster: `- path: 127.0.0.1:${proxy.port}\n  user: repl\n  password: ${PASSWORD}\n  links: 32\n`,
  });
  nodes.push(a);
  try {
    const { ctl, token } = await login(b.port);
    const data = await attachData(b.port, token, 255);
    ctl.send(topicsFrame(2, ['bench/#']));
    await ctl.read(1);
    let received = 0;
    const q = new ByteQueue();
    const dec = new DataDecoder(q);
    data.socket.removeAllListeners('data');
    data.socket.on('data', (chunk: Buffer) => {
      q.push(chunk);
      for (let ev = dec.next(); ev !== null; ev = dec.next()) if (ev.kind === 'message') received++;
    });
    const pub = (await login(a.port)).ctl;
    // Warm-up: one message establishes the links (probe + login through the delay).
    pub.send(publishFrame('bench/warm', 'w'));
    await pub.read(1);
    const t0 = performance.now();
    while (received < 1 && performance.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 5));
    received = 0;
    const start = performance.now();
    const window = 1000;
    for (let sent = 0; sent < total; sent += window) {
      const n = Math.min(window, total - sent);
      const frames: Buffer[] = [];
      for (let i = 0; i < n; i++) frames.push(publishFrame(`bench/t${i % 16}`, `m${sent + i}`));
      pub.send(Buffer.concat(frames));
      await pub.read(n, 30_000);
    }
    const publishedMs = performance.now() - start;
    while (received < total && performance.now() - start < 60_000) await new Promise((r) => setTimeout(r, 5));
    const ms = performance.now() - start;
    const mode = classic ? 'PUBLISH_REPL fallback (32 links)' : 'pipelined extension';
    process.stdout.write(
      `replication over a ${2 * delayMs} ms round trip, ${mode}: ${received}/${total} received in ${ms.toFixed(0)} ms ` +
        `= ${Math.round((received / ms) * 1000)} msgs/s (local publishing took ${publishedMs.toFixed(0)} ms)\n`,
    );
    for (const c of [ctl, data, pub]) c.destroy();
  } finally {
    for (const n of nodes) await n.stop();
    proxy.server.close();
  }
}

await main();
