export * from './constants.js';
export * from './errors.js';
export * from './byte-queue.js';
export * from './handshake.js';
export * from './control.js';
export * from './encode.js';
export * from './data-decoder.js';
export * from './udp.js';
