/** Locations of the config/auth fixtures, from the compiled test (dist/test/...). */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/config/', import.meta.url));

export function fixture(name: string): string {
  return join(FIXTURES, name);
}

/** A private copy of the fixture directory (tests that edit files for reloads). */
export function fixtureCopy(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'psrt-fixture-'));
  cpSync(FIXTURES, dir, { recursive: true });
  return {
    dir,
    cleanup: () => {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
