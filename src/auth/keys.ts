/**
 * Keys file for encrypted UDP (SERVER.md §7): YAML mapping user → 64 hex digits (32 bytes;
 * AES-128-GCM uses the first 16). Bad entries are skipped with a log line, not fatal; only
 * users with an ACL entry get a key. Each load builds its own UdpKeys (see udp-keys.ts): a
 * reload never writes into the keys in force.
 */
import { runSteps, runStepsCooperatively, type Steps } from './steps.js';
import { describeValue, readYamlMappingSteps } from './yaml-validate.js';
import type { AclEntry } from './acl.js';
import { UdpKeysBuilder, type UdpKeys } from './udp-keys.js';

const HEX_KEY = /^[0-9a-fA-F]{64}$/;

export type KeysLog = (level: 'error' | 'warn', msg: string) => void;

/**
 * Parses the keys file. Throws PsrtError(Config) only when the file as a whole is unusable
 * (bad YAML, not a mapping); the caller logs it as `Unable to load config: …`.
 */
export function parseKeysText(
  text: string,
  file: string,
  acl: ReadonlyMap<string, AclEntry>,
  log: KeysLog,
): UdpKeys {
  return runSteps(parseKeysSteps(text, file, acl, log));
}

/** parseKeysText in slices (a reload gives the event loop back in between). */
export function parseKeysTextCooperatively(
  text: string,
  file: string,
  acl: ReadonlyMap<string, AclEntry>,
  log: KeysLog,
): Promise<UdpKeys> {
  return runStepsCooperatively(parseKeysSteps(text, file, acl, log));
}

function* parseKeysSteps(text: string, file: string, acl: ReadonlyMap<string, AclEntry>, log: KeysLog): Steps<UdpKeys> {
  // Failsafe schema: every scalar stays a string, so an all-digit key is not read as a number.
  // Entries that are skipped are logged after the whole file is read, with their lines.
  const keys = new UdpKeysBuilder();
  const skipped = new Set<string>();
  const malformed: [string, unknown][] = [];
  const withoutAcl: string[] = [];
  const read = yield* readYamlMappingSteps(text, file, true, {
    entry(user, value) {
      if (keys.has(user) || skipped.has(user)) return false;
      if (typeof value !== 'string' || !HEX_KEY.test(value.trim())) malformed.push([user, value]);
      else if (!acl.has(user)) withoutAcl.push(user);
      else {
        keys.addHex(user, value.trim());
        return true;
      }
      skipped.add(user);
      return true;
    },
    restart() {
      keys.clear();
      skipped.clear();
      malformed.length = 0;
      withoutAcl.length = 0;
    },
  });
  if ('notMapping' in read) throw read.lines.error([], `expected a mapping of user: key, got ${describeValue(read.notMapping)}`);
  for (const [user, value] of malformed) {
    // Never echo the value: a malformed key is usually a typo of a real secret.
    const got = typeof value === 'string' ? `${value.trim().length} characters` : describeValue(value);
    log('error', `Unable to parse key: ${read.lines.place([user])}: ${user}: expected 64 hex digits (32 bytes), got ${got}`);
  }
  for (const user of withoutAcl) log('warn', `No ACL defined for the key ${user}`);
  return yield* keys.buildNamedSteps(acl.keys());
}
