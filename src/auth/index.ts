export { type AclEntry, FULL_ACCESS, makeAclEntry, parseAclText } from './acl.js';
export {
  ANONYMOUS,
  type AclSource,
  type AuthLogger,
  type AuthResult,
  type AuthSnapshot,
  type AuthSources,
  AuthStore,
} from './auth-store.js';
export { parseHtpasswd } from './htpasswd.js';
export { type KeysLog, parseKeysText } from './keys.js';
export { UdpKeys } from './udp-keys.js';
export { normalizeBcryptHash, type Password, PasswordVerifier, type PasswordVerifierOptions } from './password-verifier.js';
