export * from './cluster-config.js';
export * from './link.js';
export * from './neighbour.js';
export * from './replicator.js';
