/** The MQTT side of the broker (sessions, QoS flows, retained messages, wills). */
export * from './connect.js';
export * from './connection.js';
export * from './context.js';
export * from './counters.js';
export * from './message.js';
export * from './retained.js';
export * from './router.js';
export * from './session.js';
export * from './subscription.js';
export * from './sys-tree.js';
