/**
 * The project's single error catalogue. Every error the server, client or CLI raises on purpose
 * carries one of these stable codes; logs and tests match on the code, never on message text.
 */
export const ErrorCode = {
  /** Greeting header is neither EE AA nor EE AB. */
  BadGreetingHeader: 'PSRT_BAD_GREETING',
  /** Greeting mode byte is not 00/01. */
  BadGreetingMode: 'PSRT_BAD_MODE',
  /** Plain connection while allow_no_tls is false. */
  TlsRequired: 'PSRT_TLS_REQUIRED',
  /** TLS requested while no TLS identity is configured. */
  TlsNotConfigured: 'PSRT_TLS_NOT_CONFIGURED',
  /** A LEN field exceeds the configured limit. */
  FrameTooLong: 'PSRT_FRAME_TOO_LONG',
  /** A frame lacks a required 00 separator or is otherwise malformed. */
  InvalidDataBlock: 'PSRT_INVALID_DATA_BLOCK',
  /** Bytes that must be UTF-8 are not. */
  InvalidUtf8: 'PSRT_INVALID_UTF8',
  /** An op code the server does not handle on this socket. */
  InvalidOperation: 'PSRT_INVALID_OP',
  /** Publish topic is empty. */
  EmptyTopic: 'PSRT_EMPTY_TOPIC',
  /** Publish topic contains + or #. */
  WildcardInPublish: 'PSRT_WILDCARD_PUBLISH',
  /** Topic deeper than max_topic_depth. */
  TopicTooDeep: 'PSRT_TOPIC_TOO_DEEP',
  /** Login refused (bad password, anonymous disabled, unknown user). */
  LoginFailed: 'PSRT_LOGIN_FAILED',
  /** Authenticated user has no ACL entry. */
  NoAcl: 'PSRT_NO_ACL',
  /** ACL denies the operation. */
  AccessDenied: 'PSRT_ACCESS_DENIED',
  /** Data socket token unknown or its session already has a data socket. */
  DataChannelDenied: 'PSRT_DATA_DENIED',
  /** Peer did not send in time. */
  Timeout: 'PSRT_TIMEOUT',
  /** Peer closed the connection. */
  Eof: 'PSRT_EOF',
  /** Socket error. */
  Io: 'PSRT_IO',
  /** UDP datagram malformed (always dropped without reply). */
  UdpMalformed: 'PSRT_UDP_MALFORMED',
  /** UDP encrypted datagram failed to decrypt / no key. */
  UdpDecrypt: 'PSRT_UDP_DECRYPT',
  /** Configuration file problem. */
  Config: 'PSRT_CONFIG',
  /** A saved state file (`mqtt.persistence_file`) fails its checks: truncated, bad magic, version or checksum. */
  BadStateFile: 'PSRT_BAD_STATE_FILE',
  /** Server answered with an error status (client side). */
  ServerError: 'PSRT_SERVER_ERROR',
  /** Client-side protocol violation by the server (bad header, bad version, bad frame). */
  ProtocolViolation: 'PSRT_PROTOCOL_VIOLATION',
  /** Client is closed or not connected. */
  NotConnected: 'PSRT_NOT_CONNECTED',
  /** Connection limit reached. */
  TooManyConnections: 'PSRT_TOO_MANY_CONNECTIONS',
  /** Internal invariant broken (a bug). */
  Internal: 'PSRT_INTERNAL',
  /** MQTT packet violates the wire format (v5 reason 0x81). */
  MqttMalformed: 'MQTT_MALFORMED',
  /** MQTT packet is well-formed but breaks a protocol rule (v5 reason 0x82, and kin). */
  MqttProtocolError: 'MQTT_PROTOCOL_ERROR',
  /** MQTT packet larger than the negotiated Maximum Packet Size (v5 reason 0x95). */
  MqttPacketTooLarge: 'MQTT_PACKET_TOO_LARGE',
  /** CONNECT names a protocol level the server does not speak (v5 reason 0x84). */
  MqttUnsupportedVersion: 'MQTT_UNSUPPORTED_VERSION',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Reference log kinds (SERVER.md §15): `<kind>: <message>`. */
const KIND_BY_CODE: Partial<Record<ErrorCode, string>> = {
  [ErrorCode.LoginFailed]: 'Access denied',
  [ErrorCode.NoAcl]: 'Access denied',
  [ErrorCode.AccessDenied]: 'Access denied',
  [ErrorCode.DataChannelDenied]: 'Access denied',
  [ErrorCode.TlsRequired]: 'I/O error',
  [ErrorCode.TlsNotConfigured]: 'I/O error',
  [ErrorCode.BadGreetingHeader]: 'I/O error',
  [ErrorCode.Io]: 'I/O error',
  [ErrorCode.Eof]: 'EOF',
  [ErrorCode.Timeout]: 'Timeout',
  [ErrorCode.Internal]: 'Internal error',
  [ErrorCode.Config]: 'Config error',
};

export class PsrtError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'PsrtError';
    this.code = code;
  }
  /** The reference's log rendering, e.g. `Invalid data: Frame too long (2000)`. */
  describe(): string {
    return `${this.kind}: ${this.message}`;
  }
  /** The reference's log kind, e.g. `Invalid data`, `Access denied`, `Timeout`. */
  get kind(): string {
    return KIND_BY_CODE[this.code] ?? 'Invalid data';
  }
}

export function isPsrtError(e: unknown): e is PsrtError {
  return e instanceof PsrtError;
}

export function psrtError(code: ErrorCode, message: string): PsrtError {
  return new PsrtError(code, message);
}
