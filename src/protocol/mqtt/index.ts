/**
 * Public API of the MQTT 3.1.1 / 5.0 codec (pure: no sockets, no session state); MQTT 3.1 is
 * version 4 with its own CONNECT and CONNACK (`MQTT31_LEVEL`, `encodeConnack31`).
 *
 * Choices the session layer relies on:
 * - `MqttDecoder` decodes both directions; the first CONNECT sets `version`, otherwise the
 *   caller sets it. A non-CONNECT packet while it is null is 0x82.
 * - Every refusal is an `MqttError` whose `reasonCode` is the v5 code to send (CONNACK for a bad
 *   CONNECT, else DISCONNECT; for 3.1.1 just close, or CONNACK `connackCodeFor311(0x84)` = 1 for
 *   an unsupported protocol level). After one, the decoder is dead and drops further input.
 * - Packet id 0 is refused (0x82) in every packet that carries one, acks included.
 * - Not checked here: topic filter syntax, client identifier rules, topic alias ranges, reason
 *   codes' validity per packet type, a second CONNECT — the session layer owns those.
 */
export type * from './packets.js';
export { MQTT31_LEVEL, PacketTypeCode } from './packets.js';
export * from './reason-codes.js';
export { MqttError, isMqttError } from './errors.js';
export { MqttDecoder, type MqttDecoderOptions } from './decoder.js';
export {
  DISCONNECT_311,
  PINGREQ,
  PINGRESP,
  encodeAck,
  encodeConnack,
  encodeConnack31,
  encodeDisconnect,
  encodePacket,
  encodePublish,
  encodeSuback,
  encodeUnsuback,
  plainPublishSize,
  publishPacketSize,
  writePlainPublish,
} from './encoder.js';
