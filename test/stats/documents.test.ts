/** /status (SERVER.md §13.3), /topics and /metrics documents, and the page files. */
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { after, before, describe, test } from 'node:test';
import { Script } from 'node:vm';
import { createMemoryLogger } from '../../src/log/index.js';
import {
  Exposition,
  StatsServer,
  loadStatsAssets,
  parseTopicsQuery,
  queueDepthBounds,
  renderMetrics,
  statusJson,
  type ProcessSample,
} from '../../src/stats/index.js';
import { FakeAuth, FakeBroker, get } from './helpers.js';

const STATUS_KEYS = ['time', 'uptime', 'data_queue_size', 'host', 'version', 'counters', 'clients', 'cluster'];
const COUNTER_KEYS = ['c_sub_ops', 'c_pub_messages', 'c_pub_bytes', 'c_sent_messages', 'c_sent_bytes', 'c_sent_latency'];

function broker(): FakeBroker {
  const b = new FakeBroker();
  Object.assign(b.counters, { subOps: 3, pubMessages: 10, pubBytes: 160, sentMessages: 10, sentBytes: 220, sentLatency: 350 });
  b.subscriptionCount = 3;
  b.clientCount = 2;
  return b;
}

describe('/status JSON', () => {
  test('members, order, units and values as the reference', () => {
    const before = Date.now() * 1000;
    const text = statusJson({ broker: broker(), dataQueueSize: 1024, version: '0.3.6', clusterStatus: null }, 'node1');
    const after = Date.now() * 1000 + 1000;
    const doc = JSON.parse(text) as Record<string, unknown>;
    assert.deepEqual(Object.keys(doc), STATUS_KEYS);
    assert.deepEqual(Object.keys(doc.counters as object), COUNTER_KEYS);
    assert.deepEqual(Object.keys(doc.clients as object), ['subscription_count', 'client_count']);
    assert.ok(Number.isInteger(doc.time) && (doc.time as number) >= before && (doc.time as number) <= after, 'time in µs');
    assert.ok(Number.isInteger(doc.uptime) && (doc.uptime as number) === Math.floor(process.uptime()), 'uptime from process start');
    const rest = text.replace(/^\{"time":\d+,"uptime":\d+,/, '{');
    assert.equal(
      rest,
      '{"data_queue_size":1024,"host":"node1","version":"0.3.6",' +
        '"counters":{"c_sub_ops":3,"c_pub_messages":10,"c_pub_bytes":160,"c_sent_messages":10,"c_sent_bytes":220,"c_sent_latency":350},' +
        '"clients":{"subscription_count":3,"client_count":2},"cluster":null}',
    );
  });

  test("cluster: the provider's node map, names and states escaped as JSON", () => {
    const clusterStatus = (): Record<string, string> => ({ 'localhost:3883': 'offline', 'node2:2873': 'online', 'we"ird': 'waiting' });
    const doc = JSON.parse(statusJson({ broker: broker(), dataQueueSize: 1, version: '0.3.6', clusterStatus }, 'h')) as { cluster: unknown };
    assert.deepEqual(doc.cluster, clusterStatus());
  });

  test('connections_refused (psrt-node) after the reference members, only when a provider is given', () => {
    const connectionRefusals = (): { maxConnections: number; fdExhausted: number } => ({ maxConnections: 12, fdExhausted: 3 });
    const text = statusJson({ broker: broker(), dataQueueSize: 1, version: '0.3.6', clusterStatus: null, connectionRefusals }, 'h');
    const doc = JSON.parse(text) as Record<string, unknown>;
    assert.deepEqual(Object.keys(doc), [...STATUS_KEYS, 'connections_refused']);
    assert.ok(text.endsWith('"cluster":null,"connections_refused":{"max_connections":12,"fd_exhausted":3}}'));
  });
});

describe('/topics query', () => {
  test('defaults, limits and sort keys', () => {
    assert.deepEqual(parseTopicsQuery(''), { ok: true, limit: 20, by: 'messages' });
    assert.deepEqual(parseTopicsQuery('?limit=5&by=bytes'), { ok: true, limit: 5, by: 'bytes' });
    assert.deepEqual(parseTopicsQuery('?limit=999999'), { ok: true, limit: 1000, by: 'messages' });
    for (const bad of ['?limit=0', '?limit=-1', '?limit=abc', '?limit=1.5', '?by=latency', '?limit=']) {
      assert.equal(parseTopicsQuery(bad).ok, false, bad);
    }
  });
});

describe('/metrics text', () => {
  const proc: ProcessSample = {
    cpuUserSeconds: 1.5,
    cpuSystemSeconds: 0.5,
    residentBytes: 1000,
    heapUsedBytes: 10,
    heapTotalBytes: 20,
    externalBytes: 5,
    startTimeSeconds: 1_700_000_000,
    openFds: 12,
    loopDelay: { mean: 0.001, max: 0.004, p50: 0.001, p99: 0.003 },
    loopUtilization: 0.25,
    loopActiveSeconds: 3,
  };

  test('queue-depth bounds: 0, powers of 4 below the capacity, the capacity', () => {
    assert.deepEqual(queueDepthBounds(1024), [0, 1, 4, 16, 64, 256, 1024]);
    assert.deepEqual(queueDepthBounds(100), [0, 1, 4, 16, 64, 100]);
    assert.deepEqual(queueDepthBounds(1), [0, 1]);
  });

  test('every family has HELP and TYPE; samples are well-formed; values come from the sources', () => {
    const b = broker();
    b.depths = [0, 3, 70, 2000];
    b.dataChannelCount = 4;
    b.counters.droppedDataChannels = 7;
    const text = renderMetrics(
      {
        broker: b,
        dataQueueSize: 1024,
        version: '0.3.6',
        host: 'h"1',
        udpStats: () => ({ received: 9, truncated: 1, acked: 4, accepted: 5, denied: 2, rateLimited: 2 }),
        clusterStatus: () => ({ 'n1:2873': 'online', 'n2:2873': 'strange' }),
      },
      proc,
    );
    const lines = text.trimEnd().split('\n');
    const typed = new Set<string>();
    for (const line of lines) {
      const t = /^# TYPE (\w+) (counter|gauge)$/.exec(line);
      if (t !== null) typed.add(t[1]!);
      if (line.startsWith('#')) continue;
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_]\w*="(?:[^"\\\n]|\\.)*",?)*\})? (-?[0-9.e+-]+|NaN|\+Inf)$/.exec(line);
      assert.ok(m !== null, `malformed sample line: ${line}`);
      assert.ok(typed.has(m[1]!), `sample before its TYPE: ${line}`);
    }
    const value = (series: string): number => {
      const line = lines.find((l) => l.startsWith(`${series} `));
      assert.ok(line !== undefined, `missing ${series}`);
      return Number(line.slice(series.length + 1));
    };
    assert.equal(value('psrt_pub_messages_total'), 10);
    assert.equal(value('psrt_sent_latency_seconds_total'), 0.00035);
    assert.equal(value('psrt_clients'), 2);
    assert.equal(value('psrt_subscriptions'), 3);
    assert.equal(value('psrt_data_channels'), 4);
    assert.equal(value('psrt_dropped_data_channels_total'), 7);
    assert.equal(value('psrt_data_queue_depth_max'), 2000);
    assert.equal(value('psrt_data_queued_messages'), 2073);
    assert.equal(value('psrt_data_queue_depth_channels{depth_le="0"}'), 1);
    assert.equal(value('psrt_data_queue_depth_channels{depth_le="4"}'), 2);
    assert.equal(value('psrt_data_queue_depth_channels{depth_le="1024"}'), 3);
    assert.equal(value('psrt_data_queue_depth_channels{depth_le="+Inf"}'), 4);
    assert.equal(value('psrt_udp_received_datagrams_total'), 9);
    assert.equal(value('psrt_udp_datagrams_total{outcome="rate_limited"}'), 2);
    assert.equal(value('psrt_cluster_node_state{node="n1:2873",state="online"}'), 1);
    assert.equal(value('psrt_cluster_node_state{node="n1:2873",state="offline"}'), 0);
    assert.equal(value('psrt_cluster_node_state{node="n2:2873",state="strange"}'), 1);
    assert.equal(value('psrt_info{version="0.3.6",host="h\\"1"}'), 1);
    assert.equal(value('process_cpu_seconds_total'), 2);
    assert.equal(value('process_open_fds'), 12);
    assert.equal(value('nodejs_eventloop_lag_p99_seconds'), 0.003);
  });

  test('queue-depth buckets: each depth read once per scrape, counts as a filter per bound gives them', () => {
    // A filter per bound read every depth 8 times: ~16 ms at 100,000 data sockets, the event
    // loop held meanwhile. Count the element reads instead of timing them.
    const b = broker();
    const depths = Array.from({ length: 5000 }, (_, i) => (i * 7919) % 1100);
    let reads = 0;
    b.queueDepths = () => new Proxy(depths, {
      get(target, key, receiver): unknown {
        if (typeof key === 'string' && /^\d+$/.test(key)) reads++;
        return Reflect.get(target, key, receiver) as unknown;
      },
    });
    const text = renderMetrics({ broker: b, dataQueueSize: 1024, version: '0.3.6', host: 'h', udpStats: null, clusterStatus: null }, proc);
    assert.ok(reads <= depths.length, `${String(reads)} reads of ${String(depths.length)} depths`);
    for (const le of [...queueDepthBounds(1024), Infinity]) {
      const label = le === Infinity ? '+Inf' : String(le);
      const expected = depths.filter((d) => d <= le).length;
      assert.ok(text.includes(`\npsrt_data_queue_depth_channels{depth_le="${label}"} ${String(expected)}\n`), `depth_le ${label}: ${String(expected)}`);
    }
  });

  test('no UDP or cluster provider: those families are absent', () => {
    const text = renderMetrics(
      { broker: broker(), dataQueueSize: 8, version: '0.3.6', host: 'h', udpStats: null, clusterStatus: null },
      { ...proc, openFds: null, loopDelay: null },
    );
    for (const absent of ['psrt_udp_', 'psrt_cluster_', 'process_open_fds', 'nodejs_eventloop_lag_']) {
      assert.ok(!text.includes(absent), absent);
    }
  });

  test('label values and help texts are escaped', () => {
    const text = new Exposition().add('m', 'gauge', 'a\\b\nc', [[{ l: 'x"y\\z\nw' }, Number.NaN]]).text();
    assert.equal(text, '# HELP m a\\\\b\\nc\n# TYPE m gauge\nm{l="x\\"y\\\\z\\nw"} NaN\n');
  });
});

