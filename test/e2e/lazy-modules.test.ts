/**
 * psrtd loads the NATS and MQTT bridge clients and the WebSocket library only when its config
 * asks for them (a node without bridges saves several MB of heap and resident memory): a module
 * resolve hook in the real psrtd process records every module it loads. A bridge added by
 * SIGHUP loads its client then and starts; a WebSocket listener loads `ws` at start.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { startPsrtd } from '../helpers/psrtd.js';
import { bridgesYaml } from '../bridges/util.js';
import { freePort } from '../helpers/ports.js';

const hookDir = mkdtempSync(join(tmpdir(), 'psrt-lazy-'));
const HOOK = `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  appendFileSync(process.env.PSRT_RESOLVE_LOG, r.url + '\\n');
  return r;
}
`;
writeFileSync(join(hookDir, 'resolve-log.mjs'), HOOK);
writeFileSync(join(hookDir, 'register.mjs'), `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(join(hookDir, 'resolve-log.mjs')).href)});\n`);

const PACKAGES = { nats: '/node_modules/@nats-io/transport-node/', mqtt: '/node_modules/mqtt/', ws: '/node_modules/ws/' } as const;

function loadedPackages(logFile: string): string[] {
  const urls = readFileSync(logFile, 'utf8');
  return Object.entries(PACKAGES).filter(([, dir]) => urls.includes(dir)).map(([name]) => name).sort();
}

function hookEnv(name: string): { env: Record<string, string>; logFile: string } {
  const logFile = join(hookDir, `${name}.log`);
  writeFileSync(logFile, '');
  return { env: { NODE_OPTIONS: `--import=${pathToFileURL(join(hookDir, 'register.mjs')).href}`, PSRT_RESOLVE_LOG: logFile }, logFile };
}

describe('modules psrtd loads only when configured', () => {
  after(() => {
    rmSync(hookDir, { recursive: true, force: true });
  });

  test('MQTT without WebSocket and no bridges: none of nats, mqtt, ws; a SIGHUP-added NATS bridge loads nats only', async () => {
    const { env, logFile } = hookEnv('plain');
    const node = await startPsrtd({ mqtt: {}, env });
    try {
      assert.ok(readFileSync(logFile, 'utf8').includes('/dist/src/bin/app.js'), 'the hook saw psrtd load');
      assert.deepEqual(loadedPackages(logFile), []);
      const config = join(node.dir, 'config.yml');
      const port = await freePort(); // nothing listens: the bridge starts and keeps retrying
      writeFileSync(config, readFileSync(config, 'utf8') + bridgesYaml('n1', [{ name: 'late', type: 'nats', servers: [`nats://127.0.0.1:${port}`], out: ['a/#'] }]));
      process.kill(node.proc.pid ?? 0, 'SIGHUP');
      await node.waitForLog(/bridge late: nats nats:\/\/127\.0\.0\.1:\d+/, 10_000);
      assert.deepEqual(loadedPackages(logFile), ['nats']);
    } finally {
      await node.stop();
    }
  });

  test('a WebSocket listener and an MQTT bridge at start load ws and mqtt, not nats', async () => {
    const { env, logFile } = hookEnv('ws');
    const port = await freePort();
    const node = await startPsrtd({
      mqtt: { ws_bind: ['127.0.0.1:0'] },
      extra: bridgesYaml('n2', [{ name: 'up', type: 'mqtt', servers: [`mqtt://127.0.0.1:${port}`], out: ['a/#'] }]),
      env,
    });
    try {
      await node.waitForLog(/bridge up: mqtt mqtt:\/\/127\.0\.0\.1:\d+/, 10_000);
      assert.ok(node.mqttWsPort > 0);
      assert.deepEqual(loadedPackages(logFile), ['mqtt', 'ws']);
    } finally {
      await node.stop();
    }
  });
});
