/**
 * The stats page's static files, read once when the stats server starts (never per request):
 * our page from src/stats/assets/ and Chart.js from node_modules (served by psrtd itself, no
 * CDN, works offline).
 *
 * The page files are not TypeScript, so tsc does not copy them: they are found next to this
 * module when running from src/, or at ../../../src/stats/assets/ from the compiled
 * dist/src/stats/ (so a package must ship `src/stats/assets`).
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface StaticFile {
  readonly body: Buffer;
  readonly contentType: string;
}

export interface StatsAssets {
  /** URL path (exact match) → file. */
  readonly files: ReadonlyMap<string, StaticFile>;
  /** Problems that left a file out (logged as warnings; the page degrades without charts). */
  readonly warnings: readonly string[];
  /**
   * The topic explorer's files (URL path → file), served without the stats login: they hold
   * no broker data, the page logs in over MQTT with the user's own ACL.
   */
  readonly publicFiles?: ReadonlyMap<string, StaticFile>;
}

const HTML = 'text/html; charset=utf-8';
const JS = 'application/javascript; charset=utf-8';
const CSS = 'text/css; charset=utf-8';

/** Page files: URL path → [file name, content type]. */
const PAGE_FILES: readonly (readonly [string, string, string])[] = [
  ['/', 'index.html', HTML],
  ['/stats.js', 'stats.js', JS],
  ['/details.js', 'details.js', JS],
  ['/stats.css', 'stats.css', CSS],
];

/** The topic explorer's files, under /explorer/ (relative links: works under a proxy sub-path). */
const EXPLORER_FILES: readonly (readonly [string, string, string])[] = [
  ['/explorer/', 'explorer.html', HTML],
  ['/explorer/explorer-tree.js', 'explorer-tree.js', JS],
  ['/explorer/explorer.js', 'explorer.js', JS],
  ['/explorer/explorer.css', 'explorer.css', CSS],
];

const here = dirname(fileURLToPath(import.meta.url));
export const ASSET_DIRS: readonly string[] = [join(here, 'assets'), join(here, '../../../src/stats/assets')];

async function readFirst(dirs: readonly string[], name: string): Promise<Buffer | undefined> {
  for (const dir of dirs) {
    try {
      return await readFile(join(dir, name));
    } catch {
      // try the next location
    }
  }
  return undefined;
}

/** Chart.js's UMD build (defines the global `Chart`), located through the package's main entry. */
async function readChartJs(): Promise<Buffer | string> {
  let dist: string;
  try {
    dist = dirname(createRequire(import.meta.url).resolve('chart.js'));
  } catch {
    return 'chart.js is not installed: the stats page shows no charts';
  }
  const found = await readFirst([dist], 'chart.umd.min.js') ?? (await readFirst([dist], 'chart.umd.js'));
  return found ?? `no UMD build of chart.js in ${dist}: the stats page shows no charts`;
}

/** MQTT.js's browser bundle (defines the global `mqtt`), from the installed package's dist/. */
async function readMqttJs(): Promise<Buffer | string> {
  let root: string;
  try {
    root = dirname(createRequire(import.meta.url).resolve('mqtt/package.json'));
  } catch {
    return 'mqtt (MQTT.js) is not installed: the topic explorer cannot connect';
  }
  const dist = join(root, 'dist');
  return (await readFirst([dist], 'mqtt.min.js')) ?? `no browser build of MQTT.js in ${dist}: the topic explorer cannot connect`;
}

async function readPageFiles(
  list: readonly (readonly [string, string, string])[],
  dirs: readonly string[],
  files: Map<string, StaticFile>,
  warnings: string[],
): Promise<void> {
  for (const [path, name, contentType] of list) {
    const body = await readFirst(dirs, name);
    if (body === undefined) warnings.push(`stats page file ${name} not found in ${dirs.join(' or ')}`);
    else files.set(path, { body, contentType });
  }
}

export async function loadStatsAssets(dirs: readonly string[] = ASSET_DIRS): Promise<StatsAssets> {
  const files = new Map<string, StaticFile>();
  const publicFiles = new Map<string, StaticFile>();
  const warnings: string[] = [];
  await readPageFiles(PAGE_FILES, dirs, files, warnings);
  await readPageFiles(EXPLORER_FILES, dirs, publicFiles, warnings);
  const chart = await readChartJs();
  if (typeof chart === 'string') warnings.push(chart);
  else files.set('/chart.min.js', { body: chart, contentType: JS });
  const mqttJs = await readMqttJs();
  if (typeof mqttJs === 'string') warnings.push(mqttJs);
  else publicFiles.set('/explorer/mqtt.min.js', { body: mqttJs, contentType: JS });
  return { files, warnings, publicFiles };
}
