/**
 * Memory for published topics is bounded by bytes, not only by count.
 *
 * Pass criteria, against a real psrtd (max_pub_size 1,100,000, default topic-table budget of
 * 16 MiB): 300 publishes, each to a new topic of ~1 MB (answered 01), then 400 to new topics
 * of ~100 KB (small enough to enter the table), raise psrtd's RSS by less than 160 MB over its
 * idle level (before: +320 MB and more; docs/security.md has the measured figure);
 * `/topics?limit=1000` answers with less than 1.5 MB; a bystander keeps working.
 */
import assert from 'node:assert/strict';
import { get } from 'node:http';
import { describe, test } from 'node:test';
import { rssMb, sleep } from '../../scripts/lib/hardening/proc.js';
import { startPsrtd } from '../helpers/psrtd.js';
import { Bystander, login, publishFrame, type RawConn } from '../helpers/raw.js';

function getBody(port: number, path: string): Promise<Buffer> {
  return new Promise((res, rej) => {
    get({ host: '127.0.0.1', port, path }, (r) => {
      const parts: Buffer[] = [];
      r.on('data', (c: Buffer) => parts.push(c));
      r.on('end', () => { res(Buffer.concat(parts)); });
    }).on('error', rej);
  });
}

async function publishNewTopics(ctl: RawConn, count: number, topicBytes: number, tag: string): Promise<void> {
  for (let i = 0; i < count; i++) {
    const topic = `${tag}${i}/${'t'.repeat(topicBytes)}`;
    ctl.send(publishFrame(topic, 'x'));
    assert.deepEqual([...(await ctl.read(1, 20_000))], [1]);
  }
}

describe('topic memory bounded by bytes', () => {
  test('300 × 1 MB and 400 × 100 KB new topics: RSS and /topics stay bounded', async () => {
    const server = await startPsrtd({ server: { max_pub_size: 1_100_000, bind_stats: '127.0.0.1:0' }, proto: { timeout: 20 } });
    try {
      const pid = server.proc.pid ?? 0;
      const bystander = await Bystander.create(server.port);
      await sleep(200);
      const idle = rssMb(pid);
      const { ctl } = await login(server.port);
      await publishNewTopics(ctl, 300, 1_000_000, 'big');
      await publishNewTopics(ctl, 400, 100_000, 'mid');
      const grown = rssMb(pid) - idle;
      const body = await getBody(server.statsPort ?? 0, '/topics?limit=1000');
      const doc = JSON.parse(body.toString('utf8')) as { topics: { topic: string }[] };
      console.log(`# RSS idle ${idle.toFixed(0)} MB, +${grown.toFixed(0)} MB after the topics; /topics body ${body.length} B, ${doc.topics.length} topics`);
      assert.ok(grown < 160, `RSS grew by ${grown.toFixed(0)} MB`);
      assert.ok(body.length < 1_500_000, `/topics body of ${body.length} bytes`);
      assert.ok(doc.topics.length > 0 && doc.topics.length <= 1000);
      await bystander.check();
      bystander.close();
      ctl.destroy();
    } finally {
      assert.equal(await server.stop(), 0);
    }
  });
});
