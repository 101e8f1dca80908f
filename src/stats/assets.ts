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

export async function loadStatsAssets(dirs: readonly string[] = ASSET_DIRS): Promise<StatsAssets> {
  const files = new Map<string, StaticFile>();
  const warnings: string[] = [];
  for (const [path, name, contentType] of PAGE_FILES) {
    const body = await readFirst(dirs, name);
    if (body === undefined) warnings.push(`stats page file ${name} not found in ${dirs.join(' or ')}`);
    else files.set(path, { body, contentType });
  }
  const chart = await readChartJs();
  if (typeof chart === 'string') warnings.push(chart);
  else files.set('/chart.min.js', { body: chart, contentType: JS });
  return { files, warnings };
}
