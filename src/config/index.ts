export { type RestartOnlyChange, restartOnlyChanges } from './changes.js';
export { DEFAULT_CONFIG_PATHS, DEFAULTS, EMBEDDED_ACL_TEXT, embeddedDefaultConfig } from './defaults.js';
export { type ConfigLocation, findConfig } from './find.js';
export {
  configDirOf,
  isUnixSocketPath,
  loadConfigFile,
  parseConfigText,
  parseHostPort,
  resolveConfigPath,
} from './load.js';
export type {
  AuthSection,
  BindAddress,
  ClusterSection,
  HostPort,
  ProtoSection,
  ServerConfig,
  ServerSection,
} from './schema.js';
