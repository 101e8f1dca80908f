/** Public client API: `psrt-node/client` (and, identically, the package root `psrt-node`). */
export { PsrtClient } from './client.js';
export type { ClientEvents, Payload, PublishOptions } from './client.js';
export type { Message } from './data-channel.js';
export type { RequestOptions } from './request.js';
export {
  isUnixSocketPath,
  parseAddress,
  remainingTimeout,
  resolveOptions,
} from './options.js';
export type { Address, ClientOptions, ReconnectOptions, TlsOptions } from './options.js';
export { PsrtUdpClient, parseKey } from './udp.js';
export type { UdpCipher, UdpClientOptions, UdpPublishOptions } from './udp.js';
export { ErrorCode, PsrtError, isPsrtError } from '../protocol/errors.js';
