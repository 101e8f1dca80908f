/**
 * Which config file to use (SERVER.md §2.1): `-C` wins; otherwise the first default path that
 * exists. "Does not exist" means ENOENT/ENOTDIR; any other read error (permissions, a
 * directory) is fatal, so a broken install is not silently replaced by the embedded config.
 * With no file at all psrt-node runs the embedded default config (the reference exits).
 */
import { readFileSync } from 'node:fs';
import { fsErrorText } from '../auth/yaml-validate.js';
import { ErrorCode, PsrtError } from '../protocol/errors.js';
import { DEFAULT_CONFIG_PATHS } from './defaults.js';

export type ConfigLocation = { readonly path: string } | { readonly embedded: true };

export function findConfig(explicit?: string, candidates: readonly string[] = DEFAULT_CONFIG_PATHS): ConfigLocation {
  if (explicit !== undefined) return { path: explicit };
  for (const path of candidates) {
    try {
      readFileSync(path);
      return { path };
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') continue;
      throw new PsrtError(ErrorCode.Config, `Unable to read ${path}: ${fsErrorText(e)}`, { cause: e });
    }
  }
  return { embedded: true };
}
