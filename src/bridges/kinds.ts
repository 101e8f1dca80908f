/**
 * The bridge classes, loaded only when a config names their type: the NATS and MQTT client
 * libraries cost a node without bridges several MB of heap and resident memory (measured in
 * docs/performance.md, "What psrtd loads"), so they are imported on first use, not at start.
 */
import type { BrokerLogger } from '../broker/ports.js';
import type { Bridge, ImportSink } from './bridge.js';
import type { BridgeConfig } from './config.js';

type BridgeClass = new (config: BridgeConfig, nodeId: string, log: BrokerLogger, sink: ImportSink, maxTopicDepth: number) => Bridge;

/** Constructs bridges of the types that were loaded. */
export interface BridgeKinds {
  construct(config: BridgeConfig, nodeId: string, log: BrokerLogger, sink: ImportSink, maxTopicDepth: number): Bridge;
}

let nats: Promise<BridgeClass> | null = null;
let mqtt: Promise<BridgeClass> | null = null;

const loadNats = (): Promise<BridgeClass> => (nats ??= import('./nats-bridge.js').then((m) => m.NatsBridge));
const loadMqtt = (): Promise<BridgeClass> => (mqtt ??= import('./mqtt-bridge.js').then((m) => m.MqttBridge));

/** Loads the classes `bridges` need (each module once per process) and returns their constructor. */
export async function loadBridgeKinds(bridges: readonly BridgeConfig[]): Promise<BridgeKinds> {
  const natsClass = bridges.some((b) => b.type === 'nats') ? await loadNats() : null;
  const mqttClass = bridges.some((b) => b.type !== 'nats') ? await loadMqtt() : null;
  return {
    construct(config, nodeId, log, sink, maxTopicDepth) {
      const cls = config.type === 'nats' ? natsClass : mqttClass;
      if (cls === null) throw new Error(`bridge ${config.name}: type ${config.type} was not loaded`);
      return new cls(config, nodeId, log, sink, maxTopicDepth);
    },
  };
}
