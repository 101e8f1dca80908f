/**
 * psrt-node's public API: the client library (PsrtClient, PsrtUdpClient), the protocol codec
 * and the error catalogue. The server is started with the `psrtd` binary.
 */
export * from './client/index.js';
