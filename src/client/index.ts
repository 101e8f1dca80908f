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
// The wire values a user needs to read raw replies, priorities and frames (PROTOCOL.md §3).
export {
  VERSION,
  DEFAULT_PRIORITY,
  DEFAULT_PORT,
  CONTROL_HEADER,
  DATA_HEADER,
  PROTOCOL_VERSION,
  MODE_PLAIN,
  MODE_TLS,
  OP_NOP,
  OP_PUBLISH,
  OP_SUBSCRIBE,
  OP_UNSUBSCRIBE,
  OP_PUBLISH_REPL,
  OP_PUBLISH_NO_ACK,
  OP_BYE,
  RESPONSE_NOP,
  RESPONSE_OK,
  RESPONSE_OK_WAITING,
  RESPONSE_NOT_REQUIRED,
  RESPONSE_ERR_ACCESS,
  RESPONSE_ERR,
  UDP_AUTH_PLAIN,
  UDP_AUTH_AES_128_GCM,
  UDP_AUTH_AES_256_GCM,
} from '../protocol/constants.js';
