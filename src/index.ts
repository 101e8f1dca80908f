/**
 * psrt-node's package root (`import … from 'psrt-node'`): the client library — PsrtClient,
 * PsrtUdpClient, their options and helpers, and the error catalogue (ErrorCode, PsrtError).
 * Exactly what `psrt-node/client` exports; neither loads any server code. The server is the
 * `psrtd` command.
 */
export * from './client/index.js';
