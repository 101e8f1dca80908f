/**
 * Mode, owner and group of unix socket files (`proto.unix_socket_mode`, `unix_socket_owner`,
 * `unix_socket_group`; psrt-node extension). A unix socket grants full rights without a login,
 * so who may connect is decided by the file's permissions alone.
 *
 * Names are looked up in /etc/passwd and /etc/group (Node has no getpwnam); numeric ids are
 * used as they are. Changing the owner needs root (or CAP_CHOWN); the group may be changed to
 * any group psrtd's user belongs to.
 */
import { chmodSync, chownSync, readFileSync } from 'node:fs';
import { ErrorCode, PsrtError } from '../protocol/errors.js';

export interface UnixSocketAccess {
  /** Default 0o770 (the reference's mode). */
  readonly mode?: number | undefined;
  readonly owner?: string | undefined;
  readonly group?: string | undefined;
}

export const DEFAULT_UNIX_SOCKET_MODE = 0o770;

/** The id of a name in a passwd/group style file (`name:x:id:...`), or a numeric id. */
function resolveId(value: string, file: string, what: string): number {
  if (/^\d+$/.test(value)) return Number(value);
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    /* reported below as unknown */
  }
  for (const line of text.split('\n')) {
    const fields = line.split(':');
    if (fields[0] === value && fields[2] !== undefined && /^\d+$/.test(fields[2])) return Number(fields[2]);
  }
  throw new PsrtError(ErrorCode.Config, `proto.unix_socket_${what}: unknown ${what} ${JSON.stringify(value)} (not in ${file})`);
}

/** Checked at start-up, before anything is bound: an unknown name is a configuration error. */
export function resolveUnixSocketAccess(access: UnixSocketAccess): { mode: number; uid: number; gid: number } {
  return {
    mode: access.mode ?? DEFAULT_UNIX_SOCKET_MODE,
    uid: access.owner === undefined ? -1 : resolveId(access.owner, '/etc/passwd', 'owner'),
    gid: access.group === undefined ? -1 : resolveId(access.group, '/etc/group', 'group'),
  };
}

/** Applies them to a freshly bound socket file; failures name the file and the reason. */
export function applyUnixSocketAccess(path: string, access: { mode: number; uid: number; gid: number }): void {
  try {
    if (access.uid !== -1 || access.gid !== -1) chownSync(path, access.uid, access.gid);
    chmodSync(path, access.mode);
  } catch (e) {
    throw new PsrtError(ErrorCode.Config, `unable to set owner/mode of unix socket ${path}: ${(e as Error).message}`, { cause: e });
  }
}
