/** MQTT codec errors: a PsrtError that also carries the v5 reason code the server should send. */
import { ErrorCode, PsrtError } from '../errors.js';
import { ReasonCode } from './reason-codes.js';

export class MqttError extends PsrtError {
  /** The v5 reason code for the DISCONNECT (or CONNACK, for a bad CONNECT) the server sends. */
  readonly reasonCode: number;
  constructor(reasonCode: number, message: string, options?: ErrorOptions) {
    super(errorCodeFor(reasonCode), message, options);
    this.name = 'MqttError';
    this.reasonCode = reasonCode;
  }
}

function errorCodeFor(reasonCode: number): ErrorCode {
  switch (reasonCode) {
    case ReasonCode.MalformedPacket:
      return ErrorCode.MqttMalformed;
    case ReasonCode.PacketTooLarge:
      return ErrorCode.MqttPacketTooLarge;
    case ReasonCode.UnsupportedProtocolVersion:
      return ErrorCode.MqttUnsupportedVersion;
    default:
      return ErrorCode.MqttProtocolError;
  }
}

export function isMqttError(e: unknown): e is MqttError {
  return e instanceof MqttError;
}

export function malformed(message: string): MqttError {
  return new MqttError(ReasonCode.MalformedPacket, message);
}

export function protocolError(message: string): MqttError {
  return new MqttError(ReasonCode.ProtocolError, message);
}
