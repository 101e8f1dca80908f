/**
 * Cluster replication on loopback (issue 8): three nodes, a subscriber and a publisher on each;
 * a node killed and restarted rejoins; a neighbour that never answers does not slow local
 * delivery; a neighbour that only speaks PUBLISH_REPL gets everything through the fallback.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { createServer, type Server, type Socket } from 'node:net';
import { after, describe, test } from 'node:test';
import { ByteQueue, DataDecoder } from '../../src/protocol/index.js';
import { makeTestPki } from '../helpers/certs.js';
import { freePort } from '../helpers/ports.js';
import { REPO_ROOT, startPsrtd, type Psrtd } from '../helpers/psrtd.js';
import { attachData, login, publishFrame, topicsFrame, type RawConn } from '../helpers/raw.js';
import { PASSWORD, makePasswd } from '../helpers/users.js';

const ACL = '_:\n  sub: ["#"]\n  pub: ["#"]\n  admin: true\nrepl:\n  replicator: true\n';

function clusterYaml(ports: number[]): string {
  return ports.map((p) => `- path: 127.0.0.1:${p}\n  user: repl\n  password: ${PASSWORD}\n  timeout: 5\n`).join('');
}

function node(port: number, neighbours: number[]): Promise<Psrtd> {
  return startPsrtd({
    acl: ACL,
    passwd: makePasswd(),
    proto: { bind: [`127.0.0.1:${port}`], timeout: 5 },
    cluster: clusterYaml(neighbours),
  });
}

/** A subscriber collecting `topic → payload list` from its data socket. */
class Collector {
  readonly messages: { topic: string; payload: string; priority: number }[] = [];
  private readonly q = new ByteQueue();
  private readonly dec = new DataDecoder(this.q);
  private constructor(readonly ctl: RawConn, readonly data: RawConn) {
    data.socket.removeAllListeners('data');
    data.socket.on('data', (chunk: Buffer) => {
      this.q.push(chunk);
      for (let ev = this.dec.next(); ev !== null; ev = this.dec.next()) {
        if (ev.kind === 'message') this.messages.push({ topic: ev.topic, payload: ev.payload.toString(), priority: ev.priority });
      }
    });
  }

  static async open(port: number | string, mask: string): Promise<Collector> {
    const { ctl, token } = await login(port);
    const data = await attachData(port, token, 255);
    ctl.send(topicsFrame(2, [mask]));
    assert.equal((await ctl.read(1))[0], 1);
    return new Collector(ctl, data);
  }

