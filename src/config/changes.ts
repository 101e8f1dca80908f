/**
 * What a SIGHUP cannot apply: the keys of config.yml whose value differs between the running
 * configuration and the file as it is now. A reload applies the ACL, password and key files,
 * the contents of the TLS files, the bridges and `mqtt.sys_interval`; every other key takes
 * effect at the next start only, and an operator who edited one must be told so rather than see
 * a reload that looks complete (an `auth.allow_anonymous: false` that is not in force yet).
 */
import { isDeepStrictEqual } from 'node:util';
import type { ServerConfig } from './schema.js';

export interface RestartOnlyChange {
  /** `<file>:<line>` of the key in the file as it is now (its section's line when it was removed). */
  readonly place: string;
  /** `section.key` as written in config.yml. */
  readonly key: string;
  /** `running → now` when both are short enough to show (else empty); `section added`/`removed` for a whole section. */
  readonly values: string;
}

const SECTIONS = ['server', 'proto', 'auth', 'cluster', 'mqtt'] as const;
/** Applied by a reload (see mqtt-setup.ts reloadedSysInterval); `bridges` is not compared at all. */
const RELOADED = new Set(['mqtt.sys_interval']);
/** Keys whose YAML name is not the snake case of the loaded name. */
const YAML_NAMES: Readonly<Record<string, string>> = { maxKeepAlive: 'max_keepalive' };

/** The config.yml name of a loaded key (`allowNoTls` → `allow_no_tls`). */
export function yamlKeyName(key: string): string {
  return YAML_NAMES[key] ?? key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** Every key of `running` that `now` changes, except those a reload applies. */
export function restartOnlyChanges(running: ServerConfig, now: ServerConfig): RestartOnlyChange[] {
  const place = (path: readonly string[]): string => now.lines?.place(path) ?? now.file ?? '';
  const changes: RestartOnlyChange[] = [];
  for (const section of SECTIONS) {
    const was = running[section] as Readonly<Record<string, unknown>> | undefined;
    const is = now[section] as Readonly<Record<string, unknown>> | undefined;
    if (was === undefined && is === undefined) continue;
    if (was === undefined || is === undefined) {
      changes.push({ place: place([section]), key: section, values: was === undefined ? 'section added' : 'section removed' });
      continue;
    }
    for (const key of new Set([...Object.keys(was), ...Object.keys(is)])) {
      const name = yamlKeyName(key);
      if (RELOADED.has(`${section}.${name}`) || isDeepStrictEqual(was[key], is[key])) continue;
      const [before, after] = [shown(was[key]), shown(is[key])];
      const values = before === undefined || after === undefined ? '' : `${before} → ${after}`;
      changes.push({ place: place([section, name]), key: `${section}.${name}`, values });
    }
  }
  return changes;
}

/** A loaded value as the operator wrote it: scalars, paths, addresses and short lists of them. */
function shown(v: unknown): string | undefined {
  if (v === undefined) return 'unset';
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) {
    const items = v.map(shown);
    return items.length <= 4 && items.every((i) => i !== undefined) ? `[${items.join(', ')}]` : undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  if ('address' in v && typeof v.address === 'string') return v.address; // a host:port
  if ('path' in v && typeof v.path === 'string') return v.path; // a unix socket, the ACL file
  return undefined;
}
