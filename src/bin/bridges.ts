/**
 * Wiring of the bridges (src/bridges) into a running psrtd: validated before anything binds
 * (a bad `bridges:` section stops start-up naming file and key), started after the listeners,
 * re-read from the config file on SIGHUP (a bad file keeps the running bridges).
 */
import { nowUs } from '../broker/delivery.js';
import type { Broker } from '../broker/broker.js';
import { BridgeManager, loadBridgeKinds, parseBridgesSection, type BridgesConfig } from '../bridges/index.js';
import type { ServerConfig } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import { ErrorCode, PsrtError, isPsrtError } from '../protocol/errors.js';

export interface RunningBridges {
  readonly manager: BridgeManager;
  start(): void;
  /** Re-reads the config file's `bridges:`; false (and the old bridges kept) when it is bad. */
  /** SIGHUP; `reread` gives config.yml as it is now (read once per reload, see app.ts). */
  reload(reread: () => ServerConfig): Promise<boolean>;
  stop(): Promise<void>;
}

const configName = (config: ServerConfig): string => config.file ?? 'built-in config';

/**
 * Throws PsrtError(Config) for a bad section or a bridge client library that does not load,
 * before the server binds anything. The libraries are loaded here, and only for the bridge
 * types configured: a node without bridges never loads them.
 */
export async function prepareBridges(config: ServerConfig, broker: Broker, log: Logger): Promise<RunningBridges> {
  const initial: BridgesConfig | undefined = parseBridgesSection(config.bridges, configName(config), config.configDir, config.lines?.within(['bridges']));
  if (initial !== undefined) await loadKindsOrExplain(initial, configName(config));
  const manager = new BridgeManager(broker, log, config.server.maxTopicDepth, nowUs);
  return {
    manager,
    // Without bridges too: exports a persistence file holds for bridges no longer configured are discarded (and said).
    start: () => {
      void manager.start(initial ?? { nodeId: '', bridges: [] });
    },
    reload: async (reread) => {
      if (config.file === undefined) return true;
      let next: BridgesConfig | undefined;
      try {
        const fresh = reread();
        next = parseBridgesSection(fresh.bridges, config.file, fresh.configDir, fresh.lines?.within(['bridges']));
        if (next !== undefined) await loadKindsOrExplain(next, config.file);
      } catch (e) {
        const msg = isPsrtError(e) ? e.message : e instanceof Error ? e.message : String(e);
        log.error(`bridges not reloaded, the running ones are kept: ${msg}`);
        return false;
      }
      log.info(`reloading bridges: ${next === undefined ? 'none' : next.bridges.map((b) => b.name).join(', ')}`);
      await manager.reload(next);
      return true;
    },
    stop: () => manager.stop(),
  };
}

export async function loadKindsOrExplain(bridges: BridgesConfig, file: string): Promise<void> {
  try {
    await loadBridgeKinds(bridges.bridges);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new PsrtError(ErrorCode.Config, `${file}: bridges: a bridge client library did not load (${why}); reinstall psrt-node without --omit=optional`);
  }
}