  async waitFor(n: number, timeoutMs = 10000): Promise<void> {
    const t0 = performance.now();
    while (this.messages.length < n) {
      if (performance.now() - t0 > timeoutMs) throw new Error(`got ${this.messages.length} of ${n} messages`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  close(): void {
    this.ctl.destroy();
    this.data.destroy();
  }
}

async function publishAll(port: number, topic: string, payloads: string[], priority = 0x7f): Promise<void> {
  const ctl = (await login(port)).ctl;
  ctl.send(Buffer.concat(payloads.map((p) => publishFrame(topic, p, priority))));
  const replies = await ctl.read(payloads.length, 10000);
  assert.ok(replies.every((b) => b === 1));
  ctl.destroy();
}

describe('cluster of three nodes', () => {
  const nodes: Psrtd[] = [];
  after(async () => {
    for (const n of nodes) await n.stop();
  });

  test('every subscriber gets every message once; priority kept; a killed node rejoins', async () => {
    const ports = [await freePort(), await freePort(), await freePort()];
    for (let i = 0; i < 3; i++) nodes.push(await node(ports[i] ?? 0, ports.filter((_, j) => j !== i)));
    const subs = await Promise.all(ports.map((p) => Collector.open(p, 'c/#')));
    const N = 300;
    await Promise.all(
      ports.map((p, i) => publishAll(p, `c/n${i}`, Array.from({ length: N }, (_, k) => `${i}:${k}`), 0x10 + i)),
    );
    for (const s of subs) await s.waitFor(3 * N);
    await new Promise((r) => setTimeout(r, 300)); // duplicates would arrive late
    for (const s of subs) {
      assert.equal(s.messages.length, 3 * N, 'no duplicates (replicated messages are not forwarded again)');
      for (let i = 0; i < 3; i++) {
        const mine = s.messages.filter((m) => m.topic === `c/n${i}`);
        assert.deepEqual(mine.map((m) => m.payload), Array.from({ length: N }, (_, k) => `${i}:${k}`));
        assert.ok(mine.every((m) => m.priority === 0x10 + i));
      }
    }
    // Kill node 1 and restart it on the same port: the others reconnect without a restart.
    const old = nodes[1];
    assert.ok(old !== undefined);
    await old.stop('SIGKILL');
    subs[1]?.close();
    await publishAll(ports[0] ?? 0, 'c/down', ['while-down']);
    await subs[2]?.waitFor(3 * N + 1);
    nodes[1] = await node(ports[1] ?? 0, [ports[0] ?? 0, ports[2] ?? 0]);
    const fresh = await Collector.open(ports[1] ?? 0, 'c/#');
    const t0 = performance.now();
    let k = 0;
    while (fresh.messages.length === 0 && performance.now() - t0 < 20000) {
      await publishAll(ports[0] ?? 0, 'c/back', [`again-${k++}`]);
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(fresh.messages.length > 0, 'the restarted node receives replicated messages again');
    fresh.close();
    for (const s of subs) s.close();
  });
});

/** A server that accepts connections and never answers anything. */
function blackhole(): Promise<{ server: Server; port: number; sockets: Set<Socket> }> {
  return new Promise((resolve) => {
    const sockets = new Set<Socket>();
    const server = createServer((s) => {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    });
    server.listen(0, '127.0.0.1', () => {
      const a = server.address();
      resolve({ server, port: typeof a === 'object' && a !== null ? a.port : 0, sockets });
    });
  });
}

describe('a neighbour that never answers', () => {
  test('does not slow local delivery; the node is reported offline', async () => {
    const hole = await blackhole();
    const n = await node(await freePort(), [hole.port]);
    try {
      const sub = await Collector.open(n.port, 'x/#');
      const t0 = performance.now();
      await publishAll(n.port, 'x/y', Array.from({ length: 2000 }, (_, i) => String(i)));
      await sub.waitFor(2000);
      const elapsed = performance.now() - t0;
      assert.ok(elapsed < 3000, `local delivery took ${elapsed.toFixed(0)} ms`);
      await n.waitForLog(/cluster: 127\.0\.0\.1:\d+ offline/, 15000);
      sub.close();
    } finally {
      await n.stop();
      for (const s of hole.sockets) s.destroy();
      hole.server.close();
    }
  });
});

/**
 * A neighbour speaking only the reference protocol: it closes on op 12, answers PUBLISH_REPL.
 * Records what it received.
 */
function referenceLikeNode(): Promise<{ server: Server; port: number; received: string[] }> {
  const received: string[] = [];
  return new Promise((resolve) => {
    const server = createServer((s) => {
      s.on('error', () => undefined);
      let buf = Buffer.alloc(0);
      let stage: 'greet' | 'login' | 'ops' | 'body' = 'greet';
      let topic = '';
      s.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        for (;;) {
          if (stage === 'greet' && buf.length >= 3) {
            buf = buf.subarray(3);
            s.write(Buffer.from([0xee, 0xaa, 1, 0]));
            stage = 'login';
          } else if (stage === 'login' && buf.length >= 4 && buf.length >= 4 + buf.readUInt32LE(0)) {
            buf = buf.subarray(4 + buf.readUInt32LE(0));
            s.write(Buffer.alloc(32, 9));
            stage = 'ops';
          } else if (stage === 'ops' && buf.length >= 1 && buf[0] === 0x00) {
            buf = buf.subarray(1);
            s.write(Buffer.from([1]));
          } else if (stage === 'ops' && buf.length >= 5 && buf[0] === 0x11 && buf.length >= 5 + buf.readUInt32LE(1)) {
            const len = buf.readUInt32LE(1);
            topic = buf.subarray(5, 5 + len).toString();
            buf = buf.subarray(5 + len);
            s.write(Buffer.from([topic.startsWith('skip') ? 0xe0 : 0x02]));
            if (!topic.startsWith('skip')) stage = 'body';
          } else if (stage === 'body' && buf.length >= 13 && buf.length >= 13 + buf.readUInt32LE(9)) {
            const len = buf.readUInt32LE(9);
            received.push(`${topic}=${buf.subarray(13, 13 + len).toString()}`);
            buf = buf.subarray(13 + len);
            s.write(Buffer.from([1]));
            stage = 'ops';
          } else if (stage === 'ops' && buf.length >= 1 && buf[0] !== 0x00 && buf[0] !== 0x11) {
            s.destroy(); // unknown op: close, like the reference
            return;
          } else {
            return;
          }
        }
      });
    });
    server.listen(0, '127.0.0.1', () => {
      const a = server.address();
      resolve({ server, port: typeof a === 'object' && a !== null ? a.port : 0, received });
    });
  });
}

describe('a neighbour that only speaks PUBLISH_REPL', () => {
  test('the probe falls back to the two-step exchange; per-topic order is kept', async () => {
    const ref = await referenceLikeNode();
    const n = await node(await freePort(), [ref.port]);
    try {
      await publishAll(n.port, 'r/a', ['1', '2', '3']);
      await publishAll(n.port, 'skip/me', ['x']);
      await publishAll(n.port, 'r/b', ['4', '5']);
      const t0 = performance.now();
      while (ref.received.length < 5 && performance.now() - t0 < 10000) await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(ref.received.filter((m) => m.startsWith('r/a')), ['r/a=1', 'r/a=2', 'r/a=3']);
      assert.deepEqual(ref.received.filter((m) => m.startsWith('r/b')), ['r/b=4', 'r/b=5']);
      assert.ok(!ref.received.some((m) => m.startsWith('skip')), 'E0: the payload did not cross');
      await n.waitForLog(/speaks PUBLISH_REPL only/);
    } finally {
      await n.stop();
      ref.server.close();
    }
  });
});

describe('TLS between nodes', () => {
  test('replication over STARTTLS with a CA file; /status.cluster shows the node online', async () => {
    const pki = makeTestPki();
    const b = await startPsrtd({
      acl: ACL,
      passwd: makePasswd(),
      unix: true,
      proto: { allow_no_tls: false, tls_cert: pki.serverCert, tls_key: pki.serverKey, timeout: 5 },
    });
    // The neighbour entry names the CA by a path relative to A's config dir.
    const a = await startPsrtd({
      acl: ACL,
      server: { bind_stats: '127.0.0.1:0' },
      files: { 'cluster-ca.crt': pki.caPem.toString() },
      cluster: `- path: localhost:${b.port}\n  user: repl\n  password: ${PASSWORD}\n  tls: true\n  tls_ca: cluster-ca.crt\n`,
    });
    try {
      const sub = await Collector.open(b.unixPath ?? '', 't/#');
      await publishAll(a.port, 't/x', ['secure-1', 'secure-2']);
      await sub.waitFor(2);
      assert.deepEqual(sub.messages.map((m) => m.payload), ['secure-1', 'secure-2']);
      const res = await fetch(`http://127.0.0.1:${a.statsPort ?? 0}/status`);
      const status = (await res.json()) as { cluster: Record<string, string> | null };
      assert.deepEqual(status.cluster, { [`localhost:${b.port}`]: 'online' });
      sub.close();
    } finally {
      await a.stop();
      await b.stop();
      pki.remove();
    }
  });
});

describe('psrt-cli --benchmark-cluster-sub', () => {
  test('benchmarks across two nodes: publish on one, receive through replication on the other', async () => {
    const big = { max_pub_size: 1100000 };
    const b = await startPsrtd({ acl: ACL, passwd: makePasswd(), server: big, proto: { timeout: 10 } });
    const a = await startPsrtd({
      acl: ACL,
      server: big,
      proto: { timeout: 10 },
      cluster: `- path: 127.0.0.1:${b.port}\n  user: repl\n  password: ${PASSWORD}\n`,
    });
    try {
      const cli = join(REPO_ROOT, 'bin/psrt-cli.js');
      const args = [cli, `127.0.0.1:${a.port}`, '--benchmark', '--benchmark-iterations', '100', '--benchmark-workers', '2', '--benchmark-cluster-sub', `127.0.0.1:${b.port}`, '--no-progress'];
      const r = await new Promise<{ code: number | null; out: string }>((resolve) => {
        execFile(process.execPath, args, { timeout: 60000 }, (err, stdout, stderr) => {
          resolve({ code: err === null ? 0 : (typeof err.code === 'number' ? err.code : null), out: stdout + stderr });
        });
      });
      assert.equal(r.code, 0, r.out);
      for (const stage of ['pub-read-10b', 'pub-read-1mb', 'subscribe']) assert.match(r.out, new RegExp(`^${stage}\\s`, 'm'));
    } finally {
      await a.stop();
      await b.stop();
    }
  });
});
