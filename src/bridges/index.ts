/** Bridges onto NATS and upstream MQTT brokers (see docs/scaling.md). */
export { BridgeManager, type BridgeBroker } from './manager.js';
export { loadBridgeKinds } from './kinds.js';
export { parseBridgesSection, type BridgeConfig, type BridgesConfig } from './config.js';
export type { BridgeStatus, BridgeCounters, BridgeState } from './bridge.js';
export { topicToSubject, subjectToTopic, maskToSubjects } from './subject-mapping.js';
