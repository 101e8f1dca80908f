/** A broker without imports and a bridge config for the tests of the bridge manager (no sockets). */
import assert from 'node:assert/strict';
import type { PublishHook } from '../../src/broker/ports.js';
import type { BridgeConfig } from '../../src/bridges/config.js';
import type { BridgeBroker } from '../../src/bridges/manager.js';

export class FakeBroker implements BridgeBroker {
  hooks: PublishHook[] = [];
  publishExternal(): void {
    assert.fail('nothing is imported from closed ports');
  }
  addPublishHook(hook: PublishHook): void {
    this.hooks.push(hook);
  }
  removePublishHook(hook: PublishHook): void {
    this.hooks = this.hooks.filter((h) => h !== hook);
  }
}

/** A NATS bridge to `port` exporting `out` (an upstream on a closed port keeps it buffering). */
export function bridge(name: string, port: number, out: string[], extra: Partial<BridgeConfig> = {}): BridgeConfig {
  return {
    name, type: 'nats', servers: [`nats://127.0.0.1:${port}`], user: undefined, password: undefined, token: undefined, clientId: undefined,
    tls: undefined, out, in: [], localPrefix: '', remotePrefix: '', qos: 0, protocolVersion: 5,
    cleanSession: true, sessionExpiry: 3600, bufferMessages: 100, bufferBytes: 1 << 20,
    connectTimeout: 5, pingInterval: 10, maxPingsOut: 2, keepalive: 10, ...extra,
  };
}
