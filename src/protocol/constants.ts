/** Wire constants of PSRT protocol version 1 (PROTOCOL.md §3). */

/** The psrt release whose wire protocol (and CLI) this package reproduces. */
export const VERSION = '0.3.6';

export const CONTROL_HEADER = 0xaaee; // bytes EE AA read as u16 LE
export const DATA_HEADER = 0xabee; // bytes EE AB read as u16 LE
export const HEADER_BYTE_0 = 0xee;
export const CONTROL_HEADER_BYTE_1 = 0xaa;
export const DATA_HEADER_BYTE_1 = 0xab;
export const PROTOCOL_VERSION = 1;

export const MODE_PLAIN = 0x00;
export const MODE_TLS = 0x01;

export const OP_NOP = 0x00;
export const OP_PUBLISH = 0x01;
export const OP_SUBSCRIBE = 0x02;
export const OP_UNSUBSCRIBE = 0x03;
export const OP_PUBLISH_REPL = 0x11;
export const OP_PUBLISH_NO_ACK = 0x21;
export const OP_BYE = 0xff;
/**
 * psrt-node cluster extensions (docs/cluster.md), accepted only from replicator sessions and
 * only sent to a neighbour that answered the probe: a pipelinable interest query
 * `12 LEN topic` → `02`/`E0`/`FE`, and a pipelinable replicated publish
 * `13 prio timestamp(u64 LE ns) LEN topic 00 payload` → `01`/`FE`. Any other server closes the
 * connection on these ops, which is how a psrt-node node detects that it must fall back to
 * PUBLISH_REPL.
 */
export const OP_X_REPL_QUERY = 0x12;
export const OP_X_REPL_PUBLISH = 0x13;

export const RESPONSE_NOP = 0x00;
export const RESPONSE_OK = 0x01;
export const RESPONSE_OK_WAITING = 0x02;
export const RESPONSE_NOT_REQUIRED = 0xe0;
export const RESPONSE_ERR_ACCESS = 0xfe;
export const RESPONSE_ERR = 0xff;

export const UDP_AUTH_PLAIN = 0x00;
export const UDP_AUTH_AES_128_GCM = 0x02;
export const UDP_AUTH_AES_256_GCM = 0x03;

export const DEFAULT_PRIORITY = 0x7f;
export const TOKEN_LENGTH = 32;
export const MAX_LOGIN_FRAME = 1024;
export const GREETING_LENGTH = 3;
/** 01 | prio | LEN(4): the header of a delivered message frame. */
export const DATA_FRAME_HEADER_LENGTH = 6;
export const UDP_NONCE_LENGTH = 12;
export const UDP_TAG_LENGTH = 16;
export const DEFAULT_PORT = 2873;

/** Greeting replies (server → client): header + protocol version 01 00. */
export const CONTROL_GREETING_REPLY: Readonly<Buffer> = Buffer.from([0xee, 0xaa, 0x01, 0x00]);
export const DATA_GREETING_REPLY: Readonly<Buffer> = Buffer.from([0xee, 0xab, 0x01, 0x00]);
