export * from './broker.js';
export * from './counters.js';
export * from './data-channel.js';
export * from './delivery.js';
export * from './flush-scheduler.js';
export * from './ports.js';
export * from './session.js';
export * from './topic-table.js';
