/**
 * The cluster neighbour list (SERVER.md §16.1): a YAML list of the Rust client's connection
 * configs. Unknown keys are fatal, `tls_ca` is a file path resolved like other config paths and
 * replaced by its PEM content. `timeout` and `queue_size` are overridden by the server's T and
 * data_queue, as the reference does. `links` is a psrt-node extension.
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { z } from 'zod';
import { fsErrorText, parseYaml, validate, type YamlLines } from '../auth/yaml-validate.js';
import { ErrorCode, PsrtError } from '../protocol/errors.js';

export interface NeighbourConfig {
  /** `host:port` or a unix socket path, as written (also the key in /status.cluster). */
  readonly path: string;
  readonly user: string;
  readonly password: string;
  readonly tls: boolean;
  /** PEM text of the CA to trust (system CAs when undefined). */
  readonly tlsCa: string | undefined;
  /** Links used with a neighbour that only speaks PUBLISH_REPL (one exchange in flight each). */
  readonly links: number;
  /** Seconds to wait for a unix socket file to appear. */
  readonly socketWaitTimeout: number;
}

const DEFAULT_LINKS = 8;

const entrySchema = z.strictObject({
  path: z.string().min(1),
  user: z.string().nullish(),
  password: z.string().nullish(),
  timeout: z.number().positive().nullish(),
  socket_wait_timeout: z.number().positive().nullish(),
  queue_size: z.int().min(0).nullish(),
  tls: z.boolean().nullish(),
  tls_ca: z.string().min(1).nullish(),
  need_data_stream: z.boolean().nullish(),
  links: z.int().min(1).max(256).nullish(),
});

const fileSchema = z.array(entrySchema, { error: 'expected a list of neighbour nodes' }).nullable();

function resolvePath(value: string, configDir: string): string {
  if (value.startsWith('.') || isAbsolute(value)) return value;
  return join(configDir, value);
}

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new PsrtError(ErrorCode.Config, `Unable to read ${what} ${path}: ${fsErrorText(e)}`, { cause: e });
  }
}

/** A CA file named by `key`: a read failure points at that key's line. */
function readCa(path: string, lines: YamlLines, key: readonly (string | number)[]): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new PsrtError(ErrorCode.Config, lines.error(key, `unable to read ${path}: ${fsErrorText(e)}`).message, { cause: e });
  }
}

/** Loads and validates the neighbour list; throws PsrtError(Config) naming file, line, entry and key. */
export function loadClusterFile(file: string, configDir: string): NeighbourConfig[] {
  return parseClusterText(readText(file, 'cluster config'), file, configDir);
}

export function parseClusterText(text: string, file: string, configDir: string): NeighbourConfig[] {
  const { data, lines } = parseYaml(text, file);
  const entries = validate(fileSchema, data, lines) ?? [];
  rejectDuplicatePaths(entries, lines);
  return entries.map((e, i) => ({
    path: e.path,
    user: e.user ?? '',
    password: e.password ?? '',
    tls: e.tls ?? false,
    tlsCa: e.tls_ca == null ? undefined : readCa(resolvePath(e.tls_ca, configDir), lines, [i, 'tls_ca']),
    links: e.links ?? DEFAULT_LINKS,
    socketWaitTimeout: e.socket_wait_timeout ?? 5,
  }));
}

/**
 * A neighbour listed twice got two replicators, so every message reached its subscribers
 * twice, while /status (keyed by path) showed one entry.
 */
function rejectDuplicatePaths(entries: readonly { readonly path: string }[], lines: YamlLines): void {
  const first = new Map<string, number>();
  entries.forEach((e, i) => {
    const earlier = first.get(e.path);
    if (earlier !== undefined) {
      const problem = `${JSON.stringify(e.path)} is already listed at [${earlier}] (each neighbour once, or it gets every message twice)`;
      throw lines.error([i, 'path'], problem);
    }
    first.set(e.path, i);
  });
}