describe('stats server documents over HTTP', () => {
  let stats: StatsServer;
  let port: number;
  const b = broker();
  before(async () => {
    b.topics = [
      { topic: 'a/b', messages: 5, bytes: 500 },
      { topic: 'c', messages: 50, bytes: 50 },
      { topic: 'd', messages: 1, bytes: 5000 },
    ];
    const auth = new FakeAuth(new Map([['_', { password: null, admin: true }]]));
    stats = await StatsServer.start(
      { broker: b, auth, log: createMemoryLogger(), dataQueueSize: 64, version: '0.3.6' },
      { address: '127.0.0.1:0', host: '127.0.0.1', port: 0 },
    );
    port = Number(/:(\d+)$/.exec(stats.address)?.[1]);
  });
  after(() => stats.close());

  test('/status: live values, the host name, a cluster provider attached later', async () => {
    let doc = JSON.parse((await get(port, '/status')).body) as { host: string; cluster: unknown; data_queue_size: number };
    assert.equal(doc.host, hostname() === '' ? 'unknown' : hostname());
    assert.equal(doc.data_queue_size, 64);
    assert.equal(doc.cluster, null);
    stats.clusterStatus = () => ({ 'n1:2873': 'waiting' });
    doc = JSON.parse((await get(port, '/status')).body) as typeof doc;
    assert.deepEqual(doc.cluster, { 'n1:2873': 'waiting' });
    stats.clusterStatus = null;
  });

  test('/topics: shape, sort key, limit, 400 on a bad query', async () => {
    const r = await get(port, '/topics?limit=2&by=bytes');
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'application/json');
    const doc = JSON.parse(r.body) as Record<string, unknown>;
    assert.deepEqual(Object.keys(doc), ['time', 'by', 'limit', 'topics']);
    assert.equal(doc.by, 'bytes');
    assert.equal(doc.limit, 2);
    assert.deepEqual(doc.topics, [
      { topic: 'd', messages: 1, bytes: 5000 },
      { topic: 'a/b', messages: 5, bytes: 500 },
    ]);
    const byMessages = JSON.parse((await get(port, '/topics')).body) as { topics: { topic: string }[] };
    assert.deepEqual(byMessages.topics.map((t) => t.topic), ['c', 'a/b', 'd']);
    const bad = await get(port, '/topics?by=nope');
    assert.equal(bad.status, 400);
    assert.match(bad.body, /by must be messages or bytes/);
  });

  test('/metrics: Prometheus content type; the event-loop lag appears from the second scrape', async () => {
    const first = await get(port, '/metrics');
    assert.equal(first.status, 200);
    assert.equal(first.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
    assert.match(first.body, /^psrt_pub_messages_total 10$/m);
    assert.match(first.body, /^process_resident_memory_bytes \d+$/m);
    const second = await get(port, '/metrics');
    assert.match(second.body, /^nodejs_eventloop_lag_mean_seconds [\d.e+-]+$/m);
  });

  test('the page, its script and style, and Chart.js are served from disk', async () => {
    const page = await get(port, '/');
    assert.match(page.body, /<title>PSRT stats<\/title>/);
    assert.match(page.body, /src="chart\.min\.js"/);
    const js = await get(port, '/stats.js');
    assert.equal(js.headers['content-type'], 'application/javascript; charset=utf-8');
    const css = await get(port, '/stats.css');
    assert.equal(css.headers['content-type'], 'text/css; charset=utf-8');
    const chart = await get(port, '/chart.min.js');
    assert.equal(chart.status, 200);
    assert.match(chart.body.slice(0, 200), /Chart\.js v\d/);
  });
});

describe('page files', () => {
  test('found from the compiled module; the script parses', async () => {
    const assets = await loadStatsAssets();
    assert.deepEqual(assets.warnings, []);
    for (const path of ['/', '/stats.js', '/details.js', '/stats.css', '/chart.min.js']) assert.ok(assets.files.has(path), path);
    for (const name of ['stats.js', 'details.js']) {
      const script = assets.files.get(`/${name}`)!.body.toString('utf8');
      assert.doesNotThrow(() => new Script(script, { filename: name }));
    }
  });

  test('both pages declare an icon, so a browser never asks for /favicon.ico (a 404 console error)', async () => {
    const assets = await loadStatsAssets();
    const pages = [assets.files.get('/'), assets.publicFiles?.get('/explorer/')];
    for (const page of pages) assert.match(page?.body.toString('utf8') ?? '', /<link rel="icon" href="data:,">/);
  });

  test('missing files are reported, not fatal', async () => {
    const assets = await loadStatsAssets(['/nonexistent-dir']);
    assert.equal(assets.files.has('/'), false);
    assert.ok(assets.files.has('/chart.min.js'));
    assert.equal(assets.warnings.length, 8); // index.html, stats.js, details.js, stats.css + 4 topic explorer files
  });
});
