/**
 * `psrtd --check` (`-t`): reads and checks what psrtd reads at start-up (config.yml, the TLS
 * certificates and keys, the cluster file, the licence, acl.yml, the password and key files,
 * the bridges, the persistence file's directory, the unix socket owner and group, the MQTT TLS
 * and WebSocket listeners' needs) without binding a port, taking the persistence
 * lock or connecting anywhere, and checks acl.yml, the password and the key files with a SIGHUP
 * reload's rules: a line a reload would refuse is an error here, although a start would only
 * skip it. So `psrtd --check && systemctl reload psrtd` reloads only what will be accepted.
 */
import { AuthStore } from '../auth/auth-store.js';
import { YamlLines } from '../auth/yaml-validate.js';
import { parseBridgesSection } from '../bridges/index.js';
import { loadClusterFile } from '../cluster/cluster-config.js';
import type { ServerConfig } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import { ErrorCode, PsrtError } from '../protocol/errors.js';
import { TlsIdentity } from '../transport/tls.js';
import { resolveUnixSocketAccess } from '../transport/unix-socket-access.js';
import { checkLicense } from './app.js';
import { loadKindsOrExplain } from './bridges.js';
import { loadWsServer, mqttTls } from './mqtt-setup.js';
import { checkDirectory } from './persistence-io.js';

/** A Logger that counts the warnings and errors written through it. */
class CountingLogger implements Logger {
  errors = 0;
  warnings = 0;
  constructor(private readonly inner: Logger) {}
  error(msg: string): void {
    this.errors++;
    this.inner.error(msg);
  }
  warn(msg: string): void {
    this.warnings++;
    this.inner.warn(msg);
  }
  info(msg: string): void {
    this.inner.info(msg);
  }
  debug(msg: string): void {
    this.inner.debug(msg);
  }
  trace(msg: string): void {
    this.inner.trace(msg);
  }
  enabled(level: Parameters<Logger['enabled']>[0]): boolean {
    return this.inner.enabled(level);
  }
}

/** One part of the check; an exception is logged as an error and the next part runs. */
type Part = (config: ServerConfig, log: Logger) => unknown;

/**
 * The MQTT TLS files, a TLS listener without any identity and the WebSocket library: what
 * startMqtt finds out only when it binds. `protoTls` undefined: proto's TLS files failed (already
 * reported), so a listener that would have used them is not reported again.
 */
async function checkMqttListeners(config: ServerConfig, protoTls: TlsIdentity | null | undefined, log: Logger): Promise<void> {
  const mqtt = config.mqtt;
  if (mqtt === undefined) return;
  const { tls } = mqttTls(mqtt, config.proto, protoTls ?? null, log);
  const name = config.file ?? 'built-in config';
  if (tls === null && protoTls !== undefined) {
    for (const key of ['bind_tls', 'wss_bind'] as const) {
      if ((key === 'bind_tls' ? mqtt.bindTls : mqtt.wssBind).length > 0) throw new PsrtError(ErrorCode.Config, `${name}: mqtt.${key} needs a TLS identity (mqtt.tls_* or proto.tls_*)`);
    }
  }
  if (mqtt.wsBind.length > 0 || mqtt.wssBind.length > 0) await loadWsServer(config);
}

/** The parts, in the order a start reads them; they share what proto's TLS files gave. */
function parts(): readonly Part[] {
  let protoTls: TlsIdentity | null | undefined;
  return [
    (config, log) => {
      protoTls = TlsIdentity.load(config.proto, log);
    },
    (config, log) => checkMqttListeners(config, protoTls, log),
    (config) => resolveUnixSocketAccess({ mode: config.proto.unixSocketMode, owner: config.proto.unixSocketOwner, group: config.proto.unixSocketGroup }),
    (config, log) => {
      if (config.cluster === undefined) return;
      log.info(`loading cluster config ${config.cluster.config}`);
      loadClusterFile(config.cluster.config, config.configDir);
    },
    (config, log) => {
      checkLicense(config, log);
    },
    (config, log) => AuthStore.check(config.auth, log),
    async (config) => {
      const name = config.file ?? 'built-in config';
      const bridges = parseBridgesSection(config.bridges, name, config.configDir, config.lines?.within(['bridges']));
      if (bridges !== undefined) await loadKindsOrExplain(bridges, name);
    },
    async (config) => {
      const file = config.mqtt?.persistenceFile;
      if (file !== undefined) await checkDirectory({ file, configLines: config.lines ?? YamlLines.none(config.file ?? 'built-in config') });
    },
  ];
}

/**
 * Runs every part and logs the verdict: true when psrtd would start with this configuration
 * and a SIGHUP would accept its files (warnings allowed), false when anything is an error.
 */
export async function checkConfiguration(config: ServerConfig, baseLog: Logger): Promise<boolean> {
  const log = new CountingLogger(baseLog);
  for (const part of parts()) {
    try {
      await part(config, log);
    } catch (e) {
      log.error(e instanceof Error ? e.message : String(e));
    }
  }
  const name = config.file ?? 'the built-in config';
  const warnings = log.warnings === 0 ? '' : ` (${String(log.warnings)} warning${log.warnings === 1 ? '' : 's'} above)`;
  if (log.errors === 0) baseLog.info(`configuration check: ${name} is OK${warnings}`);
  else baseLog.error(`configuration check: ${name} has ${String(log.errors)} error${log.errors === 1 ? '' : 's'} (see above)${warnings}`);
  return log.errors === 0;
}
